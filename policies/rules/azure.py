"""Azure rules: AKS, storage accounts and PostgreSQL Flexible Server."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from mlops_platform.components.data.outputs import AZURE_POSTGRES_LOGS, CONNECTION_LOG_SETTINGS

from .base import REQUIRE_KEYS, Rule, cidrs_open, depends_on_resource, describe_open, dig, stack_resources


def aks_api(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    profile = args.props.get("apiServerAccessProfile") or {}
    if profile.get("enablePrivateCluster") is True:
        return
    ranges = profile.get("authorizedIPRanges") or []
    if not ranges:
        yield "the AKS API server is public with no authorized IP ranges"
    elif cidrs_open(ranges):
        yield f"the AKS API server authorizes the whole internet ({describe_open(ranges)})"


def aks_network_policy(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if not dig(args.props, "networkProfile", "networkPolicy"):
        yield "no network policy engine: NetworkPolicies would not be enforced"


def aks_local_accounts(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.props.get("disableLocalAccounts") is not True:
        yield "local accounts are enabled (a static admin credential exists)"


def azure_storage(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.props.get("allowBlobPublicAccess") is not False:
        yield "public blob access is allowed"
    if args.props.get("minimumTlsVersion") != "TLS1_2":
        yield "TLS 1.2 is not the minimum"
    if args.props.get("enableHttpsTrafficOnly") is False:
        yield "plain HTTP is accepted"


def azure_postgres(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if dig(args.props, "network", "publicNetworkAccess") != "Disabled":
        yield "the server accepts public network access"



def azure_postgres_entra_login(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if dig(args.props, "authConfig", "activeDirectoryAuth") != "Enabled":
        yield "Entra ID authentication is off: MLflow cannot log in as its managed identity and would need a password of its own"


def azure_postgres_logs(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: each Flexible Server has its connection-logging parameters set on, and pgaudit
    allow-listed, preloaded and logging (the parameters are resources of their own, naming the server),
    and its log sent to a workspace."""
    servers = stack_resources(args, "azure-native:dbforpostgresql:Server")
    settings = stack_resources(args, "azure-native:dbforpostgresql:Configuration")
    diagnostics = stack_resources(args, DIAGNOSTICS)
    for server in servers:
        values = {str(c.props.get("configurationName")): str(c.props.get("value") or "") for c in settings
                  if depends_on_resource(c, server, "serverName")}
        for setting in CONNECTION_LOG_SETTINGS:
            if values.get(setting, "").lower() != "on":
                yield (f"server {server.name}: server parameter {setting} is not set on: connections go unlogged", server.urn)
        loaded = all("pgaudit" in {v.strip().lower() for v in values.get(key, "").split(",")}
                     for key in ("azure.extensions", "shared_preload_libraries"))
        if not loaded or values.get("pgaudit.log", "none").strip().lower() in ("", "none"):
            yield (f"server {server.name}: pgaudit is not allow-listed, preloaded and logging (azure.extensions, "
                   "shared_preload_libraries, pgaudit.log): schema and role changes go unlogged", server.urn)
        if not any(depends_on_resource(d, server, "resourceUri") and _logged(d, (AZURE_POSTGRES_LOGS,)) for d in diagnostics):
            yield (f"server {server.name}: its log (PostgreSQLLogs) is not sent to a workspace: it stays in the server's "
                   "own short-lived files", server.urn)



def azure_storage_network(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if dig(args.props, "networkRuleSet", "defaultAction") != "Deny":
        yield "the storage account admits every network (networkRuleSet.defaultAction is not Deny)"


DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"


def _logged(setting: Any, categories: tuple[str, ...]) -> bool:
    enabled = {str(log.get("category")) for log in setting.props.get("logs") or [] if log.get("enabled")}
    return bool(setting.props.get("workspaceId") or setting.props.get("storageAccountId")) and bool(enabled & set(categories))


def azure_aks_audit(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: each AKS cluster sends its control plane's audit log somewhere it is kept."""
    settings = stack_resources(args, DIAGNOSTICS)
    for cluster in stack_resources(args, "azure-native:containerservice:ManagedCluster"):
        if not any(depends_on_resource(s, cluster, "resourceUri") and _logged(s, ("kube-audit", "kube-audit-admin"))
                   for s in settings):
            yield (f"cluster {cluster.name} keeps no audit log (no diagnostic setting with kube-audit or kube-audit-admin)",
                   cluster.urn)


def azure_vnet_flow_logs(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: each VNet has an enabled flow log."""
    logs = [f for f in stack_resources(args, "azure-native:network:FlowLog") if f.props.get("enabled") is not False]
    for vnet in stack_resources(args, "azure-native:network:VirtualNetwork"):
        if not any(depends_on_resource(f, vnet, "targetResourceId") for f in logs):
            yield (f"VNet {vnet.name} has no flow log: its traffic leaves no trail", vnet.urn)


def azure_blob_access_logs(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: each account holding a blob container logs its blob reads, writes and deletes."""
    containers = stack_resources(args, "azure-native:storage:BlobContainer")
    settings = stack_resources(args, DIAGNOSTICS)
    for account in stack_resources(args, "azure-native:storage:StorageAccount"):
        if not any(depends_on_resource(c, account, "accountName") for c in containers):
            continue
        if not any(depends_on_resource(s, account, "resourceUri") and _logged(s, ("StorageRead",))
                   and _logged(s, ("StorageWrite",)) and _logged(s, ("StorageDelete",)) for s in settings):
            yield (f"storage account {account.name}: blob reads, writes and deletes are not logged", account.urn)


DATA_TYPES = {"azure-native:storage:StorageAccount": "storage account", "azure-native:dbforpostgresql:Server": "PostgreSQL server"}


def azure_prod_locked(args: Any, config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: in prod, each storage account and database server has a CanNotDelete lock naming it."""
    if not config.get("requireLocks"):
        return
    locks = [lock for lock in stack_resources(args, "azure-native:authorization:ManagementLockByScope")
             if lock.props.get("level") == "CanNotDelete"]
    for resource in stack_resources(args, *DATA_TYPES):
        if not any(depends_on_resource(lock, resource, "scope") for lock in locks):
            yield (f"{DATA_TYPES[resource.resource_type]} {resource.name} has no CanNotDelete lock", resource.urn)


def aks_kms(args: Any, config: Mapping[str, Any]) -> Iterator[str]:
    if config.get("requireKeys") and dig(args.props, "securityProfile", "azureKeyVaultKms", "enabled") is not True:
        yield "Secrets in etcd are not encrypted with a customer-managed key (securityProfile.azureKeyVaultKms is off)"


def storage_keys(args: Any, config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: in prod, each storage account (the flow logs' too) and each Flexible Server is
    encrypted with a customer-managed key."""
    if not config.get("requireKeys"):
        return
    for account in stack_resources(args, "azure-native:storage:StorageAccount"):
        if dig(account.props, "encryption", "keySource") != "Microsoft.Keyvault":
            yield (f"storage account {account.name} is encrypted with Microsoft-managed keys (encryption.keySource is not "
                   "Microsoft.Keyvault)", account.urn)
    for server in stack_resources(args, "azure-native:dbforpostgresql:Server"):
        if dig(server.props, "dataEncryption", "type") != "AzureKeyVault":
            yield (f"server {server.name} is encrypted with a Microsoft-managed key (dataEncryption.type is not AzureKeyVault)",
                   server.urn)


RULES = [
    Rule("azure-aks-api-restricted", "azure", "The AKS API server is private or limited to authorized IP ranges.",
         "Set cluster.apiAllowedCidrs, or cluster.privateEndpoint: true.", aks_api,
         ("azure-native:containerservice:ManagedCluster",)),
    Rule("azure-aks-network-policy", "azure", "AKS enforces NetworkPolicies.", "Set networkProfile.networkPolicy (cilium).",
         aks_network_policy, ("azure-native:containerservice:ManagedCluster",)),
    Rule("azure-aks-kms-etcd", "azure", "In prod, AKS encrypts Secrets in etcd with a customer-managed Key Vault key (KMS).",
         "Set securityProfile.azureKeyVaultKms (components/cluster/aks.py makes the vault, key and identity in prod).", aks_kms,
         ("azure-native:containerservice:ManagedCluster",), config_schema=REQUIRE_KEYS),
    Rule("azure-data-cmk", "azure", "In prod, storage accounts (flow-log targets too) and Postgres encrypt with customer-managed keys.",
         "Set the account's encryption.keySource: Microsoft.Keyvault and the server's dataEncryption with the stack's keys "
         "and identities (components/data/azure.py does in prod).", storage_keys,
         config_schema=REQUIRE_KEYS),
    Rule("azure-aks-local-accounts-disabled", "azure", "AKS local accounts are disabled (Entra ID only).",
         "Set disableLocalAccounts: true with managed Entra ID integration.", aks_local_accounts,
         ("azure-native:containerservice:ManagedCluster",)),
    Rule("azure-storage-secure-transport-private", "azure", "Storage accounts allow no public blob access and require TLS 1.2 over HTTPS.",
         "Set allowBlobPublicAccess: false, minimumTlsVersion: TLS1_2, enableHttpsTrafficOnly: true.", azure_storage,
         ("azure-native:storage:StorageAccount",)),
    Rule("azure-postgres-not-public", "azure", "PostgreSQL Flexible Server is reachable only privately.",
         "Use VNet integration (delegated subnet) and network.publicNetworkAccess: Disabled.", azure_postgres,
         ("azure-native:dbforpostgresql:Server",)),
    Rule("azure-postgres-entra-login", "azure", "PostgreSQL Flexible Server takes Entra ID logins: MLflow logs in as its "
         "managed identity, with no password of its own.", "Set authConfig.activeDirectoryAuth: Enabled (components/data/azure.py "
         "makes the schema Job's identity the server's Entra admin, which adds MLflow's user).", azure_postgres_entra_login,
         ("azure-native:dbforpostgresql:Server",)),
    Rule("azure-postgres-connection-logging", "azure",
         "PostgreSQL Flexible Server logs every connection and disconnection, and schema and role changes (pgaudit).",
         "Give the server Configuration resources log_connections and log_disconnections on, azure.extensions and "
         "shared_preload_libraries naming pgaudit, and pgaudit.log (then restart the server); send its PostgreSQLLogs "
         "to a workspace with a monitor DiagnosticSetting.", azure_postgres_logs),
    Rule("azure-storage-network-restricted", "azure", "The storage account admits only the cluster's subnet and named ranges.",
         "Set networkRuleSet.defaultAction: Deny with a virtual network rule for the node subnet (and azure.storageAllowedCidrs).",
         azure_storage_network, ("azure-native:storage:StorageAccount",)),
    Rule("azure-prod-data-locked", "azure", "Prod data (storage account, PostgreSQL server) carries a CanNotDelete lock.",
         "Give each a ManagementLockByScope with level CanNotDelete (components/data/azure.py does, when protected).",
         azure_prod_locked, config_schema={"requireLocks": {"type": "boolean", "default": False}}),
    Rule("azure-aks-audit-logs", "azure", "AKS sends its control plane's audit log (kube-audit) to a Log Analytics workspace.",
         "Add a monitor DiagnosticSetting on the cluster with the kube-audit (or kube-audit-admin) category.",
         azure_aks_audit),
    Rule("azure-vnet-flow-logs", "azure", "Every VNet has an enabled flow log.",
         "Add a network FlowLog under the region's Network Watcher targeting the VNet.", azure_vnet_flow_logs),
    Rule("azure-storage-access-logs", "azure", "The artifact store logs every blob read, write and delete.",
         "Add a monitor DiagnosticSetting on <account>/blobServices/default with StorageRead, StorageWrite and "
         "StorageDelete.", azure_blob_access_logs),
]
