"""Customer-managed keys on Azure in prod (issue 23, item 5), under the SDK's mocks: the stack's Key
Vault (RBAC only, purge protection, protected), AKS's etcd under a key of it that only the control
plane's own identity may use, the storage account under another that only its identity may use;
nothing of it in dev; the policies that require them in prod."""

from __future__ import annotations

from mlops_platform.planner.costs import estimate
from mlops_platform.policies.registry import pack_config
from support import one

VAULT = "azure-native:keyvault:Vault"
KEY = "azure-native:keyvault:Key"
AKS = "azure-native:containerservice:ManagedCluster"
ACCOUNT = "azure-native:storage:StorageAccount"
GRANT = "azure-native:authorization:RoleAssignment"
CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"
NETWORK_CONTRIBUTOR = "4d97b98b-1d4f-4787-a291-c67834d212e7"


def test_the_vault_keeps_its_keys_through_any_delete(planned):
    vault = one(planned("azure-prod"), VAULT, "cluster-vault")
    props = vault.input("properties")
    assert props["enableRbacAuthorization"] is True and not props.get("accessPolicies")
    assert props["enablePurgeProtection"] is True and props["enableSoftDelete"] is True
    assert props["softDeleteRetentionInDays"] == 90 and vault.protect
    assert 3 <= len(vault.input("vaultName")) <= 24 and "-kv-" in vault.input("vaultName")


def test_aks_prod_encrypts_etcd_with_a_key_only_its_control_plane_may_use(planned):
    run = planned("azure-prod")
    key = one(run, KEY, "-etcd-key")
    assert key.input("properties")["kty"] == "RSA" and key.protect
    assert key.input("properties")["rotationPolicy"]["lifetimeActions"] == [
        {"trigger": {"timeAfterCreate": "P1Y"}, "action": {"type": "rotate"}}]
    [cluster] = run.of_type(AKS)
    [identity_id] = cluster.input("identity")["userAssignedIdentities"]
    assert cluster.input("identity")["type"] == "UserAssigned" and identity_id.endswith("/mlops-prod-control-plane")
    kms = cluster.input("securityProfile", "azureKeyVaultKms")
    assert kms["enabled"] is True and kms["keyVaultNetworkAccess"] == "Public"
    assert kms["keyId"].startswith("https://") and "/keys/aks-etcd/" in kms["keyId"], "AKS takes a versioned key"
    # The key's one user is the control plane's identity, with the role that wraps and unwraps.
    [use] = [g for g in run.of_type(GRANT) if g.input("scope").endswith("/keys/aks-etcd")]
    assert use.input("roleDefinitionId").endswith(CRYPTO_USER) and use.input("principalType") == "ServicePrincipal"
    subnet = one(run, GRANT, "-control-plane-subnet")
    assert subnet.input("roleDefinitionId").endswith(NETWORK_CONTRIBUTOR)
    nodes = one(run, "azure-native:network:Subnet", "-nodes-subnet")
    assert subnet.property_dependencies["scope"] == [nodes.urn], "on the node subnet, nothing wider"
    assert use.input("principalId") == subnet.input("principalId")
    assert {use.urn, subnet.urn} <= set(cluster.dependencies), "the cluster is created once its identity may use the key"


def test_the_storage_account_uses_its_own_key_and_identity(planned):
    run = planned("azure-prod")
    key = one(run, KEY, "-storage-key")
    account = one(run, ACCOUNT, "-storage")
    [identity_id] = account.input("identity")["userAssignedIdentities"]
    assert identity_id.endswith("/mlops-prod-storage-key") and account.input("identity")["type"] == "UserAssigned"
    encryption = account.input("encryption")
    assert encryption["keySource"] == "Microsoft.Keyvault"
    assert encryption["keyVaultProperties"]["keyName"] == "storage"
    assert "keyVersion" not in encryption["keyVaultProperties"], "Storage follows the key's rotations"
    assert encryption["keyVaultProperties"]["keyVaultUri"].endswith(".vault.azure.net/")
    assert encryption["encryptionIdentity"] == {"encryptionUserAssignedIdentity": identity_id}
    [use] = [g for g in run.of_type(GRANT) if g.input("scope").endswith("/keys/storage")]
    assert use.input("roleDefinitionId").endswith(ENCRYPTION_USER) and use.urn in account.dependencies
    assert key.protect


def test_the_flow_logs_account_uses_its_own_key_too(planned):
    run = planned("azure-prod")
    account = one(run, ACCOUNT, "-flow-logs")
    [identity_id] = account.input("identity")["userAssignedIdentities"]
    assert identity_id.endswith("/mlops-prod-flow-logs-key")
    encryption = account.input("encryption")
    assert encryption["keySource"] == "Microsoft.Keyvault" and encryption["keyVaultProperties"]["keyName"] == "flow-logs"
    [use] = [g for g in run.of_type(GRANT) if g.input("scope").endswith("/keys/flow-logs")]
    assert use.input("roleDefinitionId").endswith(ENCRYPTION_USER) and use.urn in account.dependencies
    assert one(planned("azure-dev"), ACCOUNT, "-flow-logs").input("encryption") is None


def test_dev_has_no_vault_and_microsoft_keys(planned):
    run = planned("azure-dev")
    assert not run.of_type(VAULT) and not run.of_type(KEY)
    [cluster] = run.of_type(AKS)
    assert cluster.input("identity") == {"type": "SystemAssigned"}
    assert cluster.input("securityProfile", "azureKeyVaultKms") is None
    assert one(run, ACCOUNT, "-storage").input("encryption") is None


def test_the_keys_are_required_in_prod_and_priced(planned, stack_config):
    for rule in ("azure-aks-kms-etcd", "azure-data-cmk"):
        assert pack_config(stack_config("azure-prod"))[rule]["requireKeys"] is True, rule
        assert pack_config(stack_config("azure-dev"))[rule]["requireKeys"] is False, rule
    [line] = [line for line in estimate(planned("azure-prod"), stack_config("azure-prod")) if "Key Vault" in line.item]
    assert (line.quantity, line.price_key) == (5, "key_vault_standard_key_month"), "etcd, storage, flow logs, database, its copy"
    assert not [line for line in estimate(planned("azure-dev"), stack_config("azure-dev")) if "Key Vault" in line.item]


def test_the_server_encrypts_with_its_key_and_the_backups_copy_with_one_in_the_paired_region(planned):
    run = planned("azure-prod")
    [server] = run.of_type("azure-native:dbforpostgresql:Server")
    encryption = server.input("dataEncryption")
    assert encryption["type"] == "AzureKeyVault" and server.input("backup")["geoRedundantBackup"] == "Enabled"
    vaults = {v.input("location"): v.input("vaultName") for v in run.of_type(VAULT)}
    assert set(vaults) == {"eastus", "westus"}, "the stack's region and its pair"
    assert encryption["primaryKeyURI"].startswith(f"https://{vaults['eastus']}.vault.azure.net/keys/database/")
    assert encryption["geoBackupKeyURI"].startswith(f"https://{vaults['westus']}.vault.azure.net/keys/database-geo/")
    primary, geo = encryption["primaryUserAssignedIdentityId"], encryption["geoBackupUserAssignedIdentityId"]
    assert primary.endswith("/mlops-prod-database-key") and geo.endswith("/mlops-prod-database-geo-key")
    assert set(server.input("identity")["userAssignedIdentities"]) == {primary, geo}
    # Each identity sits in its key's region and alone may use that key; the server waits for both.
    locations = {i.input("resourceName"): i.input("location") for i in run.of_type("azure-native:managedidentity:UserAssignedIdentity")}
    assert (locations["mlops-prod-database-key"], locations["mlops-prod-database-geo-key"]) == ("eastus", "westus")
    for purpose in ("database", "database-geo"):
        [use] = [g for g in run.of_type(GRANT) if g.input("scope").endswith(f"/keys/{purpose}")]
        assert use.input("roleDefinitionId").endswith(ENCRYPTION_USER) and use.urn in server.dependencies, purpose
    geo_vault = [v for v in run.of_type(VAULT) if v.input("location") == "westus"][0]
    assert geo_vault.input("properties")["enablePurgeProtection"] is True and geo_vault.protect
    assert run.of_type("azure-native:dbforpostgresql:Server")[0].protect


def test_without_geo_redundancy_one_vault_and_in_dev_none(stack_config):
    from mlops_platform.components.config import PlatformConfig, read_stack_values
    from mlops_platform.planner.harness import plan_platform
    from support import STACKS

    values = read_stack_values(STACKS / "Pulumi.azure-prod.yaml")
    values["backup"] = {**values.get("backup", {}), "geoRedundant": False}
    run = plan_platform(PlatformConfig.from_values(values, "azure-prod (no geo)", "azure-prod"))
    [server] = run.of_type("azure-native:dbforpostgresql:Server")
    assert "geoBackupKeyURI" not in server.input("dataEncryption") and len(run.of_type(VAULT)) == 1
    assert len(server.input("identity")["userAssignedIdentities"]) == 1
    dev = plan_platform(stack_config("azure-dev"))
    assert dev.of_type("azure-native:dbforpostgresql:Server")[0].input("dataEncryption") is None


def test_a_prod_region_without_a_pair_is_refused_with_geo_redundant_backup():
    import pytest

    from mlops_platform.components.config import ConfigError, PlatformConfig, read_stack_values
    from support import STACKS

    values = {**read_stack_values(STACKS / "Pulumi.azure-prod.yaml"), "region": "italynorth"}
    with pytest.raises(ConfigError) as caught:
        PlatformConfig.from_values(values, "stacks/Pulumi.azure-prod.yaml", "azure-prod")
    message = str(caught.value)
    assert "platform:region" in message and "'italynorth' has no paired region" in message and "\n" not in message
    values["backup"] = {**values.get("backup", {}), "geoRedundant": False}
    assert PlatformConfig.from_values(values, "stacks/Pulumi.azure-prod.yaml", "azure-prod").region == "italynorth"
