"""The offline plan: what a stack would deploy, as a tree, a JSON document and resource totals."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from mlops_platform.components.addons import cert_manager, kserve, mlflow, monitoring, traefik
from mlops_platform.components.config import PlatformConfig
from mlops_platform.components.requests import WorkloadRequest, limit_range_defaults, pod_spec_requests

from . import charts, costs
from .cluster_model import ClusterObject, ClusterView
from .cluster_objects import assemble
from .critical_path import PARALLEL_LEVELS, CriticalPath, critical_path, schedule
from .guards import GuardState, guard_states
from .harness import ProgramRun, plan_platform
from .recovery import recovery
from .upgrade import deployment_record

# Where each chart's workloads declare their resources in the values (see each addon's
# chart_requests): the estimate used only for a release whose chart is not in the cache.
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
    workloads: tuple[tuple[str, int, float], ...]  # (name, millicores, MiB) in total per workload, by name
    complete: bool = True  # False when a chart was not rendered (its values were counted instead)

    def to_json(self) -> dict[str, Any]:
        return {
            "cpu": f"{self.cpu_millicores}m",
            "cpuCores": round(self.cpu_millicores / 1000, 3),
            "memory": f"{round(self.memory_mebibytes)}Mi",
            "memoryGiB": round(self.memory_mebibytes / 1024, 3),
            "complete": self.complete,
            "workloads": [
                {"name": n, "cpu": f"{c}m", "memory": f"{round(m)}Mi"} for n, c, m in self.workloads
            ],
        }


def _steady_workloads(view: ClusterView) -> list[ClusterObject]:
    """What keeps running: workloads the program and the releases apply (hooks run and finish), and
    the pods controllers create."""
    releases = [o for r in view.releases for o in r.objects if not o.hooks]
    return [o for o in (*view.program, *releases, *view.runtime) if o.kind in _WORKLOAD_KINDS]


def workload_requests(run: ProgramRun, view: ClusterView) -> list[WorkloadRequest]:
    out: list[WorkloadRequest] = []
    defaults = limit_range_defaults(o.manifest for o in view.installed())
    for obj in _steady_workloads(view):
        spec = obj.manifest.get("spec") or {}
        pod = (spec.get("template") or {}).get("spec") or {}
        replicas = int(spec["replicas"]) if spec.get("replicas") is not None else 1
        name = f"{obj.namespace}/{obj.name}" if obj.namespace else obj.name
        out.append(pod_spec_requests(name, pod, replicas, obj.kind == "DaemonSet", defaults.get(obj.namespace, {})))
    # An InferenceService whose predictor was not modelled (KServe's chart not rendered) still
    # counts with what it declares itself: its model container.
    modelled = {o.owner for o in view.runtime}
    for obj in view.program:
        if obj.kind == "InferenceService" and obj.urn not in modelled:
            predictor = (obj.manifest.get("spec") or {}).get("predictor") or {}
            model = predictor.get("model") or {}
            out.append(pod_spec_requests(f"{obj.namespace}/{obj.name}-predictor", {"containers": [model]},
                                         int(predictor.get("minReplicas") or 1)))
    unrendered = {m.release for m in view.missing}
    for record in run.helm_releases():
        chart = charts.by_reference(str(record.input("chart")))
        counter = CHART_REQUESTS.get(chart.chart_ref) if chart is not None else None
        if counter is not None and str(record.input("name")) in unrendered:
            out.extend(counter(record.inputs.get("values") or {}))
    return sorted(out, key=lambda w: w.name)


def totals(run: ProgramRun, view: ClusterView, nodes: int) -> Totals:
    rows = []
    cpu_sum, mem_sum = 0, 0.0
    for request in workload_requests(run, view):
        cpu, memory = request.total(nodes)
        rows.append((request.name, cpu, memory))
        cpu_sum += cpu
        mem_sum += memory
    return Totals(cpu_sum, mem_sum, tuple(rows), complete=not view.partial)


@dataclass
class Plan:
    config: PlatformConfig
    run: ProgramRun
    view: ClusterView
    totals: Totals
    critical: CriticalPath = field(default_factory=lambda: CriticalPath(()))
    costs: list = field(default_factory=list)  # costs.CostLine, empty for local stacks
    rules: list = field(default_factory=list)  # names of the policy rules evaluated
    violations: list = field(default_factory=list)  # policies.offline.Violation
    usage: list = field(default_factory=list)  # costs.UsageRate: the log sinks' prices by volume

    def mandatory_violations(self) -> list:
        return [v for v in self.violations if v.level == "mandatory"]

    def guards(self) -> list[GuardState]:
        """The safeguards a reviewer asks about, as the policy pack found them in this plan."""
        return guard_states(self.config, self.rules, self.violations)

    def summary(self) -> dict[str, Any]:
        kinds = Counter(r.type for r in self.run.resources)
        return {
            "resources": len(self.run.resources),
            "custom": sum(1 for r in self.run.resources if r.custom),
            "components": sum(1 for r in self.run.resources if not r.custom),
            "helmReleases": len(self.run.helm_releases()),
            "kubernetesObjects": len(self.run.kubernetes_objects()),
            "byType": dict(sorted(kinds.items())),
            "cluster": self.view.to_json(),
            "requests": self.totals.to_json(),
            **({"cost": costs.summary(self.costs, self.config.cloud, self.config.region, self.usage)} if self.costs else {}),
        }

    def to_json(self) -> dict[str, Any]:
        from mlops_platform.components.config import placeholders

        return {
            "stack": self.config.stack_name,
            "cloud": self.config.cloud,
            "placeholders": [{"key": k, "value": v, "why": w} for k, v, w in placeholders(self.config)],
            "resources": [r.to_json() for r in self.run.resources],
            # What the deployment runs (a saved plan describes it: `platform upgrade --from`).
            "deployment": deployment_record(self.run, self.config),
            "summary": self.summary(),
            # What a restore would lose and take (planner/recovery.py).
            "recovery": recovery(self.config).to_json(),
            # The same for every machine (plans are compared in CI): the estimate with the engine
            # bounded at the parallelism levels `--parallel` defaults to (cli/engine/parallelism.py).
            "criticalPath": {**self.critical.to_json(),
                             "byParallel": {str(n): schedule(self.run, n) for n in PARALLEL_LEVELS}},
            "policies": {
                "enforcement": self.config.enforcement,
                "rules": self.rules,
                "violations": [v.to_json() for v in self.violations],
                "guards": [g.to_json() for g in self.guards()],
            },
        }


def build_plan(config: PlatformConfig, charts_folder: Optional[Path] = None,
               on_step: Callable[[str], None] = lambda step: None) -> Plan:
    """The program under mocks, every release rendered from the chart cache, the footprint and
    costs of what the cluster receives, and the policy pack's verdict on all of it. `on_step` hears
    each step as it starts (a few words), for a progress display."""
    from mlops_platform.policies.offline import evaluate

    on_step("running the program under mocks")
    run = plan_platform(config)
    view = assemble(run, config.cluster.kubernetes_version, charts_folder, on_step)
    on_step(f"checking {view.rendered_count() + len(view.program)} objects against the policies")
    rules, violations = evaluate(run, config, view)
    return Plan(config, run, view, totals(run, view, config.cluster.node_count), critical_path(run),
                costs.estimate(run, config), rules, violations, costs.usage_rates(run, config))
