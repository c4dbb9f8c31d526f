"""CPU and memory requests of what the platform runs, computed from what it declares.

Workloads we author carry their requests in their pod specs; for Helm charts each addon module
says where its chart's resources live in the values (`chart_requests`). `platform plan` sums both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Union

from .config import cpu_millicores, memory_mebibytes


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


def _dig(values: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(values, dict):
            return None
        values = values.get(key)
    return values


def requests_of(resources: Any) -> tuple[int, float]:
    """(millicores, MiB) of a Kubernetes `resources` block; missing requests count as zero."""
    requests = (resources or {}).get("requests") or {}
    cpu = requests.get("cpu")
    memory = requests.get("memory")
    return (cpu_millicores(str(cpu)) if cpu else 0, memory_mebibytes(str(memory)) if memory else 0.0)


def from_values(
    name: str,
    values: dict[str, Any],
    resources_path: tuple[str, ...],
    replicas: Union[int, tuple[str, ...]] = 1,
    per_node: bool = False,
) -> WorkloadRequest:
    count = replicas if isinstance(replicas, int) else int(_dig(values, replicas) or 1)
    cpu, memory = requests_of(_dig(values, resources_path))
    return WorkloadRequest(name, count, cpu, memory, per_node)


def pod_spec_requests(name: str, pod_spec: dict[str, Any], replicas: int, per_node: bool = False) -> WorkloadRequest:
    """Steady-state requests of a pod spec: its containers (init containers have finished)."""
    cpu = 0
    memory = 0.0
    for container in pod_spec.get("containers") or []:
        c, m = requests_of(container.get("resources"))
        cpu += c
        memory += m
    return WorkloadRequest(name, replicas, cpu, memory, per_node)
