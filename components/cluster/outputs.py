"""What every cluster component yields, whatever the cloud, so the addons deploy unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class IngressExposure:
    """How Traefik is reached from outside the cluster."""

    service_type: str  # "NodePort" on kind, "LoadBalancer" on the clouds
    service_annotations: Mapping[str, str] = field(default_factory=dict)
    node_ports: Optional[tuple[int, int]] = None  # (http, https) when service_type is NodePort
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    load_balancer_source_ranges: tuple[str, ...] = ()


@dataclass(frozen=True)
class GpuPool:
    """The optional GPU node pool, described the same way for every cloud (tainted, min 0)."""

    enabled: bool = False
    instance_type: str = ""
    node_count: int = 0
    max_nodes: int = 1

    @staticmethod
    def from_config(config: Any) -> "GpuPool":  # config: PlatformConfig
        gpu = config.cluster.gpu
        return GpuPool(gpu.enabled, config.gpu_instance_type, gpu.node_count, gpu.max_nodes or max(gpu.node_count, 1))


@dataclass(frozen=True)
class ClusterOutputs:
    cloud: str
    name: pulumi.Output[str]
    # Built from the cluster's own outputs (never from the ambient kube context); a secret.
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    storage_class: str
    ingress: IngressExposure
    node_count: int
    # Cloud handles the data layer needs (VPC and subnets, OIDC issuer, resource group, ...).
    network: Mapping[str, Any] = field(default_factory=dict)
    # Resources that must exist before workloads are scheduled (node pools, CSI driver, ...).
    ready: tuple[pulumi.Resource, ...] = ()
