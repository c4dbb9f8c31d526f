"""Every image a stack's cluster runs, and where each comes from (`platform images list`).

Read from what the cluster receives (planner/cluster_objects.py): every container and init
container of every pod template the program and the charts apply, the pods controllers create at
run time with the images they inject (planner/runtime_pods.py: KServe's storage-initializer, agent
and model server, prometheus-operator's config reloader), and each enabled serving runtime (one
KServe may pick; a disabled one never runs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from mlops_platform.policies.rules.base import pod_specs

from .cluster_model import ClusterObject, ClusterView
from .runtime_pods import MODELLED_ANNOTATION


@dataclass
class Image:
    reference: str
    sources: set[str] = field(default_factory=set)  # "ours", "chart <release>", "runtime <name>", "injected by <controller>"
    used_by: list[str] = field(default_factory=list)  # "<Kind> <namespace>/<name> <container>"

    def to_json(self) -> dict[str, Any]:
        return {"image": self.reference, "sources": sorted(self.sources), "usedBy": self.used_by}


def _containers(obj: ClusterObject) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(source, container) of every container the object runs or, for an enabled serving runtime,
    may run: the pod specs the policy pack checks (policies/rules/base.py), but an InferenceService's
    pods are those KServe makes, modelled among the view's runtime objects."""
    if obj.kind == "InferenceService":
        return
    if obj.kind in ("ClusterServingRuntime", "ServingRuntime"):
        source = f"runtime {obj.name}"
    elif obj.origin == "runtime":
        controller = str((obj.manifest.get("metadata") or {}).get("annotations", {}).get(MODELLED_ANNOTATION, "")).rsplit(" by ", 1)[-1]
        source = f"injected by {controller or 'a controller'}"
    else:
        source = "ours" if obj.origin == "program" else f"chart {obj.release}"
    for pod in pod_specs(obj.type_token, obj.manifest, obj.name):
        for container in pod.containers:
            yield source, container


def inventory(view: ClusterView) -> tuple[list[Image], list[str]]:
    """(every image, sorted by reference; the containers whose image could not be told)."""
    found: dict[str, Image] = {}
    unknown: list[str] = []
    for obj in [*view.installed(), *view.runtime]:
        where = f"{obj.kind} {obj.namespace + '/' if obj.namespace else ''}{obj.name}"
        for source, container in _containers(obj):
            reference = str(container.get("image") or "")
            place = f"{where} {container.get('name', '')}".strip()
            if not reference:
                unknown.append(place)
                continue
            image = found.setdefault(reference, Image(reference))
            image.sources.add(source)
            image.used_by.append(place)
    return sorted(found.values(), key=lambda i: i.reference), unknown
