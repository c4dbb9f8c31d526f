"""The cluster as a plan sees it: each object the cluster receives and where it comes from.

    ClusterObject   one manifest: authored by the program, rendered from a Helm release, or
                    created at run time by a controller (planner/runtime_pods.py)
    ReleaseRender   what one Helm release renders
    ClusterView     all of it, for the footprint, the policies and `platform render`

planner/cluster_objects.py assembles a view from a program run; this module holds only the model,
so that the assembly and the controllers' models both import it (and not each other).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from mlops_platform.components import helm_hooks
from mlops_platform.components.versions import Chart

if TYPE_CHECKING:
    from .harness import ResourceRecord

# Kubernetes' conventional order at every level (an object's kind and metadata, an object's or a
# container's name, namespace and image first); the other keys sorted, so a diff of two renders
# shows changes, not reordering.
_FIRST = ("apiVersion", "kind", "metadata", "name", "namespace", "image")


class ManifestFields:
    """What every object's manifest says about it (the class has a `manifest` mapping)."""

    manifest: Mapping[str, Any]

    @property
    def api_version(self) -> str:
        return str(self.manifest.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.manifest.get("kind", ""))

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def name(self) -> str:
        return str((self.manifest.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str((self.manifest.get("metadata") or {}).get("namespace") or "")

    @property
    def type_token(self) -> str:
        """The Pulumi Kubernetes provider's type token (`kubernetes:apps/v1:Deployment`)."""
        return type_token(self.api_version, self.kind)


def type_token(api_version: str, kind: str) -> str:
    """The Pulumi Kubernetes provider's type token for an object (`kubernetes:apps/v1:Deployment`)."""
    group, _, version = api_version.rpartition("/")
    return f"kubernetes:{group or 'core'}/{version}:{kind}"


def conventional_order(value: Any) -> Any:
    """A copy of `value` with every mapping's keys in Kubernetes' conventional order."""
    if isinstance(value, dict):
        keys = [k for k in _FIRST if k in value] + sorted((k for k in value if k not in _FIRST), key=str)
        return {k: conventional_order(value[k]) for k in keys}
    if isinstance(value, list):
        return [conventional_order(item) for item in value]
    return value


def manifest(record: "ResourceRecord") -> dict[str, Any]:
    """The Kubernetes object a resource would apply, in conventional key order (a copy: callers
    may edit it, the run stays intact)."""
    return conventional_order(record.inputs)



@dataclass(frozen=True)
class ClusterObject(ManifestFields):
    manifest: Mapping[str, Any]
    origin: str  # "program", "release" or "runtime"
    urn: str  # the program's resource, or a URN below the release / custom resource it comes from
    owner: str  # the URN of the resource that puts it there (itself for program objects)
    release: str = ""
    source: str = ""  # template path, crds/ file, or the controller that creates it
    hooks: tuple[str, ...] = ()

    @property
    def is_test_hook(self) -> bool:
        return helm_hooks.is_test_hook(self.hooks)


@dataclass(frozen=True)
class ReleaseRender:
    release: str
    namespace: str
    chart: Chart
    urn: str
    objects: tuple[ClusterObject, ...]
    api_versions: tuple[str, ...]  # the custom API versions visible to its templates


@dataclass(frozen=True)
class MissingChart:
    release: str
    reference: str  # the chart the release names
    version: str
    path: Optional[Path]  # where the archive was looked for (None: not a pinned chart)


@dataclass(frozen=True)
class ClusterView:
    program: tuple[ClusterObject, ...]
    releases: tuple[ReleaseRender, ...]
    runtime: tuple[ClusterObject, ...] = ()
    missing: tuple[MissingChart, ...] = ()
    charts_dir: Optional[Path] = None

    @property
    def partial(self) -> bool:
        return bool(self.missing)

    def applied(self) -> list[ClusterObject]:
        """Everything the program and its releases apply, test hooks included."""
        return [*self.program, *(o for r in self.releases for o in r.objects)]

    def installed(self) -> list[ClusterObject]:
        """What an install creates: no Helm test hooks."""
        return [o for o in self.applied() if not o.is_test_hook]

    def rendered_count(self) -> int:
        return sum(len(r.objects) for r in self.releases)

    def to_json(self) -> dict[str, Any]:
        return {
            "partial": self.partial,
            "chartsDir": str(self.charts_dir) if self.charts_dir else None,
            "objects": {"program": len(self.program), "releases": self.rendered_count(), "runtime": len(self.runtime)},
            "releases": [
                {
                    "release": r.release,
                    "chart": r.chart.short_name,
                    "version": r.chart.version,
                    "namespace": r.namespace,
                    "objects": len(r.objects),
                    "hooks": sorted({h for o in r.objects for h in o.hooks}),
                    "customResourceDefinitions": sum(1 for o in r.objects if o.kind == "CustomResourceDefinition"),
                }
                for r in self.releases
            ],
            "missing": [
                {"release": m.release, "chart": m.reference, "version": m.version, "path": str(m.path) if m.path else None}
                for m in self.missing
            ],
        }


def child_urn(owner_urn: str, token: str, name: str) -> str:
    """A URN for an object a resource creates, below that resource's own type chain."""
    prefix, _, _ = owner_urn.rpartition("::")
    return f"{prefix}${token}::{name}"
