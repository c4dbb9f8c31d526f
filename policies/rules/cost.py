"""Cost rules: node sizes and counts within the limits a stack sets; GPU pools only on purpose."""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from mlops_platform.components.config import DEFAULT_MAX_GPU_NODES, DEFAULT_MAX_NODES

from .base import Rule, dig, stack_resources

NODE_POOL_TYPES = (
    "aws:eks/nodeGroup:NodeGroup",
    "azure-native:containerservice:ManagedCluster",
    "azure-native:containerservice:AgentPool",
    "gcp:container/nodePool:NodePool",
)
GPU_INSTANCE = re.compile(r"^(g[0-9]+[a-z]*\.|p[0-9]+[a-z]*\.|Standard_N[CDVG]|a[23]-|g2-)", re.IGNORECASE)


def pools(args: Any) -> Iterator[tuple[Any, str, str, int]]:
    """(resource, pool name, instance type, maximum nodes) for every node pool in the stack."""
    clusters = {r.urn: r for r in stack_resources(args, "gcp:container/cluster:Cluster")}
    for resource in stack_resources(args, *NODE_POOL_TYPES):
        props = resource.props
        if resource.resource_type == "aws:eks/nodeGroup:NodeGroup":
            scaling = props.get("scalingConfig") or {}
            for instance in props.get("instanceTypes") or ["?"]:
                yield resource, resource.name, instance, int(scaling.get("maxSize") or scaling.get("desiredSize") or 0)
        elif resource.resource_type == "azure-native:containerservice:ManagedCluster":
            for pool in props.get("agentPoolProfiles") or []:
                yield resource, pool.get("name", "?"), pool.get("vmSize", "?"), int(pool.get("maxCount") or pool.get("count") or 0)
        elif resource.resource_type == "azure-native:containerservice:AgentPool":
            yield resource, resource.name, props.get("vmSize", "?"), int(props.get("maxCount") or props.get("count") or 0)
        else:
            cluster = next((clusters[d.urn] for d in (resource.property_dependencies or {}).get("cluster", []) if d.urn in clusters), None)
            zones = len(props.get("nodeLocations") or (cluster.props.get("nodeLocations") if cluster else None) or [0, 0, 0])
            per_zone = dig(props, "autoscaling", "maxNodeCount") or props.get("nodeCount") or 0
            yield resource, resource.name, dig(props, "nodeConfig", "machineType", default="?"), int(per_zone) * zones


def _is_gpu(resource: Any, instance: str) -> bool:
    return bool(GPU_INSTANCE.match(instance)) or bool(dig(resource.props, "nodeConfig", "guestAccelerators"))


def node_count(args: Any, config: Mapping[str, Any]) -> Iterator[Any]:
    limit = int(config.get("maxNodes", DEFAULT_MAX_NODES))
    found = list(pools(args))
    total = sum(n for *_, n in found)
    if total > limit:
        yield (f"node pools can grow to {total} nodes, above this stack's limit of {limit}", found[0][0].urn)


def instance_types(args: Any, config: Mapping[str, Any]) -> Iterator[Any]:
    allowed = list(config.get("allowedInstanceTypes") or [])
    if not allowed:
        return
    for resource, pool, instance, _ in pools(args):
        if instance not in allowed:
            yield (f"pool {pool} uses {instance}, not one of {', '.join(allowed)}", resource.urn)


def gpu_only_when_enabled(args: Any, config: Mapping[str, Any]) -> Iterator[Any]:
    enabled = bool(config.get("gpuEnabled", False))
    cap = int(config.get("maxGpuNodes", DEFAULT_MAX_GPU_NODES))
    for resource, pool, instance, maximum in pools(args):
        if not _is_gpu(resource, instance):
            continue
        if not enabled:
            yield (f"pool {pool} uses GPU instances ({instance}) but cluster.gpu.enabled is false", resource.urn)
        elif maximum > cap:
            yield (f"GPU pool {pool} can grow to {maximum} nodes, above the limit of {cap}", resource.urn)


_LIMITS: dict[str, dict[str, Any]] = {
    "maxNodes": {"type": "integer", "minimum": 1, "default": DEFAULT_MAX_NODES},
    "allowedInstanceTypes": {"type": "array", "items": {"type": "string"}, "default": []},
    "gpuEnabled": {"type": "boolean", "default": False},
    "maxGpuNodes": {"type": "integer", "minimum": 0, "default": DEFAULT_MAX_GPU_NODES},
}

RULES = [
    Rule("cost-node-count-within-limit", "cost", "Node pools cannot grow past the stack's node limit.",
         "Lower cluster.nodeCount / maxNodes, or raise platform:policy.limits.maxNodes deliberately.", node_count,
         config_schema={"maxNodes": _LIMITS["maxNodes"]}),
    Rule("cost-instance-type-allowed", "cost", "Node pools use only the instance types the stack allows (when it lists any).",
         "Use a listed type, or add it to platform:policy.limits.allowedInstanceTypes.", instance_types,
         config_schema={"allowedInstanceTypes": _LIMITS["allowedInstanceTypes"]}),
    Rule("cost-gpu-only-when-enabled", "cost", "GPU node pools exist only when the stack enables them, within a node cap.",
         "Set cluster.gpu.enabled: true (and platform:policy.limits.maxGpuNodes), or remove the GPU pool.",
         gpu_only_when_enabled, config_schema={"gpuEnabled": _LIMITS["gpuEnabled"], "maxGpuNodes": _LIMITS["maxGpuNodes"]}),
]
