"""The offline plan: what a stack would deploy, as a tree, a JSON document and resource totals."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from mlops_platform.components.addons import cert_manager, kserve, mlflow, models, monitoring, traefik
from mlops_platform.components.config import PlatformConfig, cpu_millicores, memory_mebibytes
from mlops_platform.components.requests import WorkloadRequest, pod_spec_requests, requests_of

from . import costs
from .harness import ProgramRun, plan_platform

# Where each chart's workloads declare their resources (see each addon's chart_requests).
CHART_REQUESTS: dict[str, Callable[[dict[str, Any]], list[WorkloadRequest]]] = {
    "cert-manager": cert_manager.chart_requests,
    "traefik": traefik.chart_requests,
    "kube-prometheus-stack": monitoring.chart_requests,
    "mlflow": mlflow.chart_requests,
    "oci://ghcr.io/kserve/charts/kserve-resources": kserve.chart_requests,
}
_WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}


@dataclass(frozen=True)
class Totals:
    cpu_millicores: int
    memory_mebibytes: float
    workloads: tuple[tuple[str, int, float], ...]  # (name, millicores, MiB) in total per workload

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu": f"{self.cpu_millicores}m",
            "cpuCores": round(self.cpu_millicores / 1000, 3),
            "memory": f"{round(self.memory_mebibytes)}Mi",
            "memoryGiB": round(self.memory_mebibytes / 1024, 3),
            "workloads": [
                {"name": n, "cpu": f"{c}m", "memory": f"{round(m)}Mi"} for n, c, m in self.workloads
            ],
        }


def workload_requests(run: ProgramRun) -> list[WorkloadRequest]:
    out: list[WorkloadRequest] = []
    for record in run.kubernetes_objects():
        kind = record.inputs.get("kind")
        name = (record.inputs.get("metadata") or {}).get("name", record.name)
        if kind in _WORKLOAD_KINDS:
            spec = record.inputs.get("spec") or {}
            pod = (spec.get("template") or {}).get("spec") or {}
            out.append(pod_spec_requests(name, pod, int(spec.get("replicas", 1)), per_node=kind == "DaemonSet"))
        elif kind == "InferenceService":
            predictor = (record.inputs.get("spec") or {}).get("predictor") or {}
            cpu, memory = requests_of((predictor.get("model") or {}).get("resources"))
            if predictor.get("logger"):
                cpu += cpu_millicores(models.LOGGER_REQUESTS["cpu"])
                memory += memory_mebibytes(models.LOGGER_REQUESTS["memory"])
            out.append(WorkloadRequest(f"{name}-predictor", int(predictor.get("minReplicas", 1)), cpu, memory))
    for record in run.helm_releases():
        counter = CHART_REQUESTS.get(str(record.inputs.get("chart")))
        if counter is not None:
            out.extend(counter(record.inputs.get("values") or {}))
    return out


def totals(run: ProgramRun, nodes: int) -> Totals:
    rows = []
    cpu_sum, mem_sum = 0, 0.0
    for request in workload_requests(run):
        cpu, memory = request.total(nodes)
        rows.append((request.name, cpu, memory))
        cpu_sum += cpu
        mem_sum += memory
    return Totals(cpu_sum, mem_sum, tuple(rows))


@dataclass
class Plan:
    config: PlatformConfig
    run: ProgramRun
    totals: Totals
    costs: list = field(default_factory=list)  # costs.CostLine, empty for local stacks
    rules: list = field(default_factory=list)  # names of the policy rules evaluated
    violations: list = field(default_factory=list)  # policies.offline.Violation

    def mandatory_violations(self) -> list:
        return [v for v in self.violations if v.level == "mandatory"]

    def summary(self) -> dict[str, Any]:
        kinds = Counter(r.type for r in self.run.resources)
        return {
            "resources": len(self.run.resources),
            "custom": sum(1 for r in self.run.resources if r.custom),
            "components": sum(1 for r in self.run.resources if not r.custom),
            "helmReleases": len(self.run.helm_releases()),
            "kubernetesObjects": len(self.run.kubernetes_objects()),
            "byType": dict(sorted(kinds.items())),
            "requests": self.totals.to_json(),
            **({"cost": costs.summary(self.costs)} if self.costs else {}),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.config.stack_name,
            "cloud": self.config.cloud,
            "resources": [r.to_json() for r in self.run.resources],
            "summary": self.summary(),
            "policies": {
                "enforcement": self.config.enforcement,
                "rules": self.rules,
                "violations": [v.to_json() for v in self.violations],
            },
        }


def build_plan(config: PlatformConfig) -> Plan:
    from mlops_platform.policies.offline import evaluate

    run = plan_platform(config)
    rules, violations = evaluate(run, config)
    return Plan(config, run, totals(run, config.cluster.node_count), costs.estimate(run, config), rules, violations)
