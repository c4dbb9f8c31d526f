"""AzureData: a storage account and container, PostgreSQL Flexible Server on private access, and
one user-assigned identity per workload with a federated credential for its service account.

- Storage: no public blob access, TLS 1.2 minimum, HTTPS only, shared-key access off (Entra ID
  only), blob versioning with soft delete; the cluster reaches it through a private endpoint in
  the VNet (azure_private_blob.py).
- Postgres: VNet-integrated (delegated subnet, private DNS zone), public network access disabled,
  backups kept at least 7 days, zone-redundant HA when asked.
- Identities: Storage Blob Data Reader or Contributor on the account, federated with the AKS OIDC
  issuer for exactly `system:serviceaccount:<namespace>:<name>`.
- MLflow logs in to Postgres as its identity (an Entra ID token, no password); the schema Job's own
  identity is the server's Entra admin, which makes that database user (_entra_login).
- Prod stacks `protect` the storage account and the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.dbforpostgresql as postgresql
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.storage as storage
import pulumi_command as command
import pulumi_random as random

from .. import azure_keys, names, versions
from ..azure_lock import delete_lock
from ..azure_regions import PAIRED
from ..cluster.outputs import AzureNetwork, ClusterOutputs
from ..config import PlatformConfig
from . import db_trust
from .azure_private_blob import private_blob_endpoint
from .azure_private_dns import linked_zone
from .outputs import (
    AZURE_POSTGRES_LOGS,
    AZURE_POSTGRES_RESTART,
    CONNECTION_LOG_SETTINGS,
    PGAUDIT_LOG,
    PGAUDIT_PRELOAD,
    Database,
    DataOutputs,
    EntraPrincipal,
    IamLogin,
    ManagedDataArgs,
    ObjectStore,
    WorkloadAccess,
)

CONTAINER = names.ARTIFACTS
BLOB_ACCESS_LOGS = ("StorageRead", "StorageWrite", "StorageDelete")
# Built-in roles. Ref: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/storage
BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
# Ref: https://azure.github.io/azure-workload-identity/docs/topics/service-account-labels-and-annotations.html
WI_AUDIENCE = "api://AzureADTokenExchange"
_SKU_TIER = {"Standard_B": "Burstable", "Standard_D": "GeneralPurpose", "Standard_E": "MemoryOptimized"}


@dataclass(frozen=True)
class AzureDataArgs(ManagedDataArgs):
    # The storage account `platform destroy --keep-data` kept (its resource id): it, its blob
    # service's settings and the container are imported, not created (cli/backup/keep.py).
    kept_account: Optional[str] = None


def sku_tier(sku_name: str) -> str:
    return next((tier for prefix, tier in _SKU_TIER.items() if sku_name.startswith(prefix)), "GeneralPurpose")


class AzureData(pulumi.ComponentResource):
    outputs: DataOutputs

    @staticmethod
    def args_from(config: PlatformConfig, cluster: ClusterOutputs) -> AzureDataArgs:
        kept = config.kept_data.bucket if config.kept_data else None
        return AzureDataArgs(**ManagedDataArgs.common(config, cluster), kept_account=kept)

    def __init__(self, name: str, args: AzureDataArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:data:AzureData", name, None, opts)
        net = args.cluster.network
        assert isinstance(net, AzureNetwork), "AzureData needs an AKS cluster's network"
        self._net = net
        suffix = random.RandomString(
            f"{name}-suffix", length=8, special=False, upper=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self._storage(name, args, suffix)
        password, database = self._database(name, args, suffix)
        access = self._identities(name, args)
        iam_login, admin = self._entra_login(name, args, database[-1])
        blob_base = self.account.name.apply(lambda a: f"https://{a}.blob.core.windows.net/{CONTAINER}")
        self.outputs = DataOutputs(
            object_store=ObjectStore(
                kind="azure", bucket=self.container.name, uri=blob_base, account=self.account.name
            ),
            database=Database.managed(self.server.fully_qualified_domain_name, password.result, self.server.name,
                                      db_trust.azure_postgres(), net.database_cidr, iam_login),
            access=access,
            store_ready=(self.container,),
            database_ready=(*database, admin),
        )
        self.register_outputs(self.outputs.registered())

    def _lock(self, name: str, what: str, target: Any) -> None:
        """A CanNotDelete lock on prod data (components/azure_lock.py)."""
        delete_lock(f"{name}-{what}-lock", what, target, self._opts(target))

    def _opts(self, *depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._net.provider, depends_on=list(depends_on), **extra)

    def _vault(self, args: AzureDataArgs) -> Optional[Any]:
        """The stack's Key Vault where its data is under keys of its own (prod; the AKS cluster makes
        it), or None."""
        if not args.customer_keys:
            return None
        assert self._net.key_vault is not None, "customer-managed keys need the AKS cluster's Key Vault"
        return self._net.key_vault

    def _storage_key(self, name: str, args: AzureDataArgs) -> tuple[dict[str, Any], list[pulumi.Resource]]:
        """In prod, the account's identity and encryption under a key of the stack's Key Vault, and the
        grant the account waits for (azure_keys.storage_encryption). Microsoft's keys elsewhere."""
        net, child, vault = self._net, self._opts, self._vault(args)
        if vault is None:
            return {}, []
        return azure_keys.storage_encryption(f"{name}-storage", "storage", vault, net.resource_group_name, net.region,
                                             args.env, args.protect, net.subscription_id, child())

    def _database_key(self, name: str, args: AzureDataArgs) -> tuple[dict[str, Any], list[pulumi.Resource]]:
        """In prod, the server's identities and data encryption: a key of the stack's vault and, with
        geo-redundant backup, one of a vault in the paired region for the backups' copy, each used
        by an identity of its own in its region (as Flexible Server requires); and the grants the
        server waits for. The versioned keys: the server stays on them until it names others.
        Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-data-encryption"""
        net, child, vault = self._net, self._opts, self._vault(args)
        if vault is None:
            return {}, []
        rg = net.resource_group_name
        key, identity, grant = azure_keys.key_with_user(f"{name}-database", "database", vault, rg, net.region,
                                                        args.env, args.protect, net.subscription_id, child())
        encryption = {"type": "AzureKeyVault", "primary_key_uri": key.key_uri_with_version,
                      "primary_user_assigned_identity_id": identity.id}
        identities, grants = [identity.id], [grant]
        if args.database.geo_redundant_backup:
            paired = PAIRED[net.region]  # the config refuses a region without one
            geo_vault = azure_keys.key_vault(f"{name}-geo", args.env, rg, paired, net.tenant_id, args.protect, child(), label="geo")
            key, identity, grant = azure_keys.key_with_user(f"{name}-database-geo", "database-geo", geo_vault, rg, paired,
                                                            args.env, args.protect, net.subscription_id, child())
            encryption |= {"geo_backup_key_uri": key.key_uri_with_version, "geo_backup_user_assigned_identity_id": identity.id}
            identities.append(identity.id)
            grants.append(grant)
        # The server names its identities as a map keyed by their ids.
        server_identity = pulumi.Output.all(*identities).apply(
            lambda ids: {"type": "UserAssigned", "user_assigned_identities": {i: {} for i in ids}})
        return {"identity": server_identity, "data_encryption": encryption}, grants

    def _storage(self, name: str, args: AzureDataArgs, suffix: random.RandomString) -> None:
        """The storage account (Entra ID only, TLS 1.2, versioned) and the artifacts container."""
        child, net, kept = self._opts, self._net, args.kept_account
        rg, location = net.resource_group_name, net.region
        encryption, key_ready = self._storage_key(name, args)

        def adopted(path: str, *depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
            """A kept account's part is imported by the account's id and its own path under it."""
            return child(*depends_on, import_=kept + path if kept else None, **extra)

        self.account = storage.StorageAccount(
            f"{name}-storage",
            # Storage account names are lower-case letters and digits only. A kept account is
            # imported by its name; the name is fixed at creation, so ignored afterwards (the next
            # updates' suffix is another).
            account_name=kept.rsplit("/", 1)[-1] if kept else suffix.result.apply(lambda s: names.storage_account(args.env, s)),
            resource_group_name=rg,
            location=location,
            kind="StorageV2",
            sku={"name": "Standard_ZRS" if args.database.high_availability else "Standard_LRS"},
            allow_blob_public_access=False,
            allow_shared_key_access=False,
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            default_to_o_auth_authentication=True,
            # Reached from the cluster's subnet only (its service endpoint), and from the public ranges
            # the stack file names; the platform's Azure services (backup, diagnostics) keep access.
            # Ref: https://learn.microsoft.com/azure/storage/common/storage-network-security
            network_rule_set={
                "default_action": "Deny",
                "bypass": "AzureServices",
                "virtual_network_rules": [{"virtual_network_resource_id": net.node_subnet_id, "action": "Allow"}],
                "ip_rules": [{"i_p_address_or_range": cidr.removesuffix("/32"), "action": "Allow"} for cidr in args.store_allowed_cidrs],
            },
            **encryption,
            opts=adopted("", *key_ready, protect=args.protect, ignore_changes=["accountName"]),
        )
        if args.protect:
            self._lock(name, "storage", self.account)
        blob_service = storage.BlobServiceProperties(
            f"{name}-blob-service",
            account_name=self.account.name,
            resource_group_name=rg,
            blob_services_name="default",
            is_versioning_enabled=True,
            delete_retention_policy={"enabled": True, "days": 14},
            opts=adopted("/blobServices/default"),
        )
        # Who read, wrote or deleted which artifact: the blob service's resource logs, in the stack's
        # Log Analytics workspace (components/cluster/azure_audit.py).
        # Ref: https://learn.microsoft.com/azure/storage/blobs/monitor-blob-storage-reference#resource-logs
        monitor.DiagnosticSetting(
            f"{name}-blob-access-logs",
            name="mlops-audit",
            resource_uri=self.account.id.apply(lambda account: f"{account}/blobServices/default"),
            workspace_id=net.log_workspace_id,
            log_analytics_destination_type="Dedicated",
            logs=[{"category": category, "enabled": True} for category in BLOB_ACCESS_LOGS],
            opts=child(blob_service),
        )
        self.container = storage.BlobContainer(
            f"{name}-artifacts",
            account_name=self.account.name,
            resource_group_name=rg,
            container_name=CONTAINER,
            public_access="None",
            opts=adopted(f"/blobServices/default/containers/{CONTAINER}"),
        )
        private_blob_endpoint(name, child, net, self.account)


    def _database(self, name: str, args: AzureDataArgs,
                  suffix: random.RandomString) -> tuple[random.RandomPassword, list[pulumi.Resource]]:
        """Flexible Server on private access (its DNS zone linked to the VNet) and the MLflow database."""
        child, net = self._opts, self._net
        rg, location = net.resource_group_name, net.region
        dns_zone, dns_link = linked_zone(f"{name}-postgres-dns", f"{names.env_prefix(args.env)}.private.postgres.database.azure.com",
                                         net, child)
        password = random.RandomPassword(
            f"{name}-db-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        encryption, key_ready = self._database_key(name, args)
        self.server = postgresql.Server(
            f"{name}-postgres",
            server_name=suffix.result.apply(lambda s: f"{names.env_prefix(args.env)}-{s}"),
            resource_group_name=rg,
            location=location,
            version=versions.POSTGRES_MAJOR,
            sku={"name": args.database.instance_class, "tier": sku_tier(args.database.instance_class)},
            storage={"storage_size_gb": args.database.storage_gb, "auto_grow": "Enabled"},
            administrator_login=names.DATABASE_USER,
            administrator_login_password=password.result,
            network={
                "delegated_subnet_resource_id": net.database_subnet_id,
                "private_dns_zone_arm_resource_id": dns_zone.id,
                "public_network_access": "Disabled",
            },
            # Point-in-time restore within the retention is built in; geo-redundant copies (prod's default)
            # let a restore run in the paired region.
            backup={"backup_retention_days": args.database.backup_retention_days,
                    "geo_redundant_backup": "Enabled" if args.database.geo_redundant_backup else "Disabled"},
            high_availability={"mode": "ZoneRedundant" if args.database.high_availability else "Disabled"},
            # Entra ID tokens as logins (MLflow's, _entra_login) beside the master's password (Jobs, backups).
            # Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-azure-ad-authentication
            auth_config={"active_directory_auth": "Enabled", "password_auth": "Enabled", "tenant_id": net.tenant_id},
            **encryption,
            # A real edge, kept on the critical path (planner/critical_path.py): a server with
            # private access is created into the zone only once the zone is linked to its VNet.
            # Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-networking-private
            # Ref: https://github.com/DFE-Digital/terraform-azurerm-container-apps-hosting/pull/216
            opts=child(dns_link, *key_ready, protect=args.protect),
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

        if args.protect:
            self._lock(name, "postgres", self.server)
        # The server's log (its connections and pgaudit's lines) kept in the stack's workspace, not
        # only in the server's own short-lived files.
        # Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/howto-configure-and-access-logs
        monitor.DiagnosticSetting(
            f"{name}-postgres-logs",
            name="mlops-audit",
            resource_uri=self.server.id,
            workspace_id=net.log_workspace_id,
            log_analytics_destination_type="Dedicated",
            logs=[{"category": AZURE_POSTGRES_LOGS, "enabled": True}],
            opts=child(self.server),
        )
        return password, [database, self._audit_parameters(name, rg)]

    def _audit_parameters(self, name: str, rg: Any) -> pulumi.Resource:
        """The server's audit settings, one write after another (a server takes one parameter change
        at a time): each connection in its log, then pgaudit. pgaudit must be allow-listed and
        preloaded; preloading is a static parameter, so the server restarts (`az postgres
        flexible-server restart`, the Azure CLI being an Azure prerequisite) whenever that list
        changes, before pgaudit's own setting and before the schema Job, which creates the extension.
        Returns the last step, which the database's users wait for.
        Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-server-parameters
        Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-audit"""
        child = self._opts
        previous: list[pulumi.Resource] = []

        def parameter(setting: str, value: str, *after: pulumi.Resource) -> postgresql.Configuration:
            configuration = postgresql.Configuration(
                f"{name}-{setting.replace('_', '-').replace('.', '-')}", resource_group_name=rg, server_name=self.server.name,
                configuration_name=setting, value=value, source="user-override", opts=child(*previous, *after))
            previous[:] = [configuration]
            return configuration

        for setting in CONNECTION_LOG_SETTINGS:
            parameter(setting, "on")
        parameter("azure.extensions", "PGAUDIT")
        # Ref: https://learn.microsoft.com/azure/postgresql/extensions/how-to-allow-extensions
        preload = parameter("shared_preload_libraries", PGAUDIT_PRELOAD)
        restart = command.local.Command(
            f"{name}-postgres-restart",
            create=f"{AZURE_POSTGRES_RESTART} --resource-group \"$GROUP\" --name \"$SERVER\" --subscription \"$SUBSCRIPTION\"",
            environment={"GROUP": rg, "SERVER": self.server.name, "SUBSCRIPTION": self._net.subscription_id},
            # Again only when the preloaded list changes (and after it is set: the trigger is its output).
            triggers=[preload.value],
            opts=pulumi.ResourceOptions(parent=self, provider=command.Provider(
                f"{name}-command", opts=pulumi.ResourceOptions(parent=self))),
        )
        return parameter("pgaudit.log", PGAUDIT_LOG, restart)

    def _identities(self, name: str, args: AzureDataArgs) -> dict[str, WorkloadAccess]:
        """A user-assigned identity per workload, federated with its service account."""
        child, net = self._opts, self._net
        access: dict[str, WorkloadAccess] = {}
        self._identity: dict[str, managedidentity.UserAssignedIdentity] = {}
        role_prefix: pulumi.Output[str] = net.subscription_id.apply(
            lambda sub: f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/")
        for workload in names.WORKLOADS:
            identity, federated = self._federated_identity(f"{name}-{workload.role}", f"{names.env_prefix(args.env)}-{workload.role}",
                                                           workload.namespace, workload.service_account)
            role = BLOB_DATA_CONTRIBUTOR if workload.access == "write" else BLOB_DATA_READER
            grant = authorization.RoleAssignment(
                f"{name}-{workload.role}-blob-access",
                principal_id=identity.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=pulumi.Output.concat(role_prefix, role),
                scope=self.account.id,
                opts=child(federated),  # `identity` below then stands for both
            )
            self._identity[workload.role] = identity
            access[workload.role] = _workload_access(identity, grant)

        return access

    def _federated_identity(self, resource: str, identity_name: str, namespace: str, service_account: str
                            ) -> tuple[managedidentity.UserAssignedIdentity, managedidentity.FederatedIdentityCredential]:
        """A user-assigned identity (`identity_name`, resources `<resource>-identity`, `-federation`),
        federated with the AKS OIDC issuer for exactly `system:serviceaccount:<namespace>:<service_account>`."""
        child, net = self._opts, self._net
        identity = managedidentity.UserAssignedIdentity(
            f"{resource}-identity", resource_name_=identity_name, resource_group_name=net.resource_group_name,
            location=net.region, opts=child())
        federated = managedidentity.FederatedIdentityCredential(
            f"{resource}-federation", resource_name_=identity.name, resource_group_name=net.resource_group_name,
            federated_identity_credential_resource_name=f"{namespace}-{service_account}", issuer=net.oidc_issuer,
            subject=f"system:serviceaccount:{namespace}:{service_account}", audiences=[WI_AUDIENCE], opts=child())
        return identity, federated

    def _entra_login(self, name: str, args: AzureDataArgs, after: pulumi.Resource) -> tuple[IamLogin, pulumi.Resource]:
        """MLflow's Entra ID login: its identity's database user (named as the identity), which the
        schema Job makes as the server's Entra admin, an identity of its own federated with the Job's
        service account only. Returns the login and the admin, which the Job waits for. The admin is
        set after the audit parameters (`after`): the server takes one change at a time.
        Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-configure-sign-in-azure-ad-authentication"""
        child, net = self._opts, self._net
        admin, federated = self._federated_identity(f"{name}-db-admin", f"{names.env_prefix(args.env)}-{names.MLFLOW_DB_ADMIN}",
                                                    names.NS_MLFLOW, names.MLFLOW_DB_ADMIN)
        server_admin = postgresql.Administrator(
            f"{name}-postgres-entra-admin", resource_group_name=net.resource_group_name, server_name=self.server.name,
            object_id=admin.principal_id, principal_name=admin.name, principal_type="ServicePrincipal",
            tenant_id=net.tenant_id, opts=child(after, federated))
        mlflow_identity = self._identity[names.MLFLOW.role]
        principal = EntraPrincipal(object_id=mlflow_identity.principal_id, admin_user=admin.name,
                                   admin_access=_workload_access(admin, server_admin))
        return IamLogin("entra", mlflow_identity.name, entra=principal), server_admin


def _workload_access(identity: managedidentity.UserAssignedIdentity, ready: pulumi.Resource) -> WorkloadAccess:
    """How a service account runs as `identity` (Azure Workload Identity: its client id on the account,
    the webhook's label on the pods); `ready`: what its use waits for (its grant)."""
    return WorkloadAccess(annotations={"azure.workload.identity/client-id": identity.client_id},
                          pod_labels={"azure.workload.identity/use": "true"}, identity=ready)
