"""CPU and memory requests of what the platform runs, as the scheduler counts them.

`platform plan` sums the pods of everything the cluster receives (what the program authors, what
each Helm release renders, what controllers create), each as admitted: with its namespace's
LimitRange defaults, and init containers counted the way the scheduler reserves for them. For a
release whose chart is not in the local cache, each addon module says where its chart's resources
live in the values (`chart_requests`) instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Union

from .nested import dig
from .quantities import mebibytes, millicores


@dataclass(frozen=True)
class WorkloadRequest:
    name: str
    replicas: int
    cpu_millicores: int  # per replica
    memory_mebibytes: float  # per replica
    per_node: bool = False  # a DaemonSet: multiplied by the node count

    def total(self, nodes: int) -> tuple[int, float]:
        count = self.replicas * (nodes if self.per_node else 1)
        return self.cpu_millicores * count, self.memory_mebibytes * count


def requests_of(resources: Any) -> tuple[int, float]:
    """(millicores, MiB) of a Kubernetes `resources` block; missing requests count as zero.

    As the API server does, a container with a limit but no request is given the limit as its
    request."""
    resources = resources or {}
    requests = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    cpu = requests.get("cpu")
    memory = requests.get("memory")
    return (millicores(cpu) if cpu else 0, mebibytes(memory) if memory else 0.0)


def from_values(
    name: str,
    values: dict[str, Any],
    resources_path: tuple[str, ...],
    replicas: Union[int, tuple[str, ...]] = 1,
    per_node: bool = False,
) -> WorkloadRequest:
    count = replicas if isinstance(replicas, int) else int(dig(values, *replicas) or 1)
    cpu, memory = requests_of(dig(values, *resources_path))
    return WorkloadRequest(name, count, cpu, memory, per_node)


def limit_range_defaults(manifests: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per namespace, the container defaults its LimitRange applies at admission:
    {"limits": default, "requests": defaultRequest (which itself defaults to default)}.
    Ref: https://kubernetes.io/docs/concepts/policy/limit-range/
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for manifest in manifests:
        if manifest.get("kind") != "LimitRange":
            continue
        namespace = str((manifest.get("metadata") or {}).get("namespace") or "")
        for item in (manifest.get("spec") or {}).get("limits") or []:
            if item.get("type") == "Container":
                limits = dict(item.get("default") or {})
                out[namespace] = {"limits": limits, "requests": {**limits, **(item.get("defaultRequest") or {})}}
    return out


def with_limit_range(resources: Mapping[str, Any], defaults: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A container's resources as admitted: a missing request first takes the container's own limit
    (API defaulting), then the namespace's default request; a missing limit takes the default."""
    declared_limits = dict(resources.get("limits") or {})
    requests = {**(defaults.get("requests") or {}), **declared_limits, **(resources.get("requests") or {})}
    return {"requests": requests, "limits": {**(defaults.get("limits") or {}), **declared_limits}}


def pod_requests(pod_spec: dict[str, Any], defaults: Mapping[str, Mapping[str, Any]] = {}) -> tuple[int, float]:
    """What the scheduler reserves for one pod: the larger of its running containers (plus sidecar
    init containers) and its largest init container, per resource.
    Ref: https://kubernetes.io/docs/concepts/workloads/pods/init-containers/#resource-sharing-within-containers
    """
    cpu, memory = 0, 0.0
    sidecar_cpu, sidecar_memory = 0, 0.0
    init_cpu, init_memory = 0, 0.0
    for container in pod_spec.get("initContainers") or []:
        c, m = requests_of(with_limit_range(container.get("resources") or {}, defaults))
        if container.get("restartPolicy") == "Always":  # a native sidecar keeps running
            sidecar_cpu, sidecar_memory = sidecar_cpu + c, sidecar_memory + m
        else:
            init_cpu, init_memory = max(init_cpu, sidecar_cpu + c), max(init_memory, sidecar_memory + m)
    for container in pod_spec.get("containers") or []:
        c, m = requests_of(with_limit_range(container.get("resources") or {}, defaults))
        cpu, memory = cpu + c, memory + m
    return max(cpu + sidecar_cpu, init_cpu), max(memory + sidecar_memory, init_memory)


def pod_spec_requests(name: str, pod_spec: dict[str, Any], replicas: int, per_node: bool = False,
                      defaults: Mapping[str, Mapping[str, Any]] = {}) -> WorkloadRequest:
    cpu, memory = pod_requests(pod_spec, defaults)
    return WorkloadRequest(name, replicas, cpu, memory, per_node)
