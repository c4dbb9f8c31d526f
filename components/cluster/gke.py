"""GkeCluster: a VPC-native GKE cluster with secure defaults.

- A VPC and subnetwork with secondary ranges for pods and services, Private Google Access, and
  Cloud NAT (private nodes have no external IPs).
- The default node pool removed; private nodes; master authorized networks (or a private
  endpoint); Dataplane V2, which enforces NetworkPolicies; shielded nodes; the REGULAR release
  channel; Workload Identity; `deletion_protection` only in prod, so dev stacks can be destroyed.
- A node pool on a dedicated, least-privileged node service account with the GKE metadata
  server (pods see their Workload Identity, never the node's); an optional tainted GPU pool.
- In prod, Kubernetes Secrets encrypted at the application layer with a customer-managed Cloud KMS
  key (components/gcp_kms.py) that GKE's service agent alone may use.
- Google APIs at private.googleapis.com's range through a private DNS zone (gcp_private_access.py):
  the workloads' HTTPS egress is limited to it and `platform:egress.allow` (components/egress.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_gcp as gcp

from .. import names
from ..config import PlatformConfig
from ..gcp_kms import customer_key, service_agent
from . import kubeconfig
from .gcp_private_access import private_google_apis
from .outputs import ClusterOutputs, GcpNetwork, IngressExposure, ManagedClusterArgs, kubernetes_provider

STORAGE_CLASS = "standard-rwo"  # GKE's default pd-balanced CSI class
# Least privilege for nodes. Ref: https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster#use_least_privilege_sa
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)
# An internal passthrough Network Load Balancer.
INGRESS = IngressExposure(
    service_type="LoadBalancer",
    internal_annotations=names.INTERNAL_LOAD_BALANCER["gcp"],
)


@dataclass(frozen=True)
class GkeClusterArgs(ManagedClusterArgs):
    project: str = ""
    zones: tuple[str, ...] = ()
    network_cidr: str = "10.60.0.0/20"
    pods_cidr: str = "10.64.0.0/14"
    services_cidr: str = "10.68.0.0/20"
    master_cidr: str = "172.16.0.32/28"
    secrets_key: bool = False  # Secrets under a customer-managed key (prod)


class GkeCluster(pulumi.ComponentResource):
    outputs: ClusterOutputs

    @staticmethod
    def args_from(config: PlatformConfig) -> GkeClusterArgs:
        gcp_config = config.gcp
        assert gcp_config is not None  # PlatformConfig requires it for cloud gcp
        return GkeClusterArgs(
            **ManagedClusterArgs.common(config),
            project=gcp_config.project,
            zones=gcp_config.zones,
            network_cidr=str(gcp_config.network_cidr),
            pods_cidr=str(gcp_config.pods_cidr),
            services_cidr=str(gcp_config.services_cidr),
            master_cidr=str(gcp_config.master_cidr),
            secrets_key=config.is_prod,
        )

    def __init__(self, name: str, args: GkeClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:cluster:GkeCluster", name, None, opts)
        self.gcp = gcp.Provider(
            f"{name}-gcp", project=args.project, region=args.region, default_labels=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        nat = self._network(name, args)
        https_ranges = private_google_apis(name, self._opts, args.cluster_name, self.network)
        node_roles = self._node_identity(name, args)
        self.cluster = self._cluster(name, args)
        # Not on the control plane's path: the node pools wait for Cloud NAT and the node account's roles.
        self._node_prerequisites = [nat, *node_roles]
        ready = self._node_pools(name, args)
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            kubeconfig.gke(self.cluster.name, self.cluster.endpoint, self.cluster.master_auth.cluster_ca_certificate)
        )
        self.k8s = kubernetes_provider(f"{name}-k8s", self.kubeconfig, self, [self.cluster])
        self.outputs = ClusterOutputs(
            cloud="gcp",
            name=self.cluster.name,
            endpoint=self.cluster.endpoint,
            kubeconfig=self.kubeconfig,
            provider=self.k8s,
            storage_class=STORAGE_CLASS,
            ingress=INGRESS,
            node_count=args.node_count,
            network=GcpNetwork(provider=self.gcp, region=args.region, project=args.project, network_id=self.network.id,
                               workload_pool=f"{args.project}.svc.id.goog", https_ranges=https_ranges),
            ready=tuple(ready),
        )
        self.register_outputs(self.outputs.registered())

    # --- pieces -----------------------------------------------------------------------------

    def _opts(self, *depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.gcp, depends_on=list(depends_on), **extra)

    def _network(self, name: str, args: GkeClusterArgs) -> gcp.compute.RouterNat:
        """The VPC, the node subnetwork with its pods and services ranges, and Cloud NAT; returns the NAT."""
        child = self._opts
        self.network = gcp.compute.Network(
            f"{name}-vpc", name=f"{args.cluster_name}-vpc", auto_create_subnetworks=False, opts=child()
        )
        self.subnetwork = gcp.compute.Subnetwork(
            f"{name}-subnet",
            name=f"{args.cluster_name}-nodes",
            network=self.network.id,
            region=args.region,
            ip_cidr_range=args.network_cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                {"range_name": "pods", "ip_cidr_range": args.pods_cidr},
                {"range_name": "services", "ip_cidr_range": args.services_cidr},
            ],
            # VPC flow logs of the nodes' subnet, to Cloud Logging: a sample of every flow, with metadata.
            # Ref: https://cloud.google.com/vpc/docs/flow-logs
            log_config={"aggregation_interval": "INTERVAL_5_SEC", "flow_sampling": 0.5, "metadata": "INCLUDE_ALL_METADATA"},
            opts=child(),
        )
        router = gcp.compute.Router(f"{name}-router", name=f"{args.cluster_name}-router", network=self.network.id,
                                    region=args.region, opts=child())
        nat = gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{args.cluster_name}-nat",
            router=router.name,
            region=args.region,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config={"enable": True, "filter": "ERRORS_ONLY"},
            opts=child(),
        )

        return nat

    def _node_identity(self, name: str, args: GkeClusterArgs) -> list[gcp.projects.IAMMember]:
        """A least-privileged service account for the nodes; returns its role grants."""
        child = self._opts
        self.node_account = gcp.serviceaccount.Account(
            f"{name}-nodes-sa",
            account_id=f"{args.cluster_name}-nodes"[:30],
            display_name=f"GKE {args.cluster_name} nodes (least privilege)",
            opts=child(),
        )
        node_roles = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.split('/')[-1].replace('.', '-').lower()}",
                project=args.project,
                role=role,
                member=self.node_account.member,
                opts=child(),
            )
            for role in NODE_ROLES
        ]

        return node_roles

    def _secrets_key(self, name: str, args: GkeClusterArgs) -> tuple[Optional[dict[str, Any]], list[pulumi.Resource]]:
        """The cluster's databaseEncryption and what it waits for (the agent's right to the key)."""
        if not args.secrets_key:
            return None, []
        project = gcp.organizations.get_project_output(project_id=args.project, opts=pulumi.InvokeOptions(provider=self.gcp))
        # The ring sits in the cluster's region, as GKE requires.
        key, grant = customer_key(f"{name}-secrets", "gke-secrets", args.region,
                                  service_agent(project.number, "container-engine-robot.iam.gserviceaccount.com"),
                                  args.protect, self._opts())
        return {"state": "ENCRYPTED", "key_name": key.id}, [grant]

    def _cluster(self, name: str, args: GkeClusterArgs) -> gcp.container.Cluster:
        child = self._opts
        encryption, key_ready = self._secrets_key(name, args)
        return gcp.container.Cluster(
            f"{name}-gke",
            name=args.cluster_name,
            location=args.region,
            network=self.network.id,
            subnetwork=self.subnetwork.id,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy={"cluster_secondary_range_name": "pods", "services_secondary_range_name": "services"},
            remove_default_node_pool=True,
            initial_node_count=1,
            deletion_protection=args.protect,
            release_channel={"channel": "REGULAR"},
            # The stack's minor as the floor: the channel may move the control plane on, never below it
            # (its node pools auto-upgrade after it). Ref: https://cloud.google.com/kubernetes-engine/docs/concepts/release-channels
            min_master_version=args.kubernetes_version,
            private_cluster_config={
                "enable_private_nodes": True,
                "enable_private_endpoint": args.private_endpoint,
                "master_ipv4_cidr_block": args.master_cidr,
            },
            master_authorized_networks_config={
                "cidr_blocks": [{"cidr_block": c, "display_name": f"allowed-{i}"} for i, c in enumerate(args.api_allowed_cidrs)],
            },
            # Dataplane V2 (Cilium) enforces NetworkPolicy; the legacy Calico add-on must stay off.
            # Ref: https://cloud.google.com/kubernetes-engine/docs/concepts/dataplane-v2
            datapath_provider="ADVANCED_DATAPATH",
            enable_shielded_nodes=True,
            enable_legacy_abac=False,
            master_auth={"client_certificate_config": {"issue_client_certificate": False}},
            workload_identity_config={"workload_pool": f"{args.project}.svc.id.goog"},
            security_posture_config={"mode": "BASIC", "vulnerability_mode": "VULNERABILITY_DISABLED"},
            node_locations=list(args.zones) or None,
            resource_labels=args.tags,
            database_encryption=encryption,
            # Not after Cloud NAT or the node account's roles: the control plane needs neither (the
            # subnet has Private Google Access for the nodes' registration); the node pools do, for
            # images from public registries and for logging, so they wait for them.
            opts=child(*key_ready),
        )

    def _node_pools(self, name: str, args: GkeClusterArgs) -> list[pulumi.Resource]:
        zones_per_pool = len(args.zones) or 3  # GKE places a regional pool in three zones by default
        self.node_pool = self._pool(
            f"{name}-nodes", args, machine_type=args.instance_type,
            total=args.node_count, total_max=args.max_nodes, zones=zones_per_pool, taints=[],
            labels={"mlops.dev/pool": "general"}, accelerators=None,
        )
        ready: list[pulumi.Resource] = [self.node_pool]
        if args.gpu.enabled:
            self.gpu_pool = self._pool(
                f"{name}-gpu-nodes", args, machine_type=args.gpu.instance_type,
                total=args.gpu.node_count, total_max=args.gpu.max_nodes, zones=zones_per_pool,
                taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
                labels={"mlops.dev/pool": "gpu"},
                # g2 machine types carry one L4; GKE installs the driver.
                accelerators=[{"type": "nvidia-l4", "count": 1, "gpu_driver_installation_config": {"gpu_driver_version": "LATEST"}}],
            )
            ready.append(self.gpu_pool)
        return ready

    def _pool(self, resource_name: str, args: GkeClusterArgs, *,
              machine_type: str, total: int, total_max: int,
              zones: int, taints: list, labels: dict, accelerators: Optional[list]) -> gcp.container.NodePool:
        # nodeCount is a total for the cluster; GKE counts per zone.
        per_zone = math.ceil(total / zones) if total else 0
        per_zone_max = max(math.ceil(total_max / zones), per_zone, 1)
        node_config: dict[str, Any] = {
            "machine_type": machine_type,
            "disk_size_gb": args.disk_size_gb,
            "disk_type": "pd-balanced",
            "image_type": "COS_CONTAINERD",
            "service_account": self.node_account.email,
            "oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"],
            "workload_metadata_config": {"mode": "GKE_METADATA"},
            "shielded_instance_config": {"enable_secure_boot": True, "enable_integrity_monitoring": True},
            "metadata": {"disable-legacy-endpoints": "true"},
            "labels": labels,
            "taints": taints,
        }
        if accelerators:
            node_config["guest_accelerators"] = accelerators
        return gcp.container.NodePool(
            resource_name,
            cluster=self.cluster.id,
            location=args.region,
            node_count=per_zone,
            autoscaling={"min_node_count": 0 if taints else per_zone, "max_node_count": per_zone_max},
            management={"auto_repair": True, "auto_upgrade": True},
            node_config=node_config,
            opts=self._opts(self.cluster, *self._node_prerequisites),
        )
