"""What every cluster component yields, whatever the cloud, so the addons deploy unchanged.

The contract of a cluster component (kind.py, eks.py, aks.py, gke.py), the same for each:
- `args_from(config)` builds its typed, frozen arguments from the stack's configuration;
- `outputs` is a ClusterOutputs, whose `network` is that cloud's own record (what its data layer
  needs from the cluster: a VPC and its subnets, a resource group, a network's id);
- `register_outputs` registers exactly `CLUSTER_OUTPUT_KEYS`, the ClusterOutputs fields of the same names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence, Union

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube


@dataclass(frozen=True)
class IngressExposure:
    """How Traefik is reached from outside the cluster."""

    service_type: str  # "NodePort" on kind, "LoadBalancer" on the clouds
    service_annotations: Mapping[str, str] = field(default_factory=dict)
    node_ports: Optional[tuple[int, int]] = None  # (http, https) when service_type is NodePort
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping[str, Any], ...] = ()
    load_balancer_source_ranges: tuple[str, ...] = ()
    # What makes the cloud's load balancer internal (reachable from its network only), for
    # `platform:ingress.internal`.
    internal_annotations: Mapping[str, str] = field(default_factory=dict)


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
class ManagedClusterArgs:
    """What every managed cluster (EKS, AKS, GKE) is asked for, under the same names on each cloud:
    `region` is an AWS or GCP region and an Azure location, `instance_type` an EC2 instance type, an
    Azure VM size or a GCE machine type, `tags` AWS and Azure tags and GCP labels."""

    cluster_name: str
    region: str
    kubernetes_version: str
    node_count: int
    max_nodes: int
    instance_type: str
    disk_size_gb: int
    api_allowed_cidrs: tuple[str, ...]
    private_endpoint: bool
    protect: bool
    gpu: GpuPool = GpuPool()
    tags: Mapping[str, str] = field(default_factory=dict)

    @staticmethod
    def common(config: Any) -> dict[str, Any]:  # config: PlatformConfig
        """The fields every cloud fills the same way from a stack's configuration."""
        from .. import names

        cluster = config.cluster
        return {
            "cluster_name": names.cluster_name(config.env),
            "region": str(config.region),
            "kubernetes_version": cluster.kubernetes_version,
            "node_count": cluster.node_count,
            "max_nodes": cluster.max_nodes or cluster.node_count,
            "instance_type": config.instance_type,
            "disk_size_gb": cluster.disk_size_gb,
            "api_allowed_cidrs": tuple(str(c) for c in cluster.api_allowed_cidrs),
            "private_endpoint": cluster.private_endpoint,
            "protect": config.protected,
            "gpu": GpuPool.from_config(config),
            "tags": config.resource_tags(),
        }


def audit_log_days(long: bool) -> int:
    """How long a cluster's audit logs (control plane, flow logs) are kept: 90 days for a protected
    (prod) stack, 30 otherwise."""
    return 90 if long else 30


# --- each cloud's network record: what its data layer needs from the cluster ----------------------


@dataclass(frozen=True)
class LocalNetwork:
    """kind: the data layer runs inside the cluster and needs nothing more."""


@dataclass(frozen=True)
class AwsNetwork:
    provider: Any  # the aws.Provider of the stack (region, default tags)
    region: str
    vpc_id: pulumi.Output[str]
    vpc_cidr: str
    private_subnet_ids: Sequence[pulumi.Output[str]]
    cluster_security_group_id: pulumi.Output[str]
    oidc_provider_arn: pulumi.Output[str]
    oidc_issuer: pulumi.Output[str]  # without https://, as IRSA trust conditions name it
    # Where pods reach the cloud's own services over HTTPS (the store, the token service): egress.py.
    https_ranges: pulumi.Output[list[str]]


@dataclass(frozen=True)
class AzureNetwork:
    provider: Any  # the azure_native.Provider of the stack (subscription, location)
    region: str  # the Azure location
    resource_group_name: pulumi.Output[str]
    vnet_id: pulumi.Output[str]
    node_subnet_id: pulumi.Output[str]  # where the pods' traffic comes from (the store's network rule)
    database_subnet_id: pulumi.Output[str]
    database_cidr: str  # the delegated subnet the Flexible Server's private address is in
    oidc_issuer: pulumi.Output[str]
    tenant_id: pulumi.Output[str]
    subscription_id: pulumi.Output[str]
    log_workspace_id: pulumi.Output[str]  # the stack's Log Analytics workspace (its audit trail)
    https_ranges: pulumi.Output[list[str]]  # as AwsNetwork's
    key_vault: Any = None  # the stack's Key Vault (prod: customer-managed keys, components/azure_keys.py)


@dataclass(frozen=True)
class GcpNetwork:
    provider: Any  # the gcp.Provider of the stack (project, region, default labels)
    region: str
    project: str
    network_id: pulumi.Output[str]
    workload_pool: str  # <project>.svc.id.goog
    https_ranges: pulumi.Output[list[str]]  # as AwsNetwork's


Network = Union[LocalNetwork, AwsNetwork, AzureNetwork, GcpNetwork]
CLUSTER_OUTPUT_KEYS = ("name", "endpoint", "kubeconfig")


@dataclass(frozen=True)
class ClusterOutputs:
    cloud: str
    name: pulumi.Output[str]
    endpoint: pulumi.Output[str]  # the API server
    # Built from the cluster's own outputs (never from the ambient kube context); a secret.
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    storage_class: str
    ingress: IngressExposure
    node_count: int
    network: Network = LocalNetwork()
    # Resources that must exist before workloads are scheduled (node pools, CSI driver, ...).
    ready: tuple[pulumi.Resource, ...] = ()

    def registered(self) -> dict[str, Any]:
        """What a cluster component registers as its outputs (CLUSTER_OUTPUT_KEYS)."""
        return {key: getattr(self, key) for key in CLUSTER_OUTPUT_KEYS}


def kubernetes_provider(resource_name: str, kubeconfig: pulumi.Input[str], parent: pulumi.Resource,
                        depends_on: Sequence[pulumi.Resource], delete_unreachable: bool = False) -> k8s.Provider:
    """The one Kubernetes provider of a cluster, from the cluster's own kubeconfig, with the platform's
    client rate limits (components/k8s.py). Every Kubernetes resource of the stack uses it."""
    extra: dict[str, Any] = {"delete_unreachable": True} if delete_unreachable else {}
    return k8s.Provider(
        resource_name,
        kubeconfig=kubeconfig,
        kube_client_settings=kube.client_settings_args(),
        **extra,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )
