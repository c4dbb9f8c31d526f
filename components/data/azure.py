"""AzureData: a storage account and container, PostgreSQL Flexible Server on private access, and
one user-assigned identity per workload with a federated credential for its service account.

- Storage: no public blob access, TLS 1.2 minimum, HTTPS only, shared-key access off (Entra ID
  only), blob versioning with soft delete.
- Postgres: VNet-integrated (delegated subnet, private DNS zone), public network access disabled,
  backups kept at least 7 days, zone-redundant HA when asked.
- Identities: Storage Blob Data Reader or Contributor on the account, federated with the AKS OIDC
  issuer for exactly `system:serviceaccount:<namespace>:<name>`.
- Prod stacks `protect` the storage account and the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.dbforpostgresql as postgresql
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.privatedns as privatedns
import pulumi_azure_native.storage as storage
import pulumi_random as random

from .. import names, versions
from ..cluster.outputs import ClusterOutputs
from ..config import PlatformConfig
from .outputs import Database, DatabaseSpec, DataOutputs, ObjectStore, WorkloadAccess

CONTAINER = "mlops-artifacts"
# Built-in roles. Ref: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
# Ref: https://azure.github.io/azure-workload-identity/docs/topics/service-account-labels-and-annotations.html
WI_AUDIENCE = "api://AzureADTokenExchange"
_SKU_TIER = {"Standard_B": "Burstable", "Standard_D": "GeneralPurpose", "Standard_E": "MemoryOptimized"}


@dataclass(frozen=True)
class AzureDataArgs:
    cluster: ClusterOutputs
    env: str
    database: DatabaseSpec
    protect: bool


def sku_tier(sku_name: str) -> str:
    return next((tier for prefix, tier in _SKU_TIER.items() if sku_name.startswith(prefix)), "GeneralPurpose")


class AzureData(pulumi.ComponentResource):
    outputs: DataOutputs

    @staticmethod
    def args_from(config: PlatformConfig, cluster: ClusterOutputs) -> AzureDataArgs:
        return AzureDataArgs(
            cluster=cluster,
            env=config.env,
            # Flexible Server storage comes in fixed sizes from 32 GiB.
            database=DatabaseSpec.from_config(config, min_storage_gb=32),
            protect=config.protected,
        )

    def __init__(self, name: str, args: AzureDataArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:data:AzureData", name, None, opts)
        net = args.cluster.network
        provider = net["azure_provider"]
        rg = net["resource_group_name"]
        location = net["location"]

        def child(*depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(depends_on), **extra)

        suffix = random.RandomString(
            f"{name}-suffix", length=8, special=False, upper=False, opts=pulumi.ResourceOptions(parent=self)
        )
        # --- storage -----------------------------------------------------------------------
        self.account = storage.StorageAccount(
            f"{name}-storage",
            # Storage account names are lower-case letters and digits only.
            account_name=suffix.result.apply(lambda s: f"mlops{args.env.replace('-', '')[:6]}{s}"[:24]),
            resource_group_name=rg,
            location=location,
            kind="StorageV2",
            sku={"name": "Standard_ZRS" if args.database.high_availability else "Standard_LRS"},
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            default_to_o_auth_authentication=True,
            opts=child(protect=args.protect),
        )
        storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=self.account.name,
            resource_group_name=rg,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy={"enabled": True, "days": 14},
            opts=child(),
        )
        self.container = storage.BlobContainer(
            f"{name}-artifacts",
            account_name=self.account.name,
            resource_group_name=rg,
            container_name=CONTAINER,
            public_access="None",
            opts=child(),
        )

        # --- database ----------------------------------------------------------------------
        dns_zone = privatedns.PrivateZone(
            f"{name}-postgres-dns",
            resource_group_name=rg,
            private_zone_name=f"mlops-{args.env}.private.postgres.database.azure.com",
            location="global",
            opts=child(),
        )
        dns_link = privatedns.VirtualNetworkLink(
            f"{name}-postgres-dns-link",
            resource_group_name=rg,
            private_zone_name=dns_zone.name,
            location="global",
            virtual_network={"id": net["vnet_id"]},
            registration_enabled=False,
            opts=child(),
        )
        password = random.RandomPassword(
            f"{name}-db-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.server = postgresql.Server(
            f"{name}-postgres",
            server_name=suffix.result.apply(lambda s: f"mlops-{args.env}-{s}"),
            resource_group_name=rg,
            location=location,
            version=versions.POSTGRES_MAJOR,
            sku={"name": args.database.instance_class, "tier": sku_tier(args.database.instance_class)},
            storage={"storage_size_gb": args.database.storage_gb, "auto_grow": "Enabled"},
            administrator_login=names.DATABASE_USER,
            administrator_login_password=password.result,
            network={
                "delegated_subnet_resource_id": net["database_subnet_id"],
                "private_dns_zone_arm_resource_id": dns_zone.id,
                "public_network_access": "Disabled",
            },
            backup={"backup_retention_days": args.database.backup_retention_days, "geo_redundant_backup": "Disabled"},
            high_availability={"mode": "ZoneRedundant" if args.database.high_availability else "Disabled"},
            # A real edge, kept on the critical path (planner/critical_path.py): a server with
            # private access is created into the zone only once the zone is linked to its VNet.
            # Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-networking-private
            # Ref: https://github.com/DFE-Digital/terraform-azurerm-container-apps-hosting/pull/216
            opts=child(dns_link, protect=args.protect),
        )
        database = postgresql.Database(
            f"{name}-mlflow-db",
            resource_group_name=rg,
            server_name=self.server.name,
            database_name=names.DATABASE_MLFLOW,
            charset="UTF8",
            collation="en_US.utf8",
            opts=child(),
        )

        # --- workload identities -----------------------------------------------------------
        access: dict[str, WorkloadAccess] = {}
        role_prefix = net["subscription_id"].apply(lambda sub: f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/")
        for workload in names.WORKLOADS:
            identity = managedidentity.UserAssignedIdentity(
                f"{name}-{workload.role}-identity",
                resource_name_=f"mlops-{args.env}-{workload.role}",
                resource_group_name=rg,
                location=location,
                opts=child(),
            )
            federated = managedidentity.FederatedIdentityCredential(
                f"{name}-{workload.role}-federation",
                resource_name_=identity.name,
                resource_group_name=rg,
                federated_identity_credential_resource_name=f"{workload.namespace}-{workload.service_account}",
                issuer=net["oidc_issuer"],
                subject=f"system:serviceaccount:{workload.namespace}:{workload.service_account}",
                audiences=[WI_AUDIENCE],
                opts=child(),
            )
            role = BLOB_DATA_CONTRIBUTOR if workload.access == "write" else BLOB_DATA_READER
            grant = authorization.RoleAssignment(
                f"{name}-{workload.role}-blob-access",
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=role_prefix.apply(lambda prefix, r=role: prefix + r),
                scope=self.account.id,
                opts=child(federated),  # `identity` below then stands for both
            )
            access[workload.role] = WorkloadAccess(
                annotations={"azure.workload.identity/client-id": identity.client_id},
                pod_labels={"azure.workload.identity/use": "true"},
                identity=grant,
            )

        blob_base = self.account.name.apply(lambda a: f"https://{a}.blob.core.windows.net/{CONTAINER}")
        self.outputs = DataOutputs(
            object_store=ObjectStore(
                kind="azure", bucket=self.container.name, uri=blob_base, account=self.account.name
            ),
            database=Database.managed(self.server.fully_qualified_domain_name, password.result),
            access=access,
            store_ready=(self.container,),
            database_ready=(database,),
        )
        self.register_outputs({"storage_account": self.account.name, "database": self.server.fully_qualified_domain_name})
