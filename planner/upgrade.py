"""`platform upgrade`: what moving a deployment (a saved plan) to this version of the platform does.

Each release is rendered for real at both versions, with the values each side passes (the saved
plan's Release inputs, and this version's program), and compared object by object. The findings
(upgrade_checks.py) say what would break a live upgrade or hurt after it. The Kubernetes minor may
move by one at most: the control plane upgrades one minor at a time, and node pools follow it.
Ref: https://kubernetes.io/releases/version-skew-policy/
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from mlops_platform.components import deployment, names, versions
from mlops_platform.components.config import PlatformConfig

from . import chart_render, charts
from .chart_render import RenderedObject
from .cluster_objects import BUILTIN_API_VERSIONS, release_order
from .harness import ProgramRun
from .kube_apis import minor_key
from .upgrade_checks import (
    Finding,
    api_findings,
    changed_defaults,
    changed_paths,
    crd_changes,
    dead_values,
    image_changes,
    immutable_changes,
    object_id,
)

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
MAX_FIELDS = 40  # changed fields listed per object in --json


class UpgradeError(Exception):
    """The upgrade cannot be assessed or is refused before anything runs; one line (exit 2)."""


@dataclass(frozen=True)
class ReleaseSide:
    name: str
    chart: str
    version: str
    namespace: str
    values: Mapping[str, Any]


@dataclass
class ReleaseChange:
    name: str
    chart: str
    from_version: Optional[str]
    to_version: Optional[str]
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "chart": self.chart, "from": self.from_version, "to": self.to_version,
                "added": self.added, "removed": self.removed,
                "changed": [{"object": k, "fields": v[:MAX_FIELDS], "fieldCount": len(v)} for k, v in self.changed.items()]}


@dataclass
class Upgrade:
    stack: str
    kubernetes_from: str
    kubernetes_to: str
    releases: list[ReleaseChange]
    findings: list[Finding]

    @property
    def breaking(self) -> list[Finding]:
        return [f for f in self.findings if f.breaking]

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "kubernetes": {"from": self.kubernetes_from, "to": self.kubernetes_to},
                "releases": [r.to_json() for r in self.releases], "breaking": len(self.breaking),
                "findings": [f.to_json() for f in self.findings]}


def deployment_record(run: ProgramRun, config: PlatformConfig) -> dict[str, Any]:
    """The stack's `deployment` output (components/deployment.py) as the plan knows it."""
    return deployment.record(config.cluster.kubernetes_version, config.mlflow.enabled,
                             [(str(r.input("name")), str(r.input("chart")), str(r.input("version")), r.input("values"))
                              for r in run.helm_releases()])


def _side(inputs: Mapping[str, Any], fallback: str) -> ReleaseSide:
    # The chart by name: a release deploys the staged archive of its version (./.charts/<name>-<version>.tgz),
    # an older one named the chart; either way two versions of one chart compare as the same chart.
    pinned = charts.by_reference(str(inputs.get("chart")))
    chart = pinned.chart_ref if pinned is not None else str(inputs.get("chart"))
    return ReleaseSide(str(inputs.get("name") or fallback), chart, str(inputs.get("version")),
                       str(inputs.get("namespace")), dict(inputs.get("values") or {}))


def base_releases(document: Mapping[str, Any]) -> list[ReleaseSide]:
    """The releases of a saved plan, in its order (each after what it waits for)."""
    return [_side(r.get("inputs") or {}, str(r.get("name"))) for r in document.get("resources") or []
            if r.get("type") == RELEASE_TYPE]


def head_releases(run: ProgramRun) -> list[ReleaseSide]:
    return [_side(r.inputs, r.name) for r in release_order(run)]


def check_kubernetes(from_minor: str, to_minor: str) -> None:
    """One minor at a time, never down (version-skew policy), and not below what a pinned chart
    installs on; refused before anything renders or deploys."""
    start, end = minor_key(from_minor), minor_key(to_minor)
    below = sorted(chart for chart, floor in versions.CHART_KUBERNETES_FLOORS.items() if minor_key(floor) > end)
    if below:
        raise UpgradeError(f"Kubernetes {to_minor} is older than {', '.join(below)} installs on "
                           f"(versions.CHART_KUBERNETES_FLOORS); choose one of {', '.join(versions.KUBERNETES_MINORS)}")
    if end < start:
        raise UpgradeError(f"Kubernetes {from_minor} -> {to_minor} is a downgrade, which no managed cluster allows")
    if end[1] - start[1] > 1 or end[0] != start[0]:
        steps = [f"{start[0]}.{m}" for m in range(start[1] + 1, end[1] + 1)]
        raise UpgradeError(f"Kubernetes {from_minor} -> {to_minor} skips a minor: the control plane moves one at a time; "
                           f"set cluster.kubernetesVersion to {steps[0]}, up, then " + ", then ".join(steps[1:]))


def _archive(side: ReleaseSide, folder: Path) -> Path:
    chart = charts.by_reference(side.chart)
    if chart is None:
        raise UpgradeError(f"release {side.name}: chart {side.chart} is not one this platform installs")
    at = dataclasses.replace(chart, version=side.version)
    path = charts.archive_path(at, folder)
    if not path.is_file():
        raise UpgradeError(f"release {side.name}: {at.archive} is not in the chart cache {folder} (the deployed version "
                           "renders from it; helm pull it there)")
    return path


def _render_all(sides: list[ReleaseSide], minor: str, folder: Path,
                on_step: Callable[[str], None]) -> tuple[dict[str, tuple[Path, tuple[RenderedObject, ...]]], list[str]]:
    """Every release, in order, each seeing the CRDs of the releases before it; and the API versions
    all their CRDs serve."""
    out: dict[str, tuple[Path, tuple[RenderedObject, ...]]] = {}
    served: list[str] = []
    for side in sides:
        path = _archive(side, folder)
        on_step(f"rendering {path.name}")
        rendered = chart_render.render(path, side.values, side.name, side.namespace, chart_render.kube_version(minor),
                                       [*BUILTIN_API_VERSIONS, *served])
        served += [v for o in rendered if o.kind == "CustomResourceDefinition" for v in chart_render.served_versions(o.manifest)]
        out[side.name] = (path, rendered)
    return out, served


def _keyed(objects: tuple[RenderedObject, ...], namespace: str) -> dict[tuple[str, str, str, str], RenderedObject]:
    return {(o.group, o.kind, o.namespace or namespace, o.name): o for o in objects if not o.is_test_hook}


def _compare_release(old: ReleaseSide, new: ReleaseSide, old_render: tuple[Path, tuple[RenderedObject, ...]],
                     new_render: tuple[Path, tuple[RenderedObject, ...]], kube: tuple[str, str],
                     served: list[str]) -> tuple[ReleaseChange, list[Finding]]:
    before, after = _keyed(old_render[1], old.namespace), _keyed(new_render[1], new.namespace)
    change = ReleaseChange(new.name, new.chart, old.version, new.version)
    findings: list[Finding] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if a is None and b is not None:
            change.added.append(object_id(b.manifest))
        elif b is None and a is not None:
            change.removed.append(object_id(a.manifest))
            if a.kind == "CustomResourceDefinition" and not a.from_crds_folder:
                findings += crd_changes(new.name, a.manifest, None)
        elif a is not None and b is not None:
            paths = changed_paths(a.manifest, b.manifest)
            if not paths:
                continue
            change.changed[object_id(b.manifest)] = paths
            if a.kind == "CustomResourceDefinition":
                findings += crd_changes(new.name, a.manifest, b.manifest)
                if a.from_crds_folder:
                    findings.append(Finding("CRD_NOT_UPGRADED", new.name, object_id(b.manifest), "changes, but Helm never "
                                            "upgrades CRDs of a chart's crds/ folder", True, "apply the new CRDs first: "
                                            "kubectl apply --server-side --force-conflicts -f <chart>/crds (the chart's "
                                            "upgrade notes)"))
            elif not a.hooks and not b.hooks:
                findings += immutable_changes(new.name, a.manifest, b.manifest)
            findings += image_changes(new.name, a.manifest, b.manifest)
    findings += api_findings(new.name, [o.manifest for o in old_render[1]], [o.manifest for o in new_render[1]
                             if not o.is_test_hook], kube[0], kube[1], served)
    if old.chart == new.chart:
        old_defaults = chart_render.load_chart(old_render[0]).values or {}
        new_defaults = chart_render.load_chart(new_render[0]).values or {}
        findings += dead_values(new.name, old.values, old_defaults, new_defaults)
        findings += changed_defaults(new.name, new.values, old_defaults, new_defaults)
    return change, findings


def assess(base: Mapping[str, Any], run: ProgramRun, config: PlatformConfig, folder: Optional[Path] = None,
           on_step: Callable[[str], None] = lambda step: None) -> Upgrade:
    """The upgrade from the deployment `base` (a saved plan) to this version's plan of `config`."""
    folder = folder or charts.charts_dir()
    record = base.get("deployment") or {}
    kube_to = config.cluster.kubernetes_version
    kube_from = str(record.get("kubernetes") or kube_to)
    check_kubernetes(kube_from, kube_to)
    old_sides = {s.name: s for s in base_releases(base)}
    new_list = head_releases(run)
    old_renders, _ = _render_all(list(old_sides.values()), kube_from, folder, on_step)
    new_renders, release_crds = _render_all(new_list, kube_to, folder, on_step)
    served = [*BUILTIN_API_VERSIONS, *release_crds,
              *(v for r in run.kubernetes_objects() if r.input("kind") == "CustomResourceDefinition"
                for v in chart_render.served_versions(r.inputs))]
    result = Upgrade(config.stack_name, kube_from, kube_to, [], [])
    for new in new_list:
        old = old_sides.get(new.name)
        if old is None:
            result.releases.append(ReleaseChange(new.name, new.chart, None, new.version,
                                                 added=[object_id(o.manifest) for o in new_renders[new.name][1]]))
            continue
        change, findings = _compare_release(old, new, old_renders[new.name], new_renders[new.name], (kube_from, kube_to), served)
        result.releases.append(change)
        result.findings += findings
    kept = {s.name for s in new_list}
    for name, old in old_sides.items():
        if name not in kept:
            result.releases.append(ReleaseChange(name, old.chart, old.version, None,
                                                 removed=[object_id(o.manifest) for o in old_renders[name][1]]))
    result.findings += _one_way(record, config, old_sides, new_list)
    result.findings.sort(key=lambda f: (not f.breaking, f.release, f.code, f.subject))
    return result


def _one_way(record: Mapping[str, Any], config: PlatformConfig, old_sides: Mapping[str, ReleaseSide],
             new_sides: list[ReleaseSide]) -> list[Finding]:
    """The MLflow schema migration: forward only, and which revisions it runs."""
    if not config.mlflow.enabled or names.RELEASE_MLFLOW not in old_sides:
        return []  # a new MLflow creates its schema; there is nothing to migrate
    schema_from = record.get("mlflowSchema")
    new = next((s for s in new_sides if s.name == names.RELEASE_MLFLOW), None)
    unrecorded_same = schema_from is None and new is not None and new.version == old_sides[names.RELEASE_MLFLOW].version
    if schema_from == versions.MLFLOW_SCHEMA_REVISION or unrecorded_same:
        return []
    revisions = pending_migrations(schema_from)
    listed = ", ".join(f"{rev} ({message})" for rev, message in revisions)
    start = schema_from or "a revision the deployment did not record"
    return [Finding("ONE_WAY_MIGRATION", names.RELEASE_MLFLOW, "MLflow database",
                    f"mlflow db upgrade moves the schema from {start} to {versions.MLFLOW_SCHEMA_REVISION} before the new "
                    f"MLflow serves, running {listed}; there is no downgrade", False,
                    "up takes a backup first (platform backup); keep it until the upgraded MLflow is checked")]


def pending_migrations(schema_from: Optional[str]) -> list[tuple[str, str]]:
    """The migrations from `schema_from` to the pinned head, in order (all that this version knows
    when the start is older than the oldest shipped head, or not recorded)."""
    chain = [rev for rev, _ in versions.MLFLOW_MIGRATIONS]
    if schema_from in chain:
        return list(versions.MLFLOW_MIGRATIONS[chain.index(schema_from) + 1:])
    return list(versions.MLFLOW_MIGRATIONS)
