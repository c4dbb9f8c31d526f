"""AksCluster: a resource group, a VNet and an AKS cluster with secure defaults.

- Entra ID managed integration with Azure RBAC for Kubernetes authorization; local accounts
  disabled, so the only credentials are Entra ID tokens (kubelogin).
- OIDC issuer and Workload Identity on: workloads use user-assigned identities with federated
  credentials (components/data/azure.py), never stored keys.
- Azure CNI overlay with the Cilium dataplane enforcing NetworkPolicies.
- The API server limited to configured IP ranges, or a private cluster.
- An audit trail (components/cluster/azure_audit.py): the control plane's audit log and the VNet's
  flow log in a Log Analytics workspace.
- In prod, Secrets encrypted in etcd with a customer-managed key (KMS) from the stack's Key Vault
  (components/azure_keys.py), which only the control plane's own user-assigned identity may use.
- The system pool is the cluster's only inline pool; other pools (GPU) are separate AgentPool
  resources, because editing inline pool profiles has forced cluster replacement upstream, and
  an inline edit still puts every pool into Scaling.
  Ref: https://github.com/pulumi/pulumi-azure-native/issues/1808, #4264
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_azure_native as azure_native
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.containerservice as containerservice
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.network as network
import pulumi_azure_native.resources as resources

from .. import azure_keys, names, subnets
from ..config import PlatformConfig
from ..egress import ENTRA_RANGES
from . import kubeconfig
from .azure_audit import audit_trail
from .outputs import AzureNetwork, ClusterOutputs, IngressExposure, ManagedClusterArgs, kubernetes_provider

STORAGE_CLASS = "managed-csi"  # AKS's built-in Azure Disk CSI class
# Built-in role "Azure Kubernetes Service RBAC Cluster Admin".
# Ref: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/containers
AKS_RBAC_CLUSTER_ADMIN = "b1ff04bb-8a4e-4dc4-8eb5-8693973ce19b"
# Built-in role "Network Contributor": a control plane with its own identity joins the node subnet
# (load balancers, node IPs) through it. Ref: https://learn.microsoft.com/azure/aks/use-managed-identity
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"
# A Standard public load balancer; with externalTrafficPolicy Local the Azure LB probes kube-proxy's
# health check node port, not Traefik's entrypoints.
INGRESS = IngressExposure(
    service_type="LoadBalancer",
    internal_annotations=names.INTERNAL_LOAD_BALANCER["azure"],
)


@dataclass(frozen=True)
class AksClusterArgs(ManagedClusterArgs):
    vnet_cidr: str = "10.50.0.0/16"
    paid_tier: bool = False  # the Standard tier (uptime SLA), in prod
    subscription_id: Optional[str] = None
    admin_group_object_ids: tuple[str, ...] = ()
    env: str = "dev"
    prod: bool = False  # the audit trail keeps every request (reads too) and for 90 days
    customer_keys: bool = False  # etcd under a key of the stack's Key Vault (prod)
    # The resource group `platform destroy --keep-data` kept with the storage account in it (its
    # id): imported, not created (cli/backup/keep.py).
    kept_resource_group: Optional[str] = None


class AksCluster(pulumi.ComponentResource):
    outputs: ClusterOutputs

    @staticmethod
    def args_from(config: PlatformConfig) -> AksClusterArgs:
        azure = config.azure_settings
        return AksClusterArgs(
            **ManagedClusterArgs.common(config),
            vnet_cidr=str(azure.vnet_cidr),
            paid_tier=config.is_prod,
            subscription_id=azure.subscription_id,
            admin_group_object_ids=azure.admin_group_object_ids,
            env=config.env,
            prod=config.is_prod,
            customer_keys=config.is_prod,
            kept_resource_group=names.resource_group_id(config.kept_data.bucket) if config.kept_data else None,
        )

    def __init__(self, name: str, args: AksClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:cluster:AksCluster", name, None, opts)
        self.azure = azure_native.Provider(
            f"{name}-azure", subscription_id=args.subscription_id, location=args.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(provider=self.azure))
        self._network(name, args)
        self.cluster = self._cluster(name, args, client)
        self.audit = audit_trail(name, args.env, args.region, self.resource_group.name, self.cluster, self.vnet,
                                 args.prod, args.protect, args.tags, self._opts, self.key_vault, client.subscription_id)
        ready: list[pulumi.Resource] = [self.cluster, *self._gpu_pool(name, args)]
        deployer_admin = self._deployer_admin(name, client)
        ready.append(deployer_admin)
        self.kubeconfig: pulumi.Output[str] = self._kubeconfig()
        self.k8s = kubernetes_provider(f"{name}-k8s", self.kubeconfig, self, [deployer_admin])
        self.outputs = ClusterOutputs(
            cloud="azure",
            name=self.cluster.name,
            endpoint=self.cluster.fqdn,
            kubeconfig=self.kubeconfig,
            provider=self.k8s,
            storage_class=STORAGE_CLASS,
            ingress=INGRESS,
            node_count=args.node_count,
            network=AzureNetwork(
                provider=self.azure,
                region=args.region,
                resource_group_name=self.resource_group.name,
                vnet_id=self.vnet.id,
                node_subnet_id=self.node_subnet.id,
                database_subnet_id=self.database_subnet.id,
                database_cidr=str(subnets.azure_subnets(ipaddress.IPv4Network(args.vnet_cidr)).database),
                oidc_issuer=self.cluster.oidc_issuer_profile.apply(lambda p: p["issuer_url"]),
                tenant_id=client.tenant_id,
                subscription_id=client.subscription_id,
                log_workspace_id=self.audit.workspace.id,
                # The VNet holds the storage account's private endpoint; Entra ID issues the workloads' tokens.
                https_ranges=pulumi.Output.from_input([args.vnet_cidr, *ENTRA_RANGES]),
                key_vault=self.key_vault,
            ),
            ready=tuple(ready),
        )
        self.register_outputs(self.outputs.registered())

    # --- pieces -----------------------------------------------------------------------------

    def _opts(self, *depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.azure, depends_on=list(depends_on), **extra)

    def _network(self, name: str, args: AksClusterArgs) -> None:
        """The resource group, the VNet, the node subnet and the database's delegated subnet."""
        child = self._opts
        self.resource_group = resources.ResourceGroup(
            f"{name}-rg", resource_group_name=names.azure_resource_group(args.env), location=args.region, tags=args.tags,
            opts=child(import_=args.kept_resource_group),
        )
        rg = self.resource_group.name
        carved = subnets.azure_subnets(ipaddress.IPv4Network(args.vnet_cidr))
        nodes_cidr, database_cidr = carved.nodes, carved.database
        self.vnet = network.VirtualNetwork(
            f"{name}-vnet",
            resource_group_name=rg,
            location=args.region,
            address_space={"address_prefixes": [args.vnet_cidr]},
            tags=args.tags,
            opts=child(ignore_changes=["subnets"]),  # subnets are their own resources below
        )
        self.node_subnet = network.Subnet(
            f"{name}-nodes-subnet",
            resource_group_name=rg,
            virtual_network_name=self.vnet.name,
            address_prefix=str(nodes_cidr),
            # The storage account admits this subnet only (components/data/azure.py): its traffic to
            # Storage goes over the service endpoint, which the account's network rule names.
            # Ref: https://learn.microsoft.com/azure/storage/common/storage-network-security#grant-access-from-a-virtual-network
            service_endpoints=[{"service": "Microsoft.Storage"}],
            opts=child(),
        )
        self.database_subnet = network.Subnet(
            f"{name}-database-subnet",
            resource_group_name=rg,
            virtual_network_name=self.vnet.name,
            address_prefix=str(database_cidr),
            delegations=[{"name": "postgres", "service_name": "Microsoft.DBforPostgreSQL/flexibleServers"}],
            opts=child(self.node_subnet),  # Azure serialises subnet writes within a VNet
        )

    def _etcd_key(self, name: str, args: AksClusterArgs, client: Any) -> Optional[tuple[dict, dict, list[pulumi.Resource]]]:
        """In prod: the stack's Key Vault, a key for etcd, and the control plane's own identity (AKS's
        system identity exists only once the cluster does, too late to be granted the key), allowed
        to use that key and to join the node subnet. Returns the cluster's identity, its KMS
        settings and the grants it waits for; None elsewhere."""
        self.key_vault: Optional[Any] = None
        if not args.customer_keys:
            return None
        rg, child = self.resource_group.name, self._opts
        self.key_vault = azure_keys.key_vault(name, args.env, rg, args.region, client.tenant_id, args.protect, child())
        etcd_key = azure_keys.key(f"{name}-etcd", "aks-etcd", self.key_vault, rg, args.protect, child())
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-control-plane-identity", resource_name_=f"{args.cluster_name}-control-plane", resource_group_name=rg,
            location=args.region, tags=args.tags, opts=child())
        grants = [
            azure_keys.grant(f"{name}-control-plane-key-user", identity.principal_id, azure_keys.CRYPTO_USER, etcd_key.id,
                             client.subscription_id, child()),
            azure_keys.grant(f"{name}-control-plane-subnet", identity.principal_id, NETWORK_CONTRIBUTOR, self.node_subnet.id,
                             client.subscription_id, child()),
        ]
        # The versioned key: AKS stays on it until the cluster names another (after a rotation, the
        # next `platform refresh` and `up`). Public: the vault takes Entra ID tokens only (RBAC).
        kms = {"enabled": True, "key_id": etcd_key.key_uri_with_version, "key_vault_network_access": "Public"}
        return {"type": "UserAssigned", "user_assigned_identities": [identity.id]}, kms, grants

    def _cluster(self, name: str, args: AksClusterArgs, client: Any) -> containerservice.ManagedCluster:
        """The cluster with its system pool (its only inline pool: see the module's notes)."""
        child = self._opts
        identity, kms, key_ready = self._etcd_key(name, args, client) or ({"type": "SystemAssigned"}, None, [])
        rg = self.resource_group.name
        system_pool = {
            "name": "system",
            "mode": "System",
            "type": "VirtualMachineScaleSets",
            "os_type": "Linux",
            "os_sku": "AzureLinux",
            "vm_size": args.instance_type,
            # AKS moves the control plane first, then this pool, in one update of the cluster.
            # Ref: https://learn.microsoft.com/azure/aks/upgrade-aks-cluster
            "orchestrator_version": args.kubernetes_version,
            "count": args.node_count,
            "enable_auto_scaling": args.max_nodes > args.node_count,
            "min_count": args.node_count if args.max_nodes > args.node_count else None,
            "max_count": args.max_nodes if args.max_nodes > args.node_count else None,
            "os_disk_size_gb": args.disk_size_gb,
            "os_disk_type": "Managed",
            "vnet_subnet_id": self.node_subnet.id,
            "enable_node_public_ip": False,
            "upgrade_settings": {"max_surge": "1"},
        }
        return containerservice.ManagedCluster(
            f"{name}-aks",
            resource_name_=args.cluster_name,
            resource_group_name=rg,
            location=args.region,
            dns_prefix=args.cluster_name,
            kubernetes_version=args.kubernetes_version,
            sku={"name": "Base", "tier": "Standard" if args.paid_tier else "Free"},
            identity=identity,
            enable_rbac=True,
            aad_profile={
                "managed": True,
                "enable_azure_rbac": True,
                "tenant_id": client.tenant_id,
                "admin_group_object_ids": list(args.admin_group_object_ids) or None,
            },
            disable_local_accounts=True,
            oidc_issuer_profile={"enabled": True},
            security_profile={"workload_identity": {"enabled": True}, "azure_key_vault_kms": kms},
            network_profile={
                "network_plugin": "azure",
                "network_plugin_mode": "overlay",
                "network_dataplane": "cilium",
                "network_policy": "cilium",
                "load_balancer_sku": "standard",
                "outbound_type": "loadBalancer",
            },
            api_server_access_profile={
                "enable_private_cluster": args.private_endpoint,
                "authorized_ip_ranges": None if args.private_endpoint else list(args.api_allowed_cidrs),
            },
            auto_upgrade_profile={"upgrade_channel": "patch", "node_os_upgrade_channel": "NodeImage"},
            agent_pool_profiles=[system_pool],
            tags=args.tags,
            opts=child(self.node_subnet, *key_ready),
        )

    def _gpu_pool(self, name: str, args: AksClusterArgs) -> list[pulumi.Resource]:
        """The optional GPU pool, a separate AgentPool (tainted, scaling from zero)."""
        child = self._opts
        rg = self.resource_group.name
        if args.gpu.enabled:
            self.gpu_pool = containerservice.AgentPool(
                f"{name}-gpu-pool",
                resource_group_name=rg,
                resource_name_=self.cluster.name,
                agent_pool_name="gpu",
                mode="User",
                # Read from the cluster: after the control plane has moved.
                orchestrator_version=self.cluster.kubernetes_version,
                os_type="Linux",
                os_sku="AzureLinux",
                vm_size=args.gpu.instance_type,
                count=args.gpu.node_count,
                enable_auto_scaling=True,
                min_count=0,
                max_count=args.gpu.max_nodes,
                vnet_subnet_id=self.node_subnet.id,
                node_taints=["nvidia.com/gpu=true:NoSchedule"],
                node_labels={"mlops.dev/pool": "gpu"},
                opts=child(self.cluster),
            )
            return [self.gpu_pool]
        return []

    def _deployer_admin(self, name: str, client: Any) -> authorization.RoleAssignment:
        # The deployer administers the cluster through Azure RBAC (local accounts are off).
        return authorization.RoleAssignment(
            f"{name}-deployer-admin",
            principal_id=client.object_id,
            role_definition_id=client.subscription_id.apply(
                lambda sub: f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{AKS_RBAC_CLUSTER_ADMIN}"
            ),
            scope=self.cluster.id,
            opts=self._opts(self.cluster),
        )

    def _kubeconfig(self) -> pulumi.Output[str]:
        """The user kubeconfig (Entra ID through kubelogin): the server and CA from AKS's credentials."""
        rg = self.resource_group.name
        credentials = containerservice.list_managed_cluster_user_credentials_output(
            resource_group_name=rg,
            resource_name=self.cluster.name,
            opts=pulumi.InvokeOutputOptions(provider=self.azure, depends_on=[self.cluster]),
        )
        server_ca = credentials.kubeconfigs.apply(
            lambda configs: kubeconfig.server_and_ca(base64.b64decode(configs[0]["value"]).decode())
        )
        return pulumi.Output.secret(
            kubeconfig.aks(self.cluster.name, server_ca.apply(lambda v: v[0]), server_ca.apply(lambda v: v[1]))
        )
