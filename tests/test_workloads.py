"""Every container the platform controls: requests, a memory limit, a pinned image, non-root."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator

import pytest

from mlops_platform.components import versions
from mlops_platform.components.requests import limit_range_defaults, pod_spec_requests
from mlops_platform.planner.charts import by_reference
from mlops_platform.planner.harness import ProgramRun
from mlops_platform.planner.plan import CHART_REQUESTS, _steady_workloads, totals
from support import SHIPPED_STACKS

PINNED = {image.ref for image in versions.IMAGES}


def pod_specs(run: ProgramRun) -> Iterator[tuple[str, dict[str, Any]]]:
    for record in run.kubernetes_objects():
        kind = record.input("kind")
        name = f"{kind}/{record.input('metadata', 'name')}"
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield name, record.input("spec", "template", "spec")
        elif kind == "InferenceService":
            predictor = dict(record.input("spec", "predictor"))
            model = dict(predictor.pop("model"))
            model.setdefault("name", "kserve-container")
            yield name, {**predictor, "containers": [model], "model_image_from_runtime": True}


def containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_container_is_bounded_pinned_and_unprivileged(stack, planned):
    run = planned(stack)
    specs = list(pod_specs(run))
    assert specs, "no workloads found"
    for name, pod in specs:
        assert pod.get("automountServiceAccountToken") is False, f"{name}: token automount must be off"
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(flag), f"{name}: {flag}"
        assert not any("hostPath" in v for v in pod.get("volumes") or []), f"{name}: hostPath volume"
        pod_ctx = pod.get("securityContext") or {}
        assert pod_ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault" or all(
            (c.get("securityContext") or {}).get("seccompProfile", {}).get("type") == "RuntimeDefault" for c in containers(pod)
        ), name
        for container in containers(pod):
            where = f"{name}/{container['name']}"
            if not pod.get("model_image_from_runtime"):
                assert container["image"] in PINNED, f"{where}: image {container['image']} not pinned in versions.py"
            resources = container.get("resources") or {}
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), f"{where}: requests"
            assert "memory" in resources.get("limits", {}), f"{where}: memory limit"
            ctx = container.get("securityContext") or {}
            assert ctx.get("allowPrivilegeEscalation") is False, f"{where}: privilege escalation"
            assert ctx.get("privileged") is False, f"{where}: privileged"
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], f"{where}: capabilities"
            assert ctx.get("runAsNonRoot") is True or pod_ctx.get("runAsNonRoot") is True, f"{where}: non-root"


def test_read_only_root_where_the_image_allows(local_run):
    writable = []
    for name, pod in pod_specs(local_run):
        for container in containers(pod):
            if not (container.get("securityContext") or {}).get("readOnlyRootFilesystem"):
                writable.append(f"{name}/{container['name']}")
    # KServe's model servers write caches beside the model; everything else is read-only.
    assert writable == ["InferenceService/iris/kserve-container"]


def test_images_are_never_latest():
    for image in versions.IMAGES:
        assert image.tag and image.tag != "latest", image


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_values_estimate_used_without_a_chart_matches_the_rendered_footprint(stack, planned, viewed):
    """When a chart is not in the cache, plan counts its workloads from the values we pass; that
    estimate must equal what the rendered chart (and the pods its operators create) requests."""
    run, view = planned(stack), viewed(stack)
    defaults = limit_range_defaults(o.manifest for o in view.installed())
    rendered: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for obj in _steady_workloads(view):
        spec = obj.manifest["spec"]
        request = pod_spec_requests(obj.name, spec["template"]["spec"], int(spec.get("replicas") or 1),
                                    obj.kind == "DaemonSet", defaults.get(obj.namespace, {}))
        cpu, memory = request.total(1)
        rendered[obj.release][0] += cpu
        rendered[obj.release][1] += memory
    compared = 0
    for record in run.helm_releases():
        counter = CHART_REQUESTS.get(by_reference(str(record.input("chart"))).chart_ref)
        if counter is None:
            continue
        estimate = [0, 0.0]
        for request in counter(record.input("values")):
            cpu, memory = request.total(1)
            estimate[0] += cpu
            estimate[1] += memory
        assert estimate == rendered[record.input("name")], record.input("name")
        compared += 1
    assert compared == 5


def test_local_stack_fits_a_laptop(local_run, local_view):
    result = totals(local_run, local_view, nodes=1)
    assert result.complete
    assert result.cpu_millicores <= 2000, f"{result.cpu_millicores}m CPU requested"
    assert result.memory_mebibytes <= 4096, f"{result.memory_mebibytes} MiB requested"
    names = {name for name, _, _ in result.workloads}
    assert {"monitoring/prometheus-kube-prometheus-stack-prometheus", "monitoring/kube-prometheus-stack-grafana",
            "mlflow/mlflow", "detectors/iris-drift", "detectors/iris-outlier", "models/iris-predictor",
            "traefik/traefik", "identity/dex", "identity/oauth2-proxy", "identity/oauth2-proxy-tokens"} <= names, names


def test_every_long_running_container_we_write_has_readiness_and_liveness_probes(local_run):
    checked = 0
    for record in local_run.kubernetes_objects():
        if record.input("kind") not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        for container in record.input("spec", "template", "spec", "containers"):
            where = f"{record.input('metadata', 'name')}/{container['name']}"
            assert container.get("readinessProbe"), f"{where}: no readiness probe"
            assert container.get("livenessProbe"), f"{where}: no liveness probe"
            checked += 1
    assert checked == 4  # seaweedfs, postgres, iris-drift, iris-outlier


def test_postgres_reads_its_password_from_a_file(local_run):
    postgres = next(r for r in local_run.kubernetes_objects()
                    if r.input("kind") == "Deployment" and r.input("metadata", "name") == "postgres")
    pod = postgres.input("spec", "template", "spec")
    container = pod["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert "POSTGRES_PASSWORD" not in env and not container.get("envFrom")
    mount = next(m for m in container["volumeMounts"] if m["name"] == "credentials")
    assert env["POSTGRES_PASSWORD_FILE"]["value"] == f"{mount['mountPath']}/password"
    volume = next(v for v in pod["volumes"] if v["name"] == "credentials")
    assert volume["secret"]["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"] == 70
