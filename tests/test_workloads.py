"""Every container the platform controls: requests, a memory limit, a pinned image, non-root."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from conftest import planned, shipped_stacks
from mlops_platform.cli.offline.harness import ProgramRun
from mlops_platform.cli.offline.plan import CHART_REQUESTS, totals
from mlops_platform.components import versions

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


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_container_is_bounded_pinned_and_unprivileged(stack):
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


def test_every_chart_workload_declares_requests_and_a_memory_limit(local_run):
    counted = 0
    for record in local_run.helm_releases():
        counter = CHART_REQUESTS.get(record.input("chart"))
        if counter is None:
            continue
        for request in counter(record.input("values")):
            assert request.cpu_millicores > 0 and request.memory_mebibytes > 0, (record.input("name"), request)
            counted += 1
    assert counted >= 15


def test_local_stack_fits_a_laptop(local_run):
    result = totals(local_run, nodes=1)
    assert result.cpu_millicores <= 2000, f"{result.cpu_millicores}m CPU requested"
    assert result.memory_mebibytes <= 4096, f"{result.memory_mebibytes} MiB requested"
    names = {name for name, _, _ in result.workloads}
    assert {"prometheus", "grafana", "mlflow", "iris-drift", "iris-outlier", "iris-predictor", "traefik"} <= names
