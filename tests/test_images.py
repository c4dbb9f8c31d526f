"""`platform images list` (planner/images.py): every container of every shipped stack's cluster, the
charts' and the pods controllers create included, has its image accounted for, and the injected
images are the ones upstream's controllers would inject (read from the rendered configuration)."""

from __future__ import annotations

import json

import pytest

from mlops_platform.components import versions
from mlops_platform.components.image_refs import parse
from mlops_platform.planner.images import inventory
from support import SHIPPED_STACKS
from support.cli import invoke


def pod_spec(manifest: dict) -> dict:
    """The pod template of a workload."""
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if manifest.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"):
        return (spec.get("template") or {}).get("spec") or {}
    return spec if manifest.get("kind") == "Pod" else {}


def _containers(view) -> list[tuple[str, str]]:
    """(where, image) of every container, walked here independently of planner/images.py."""
    out = []
    for obj in [*view.installed(), *view.runtime]:
        spec = obj.manifest.get("spec") or {}
        if obj.kind in ("ClusterServingRuntime", "ServingRuntime"):
            out += [(f"{obj.kind} {obj.name}", c.get("image", "")) for c in spec.get("containers") or [] if not spec.get("disabled")]
            continue
        pod = pod_spec(obj.manifest)
        out += [(f"{obj.kind} {obj.name}", c.get("image", "")) for key in ("initContainers", "containers")
                for c in pod.get(key) or []]
    return out


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_container_of_every_stack_has_its_image_listed(viewed, stack):
    view = viewed(stack)
    images, unknown = inventory(view)
    containers = _containers(view)
    assert unknown == [] and all(image for _, image in containers)
    assert sum(len(i.used_by) for i in images) == len(containers)
    assert {i.reference for i in images} == {image for _, image in containers}
    # Each controller's injected pods are there: prometheus-operator's and, with a model, KServe's.
    injected = {i.reference for i in images if any(s.startswith("injected by") for s in i.sources)}
    assert any(r.startswith("quay.io/prometheus-operator/prometheus-config-reloader:") for r in injected)


def tag_of(reference: str) -> str:
    return str(parse(reference).tag)


def test_the_injected_images_are_the_controllers_own(viewed):
    view = viewed("aws-dev")
    objects = view.installed()
    config = next(o for o in objects if o.kind == "ConfigMap" and o.name == "inferenceservice-config").manifest["data"]
    images = {i.reference: i for i in inventory(view)[0]}
    operator = next(c["image"] for o in objects if o.kind == "Deployment" and o.name.endswith("-operator")
                    for c in pod_spec(o.manifest)["containers"])
    reloader = next(r for r in images if "prometheus-config-reloader" in r)
    assert tag_of(reloader) == tag_of(operator), "the operator and its reloader are released together"
    assert images[reloader].used_by and all("config-reloader" in u for u in images[reloader].used_by)
    logger = json.loads(config["logger"])["image"]
    initializer = json.loads(config["storageInitializer"])["image"]
    kserve = versions.KSERVE_RESOURCES.version
    assert tag_of(logger) == kserve and tag_of(initializer) == kserve
    assert "Deployment models/iris-predictor agent" in images[logger].used_by
    assert "Deployment models/iris-predictor storage-initializer" in images[initializer].used_by
    # iris is a v1 sklearn model: of the runtimes auto-selecting sklearn, MLServer speaks v2 only, so
    # KServe picks its sklearn server.
    server = next(r for r, i in images.items() if "Deployment models/iris-predictor kserve-container" in i.used_by)
    assert server.split("@")[0] == f"kserve/sklearnserver:{kserve}" and "runtime kserve-sklearnserver" in images[server].sources


def test_images_list_json(project, charts_dir, monkeypatch):
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(charts_dir))
    result = invoke("images", "list", "--cloud", "local", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["partial"] is False and document["unknownImages"] == []
    sources = {s for i in document["images"] for s in i["sources"]}
    assert {"ours", "chart mlflow", "injected by kserve-controller", "injected by prometheus-operator"} <= sources
    # The runtimes the platform disables (components/addons/kserve.py) never run: vLLM's `latest` is not listed.
    assert "runtime kserve-vllmserver" not in sources and not any(i["image"].endswith(":latest") for i in document["images"])


def test_kserve_picks_the_named_runtime_else_the_highest_priority_enabled_one():
    from mlops_platform.planner.cluster_model import ClusterObject
    from mlops_platform.planner.runtime_pods import runtime_image

    def runtime(name: str, priority: int | None, disabled: bool = False, protocols: tuple[str, ...] = ("v1",),
                kind: str = "ClusterServingRuntime") -> ClusterObject:
        spec = {"disabled": disabled, "protocolVersions": list(protocols), "containers": [{"image": f"{name}:1"}],
                "supportedModelFormats": [{"name": "sklearn", "autoSelect": True,
                                           **({"priority": priority} if priority is not None else {})}]}
        return ClusterObject({"apiVersion": "serving.kserve.io/v1alpha1", "kind": kind,
                              "metadata": {"name": name}, "spec": spec}, "release", "urn", "urn")

    runtimes = [runtime("low", 1), runtime("high", 2), runtime("off", 9, disabled=True), runtime("v2only", 5, protocols=("v2",))]
    sklearn = {"modelFormat": {"name": "sklearn"}}
    assert runtime_image(runtimes, "model", sklearn) == "high:1"
    assert runtime_image(runtimes, "model", {**sklearn, "protocolVersion": "v2"}) == "v2only:1"
    assert runtime_image(runtimes, "model", {**sklearn, "runtime": "low"}) == "low:1"
    assert runtime_image(runtimes, "sklearn", {}) == "high:1", "a framework field names the format"
    assert runtime_image(runtimes, "model", {"modelFormat": {"name": "onnx"}}) == ""
    # A priority ranks before none; a namespace's runtime before every cluster one, whatever its priority.
    assert runtime_image([runtime("none", None), runtime("one", 0)], "model", sklearn) == "one:1"
    assert runtime_image([*runtimes, runtime("mine", None, kind="ServingRuntime")], "model", sklearn) == "mine:1"


def test_an_onnx_model_speaks_v2_so_that_kserve_finds_triton(charts_dir):
    """Triton, the only runtime auto-selecting onnx, declares v2 alone: a v1 predictor would find no
    runtime at all. Its metrics are scraped on Triton's own port."""
    from mlops_platform.components.config import PlatformConfig, read_stack_values
    from mlops_platform.planner.cluster_objects import assemble
    from mlops_platform.planner.harness import plan_platform
    from support import STACKS

    values = read_stack_values(STACKS / "Pulumi.local-dev.yaml")
    model = {"name": "digits", "format": "onnx", "storageUri": "s3://models/digits", "drift": {"enabled": False},
             "outlier": {"enabled": False}}
    config = PlatformConfig.from_values({**values, "models": [model]}, "variant", "local-dev")
    run = plan_platform(config)
    view = assemble(run, config.cluster.kubernetes_version, charts_dir)
    service = next(o for o in view.installed() if o.kind == "InferenceService" and o.name == "digits")
    assert service.manifest["spec"]["predictor"]["model"]["protocolVersion"] == "v2"
    images, unknown = inventory(view)
    server = next(i.reference for i in images if "Deployment models/digits-predictor kserve-container" in i.used_by)
    triton = next(o for o in view.installed() if o.kind == "ClusterServingRuntime" and o.name == "kserve-tritonserver")
    assert server == triton.manifest["spec"]["containers"][0]["image"] and unknown == []
    monitor = next(o for o in view.installed() if o.kind == "PodMonitor" and o.name == "digits-predictor")
    relabel = monitor.manifest["spec"]["podMetricsEndpoints"][0]["relabelings"][0]
    assert relabel["replacement"] == "$1:8002"


def test_runtimes_with_years_old_images_run_only_where_a_model_needs_them(local_view):
    """tensorflow/serving 2.6.2 and Triton 23.05: disabled in the shipped stacks (sklearn models),
    enabled by a model of their format (the onnx test above finds Triton picked)."""
    from mlops_platform.components.addons.kserve import runtime_values

    runtimes = {o.name: o for o in local_view.installed() if o.kind == "ClusterServingRuntime"}
    for name in ("kserve-tensorflow-serving", "kserve-tritonserver"):
        assert runtimes[name].manifest["spec"].get("disabled") is True, name
    references = {i.reference for i in inventory(local_view)[0]}
    assert not [r for r in references if "tensorflow/serving" in r or "tritonserver" in r]
    assert runtimes["kserve-sklearnserver"].manifest["spec"].get("disabled") is not True
    enabled = runtime_values(frozenset({"tensorflow"}))["kserve"]["servingruntime"]
    assert "disabled" not in enabled["tensorflow"] and enabled["tritonserver"] == {"disabled": True}
