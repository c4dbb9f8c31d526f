"""Customer-managed keys on Azure, in prod: one Key Vault per stack holding a key per use (AKS's
etcd encryption, the artifact and flow-log storage accounts, the database), each used by a
user-assigned identity granted that use alone.

- The vault authorizes through Azure RBAC only (no access policies), keeps deleted keys 90 days
  and refuses to purge them before (purge protection, which AKS KMS and storage encryption
  require); its name carries a random suffix, because a deleted vault's name stays taken for those
  90 days. Protected with the stack's data.
- Keys are RSA 2048, created through Azure Resource Manager (no data-plane right needed), rotated
  every year by the vault itself.
Ref: https://learn.microsoft.com/azure/aks/use-kms-etcd-encryption
Ref: https://learn.microsoft.com/azure/storage/common/customer-managed-keys-configure-existing-account
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_azure_native.authorization as authorization
import pulumi_azure_native.keyvault as keyvault
import pulumi_azure_native.managedidentity as managedidentity
import pulumi_random as random

from . import names

# Built-in roles. Ref: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security
CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"  # Key Vault Crypto User: AKS KMS wraps and unwraps
ENCRYPTION_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"  # Key Vault Crypto Service Encryption User
ROTATE_AFTER = "P1Y"


def key_vault(name: str, env: str, resource_group: Any, location: str, tenant_id: Any, protect: bool,
              opts: pulumi.ResourceOptions, label: str = "kv") -> keyvault.Vault:
    """The stack's vault (`label` tells a second one's name apart); `opts` carries the parent and the provider."""
    suffix = random.RandomString(f"{name}-vault-suffix", length=6, special=False, upper=False,
                                 opts=pulumi.ResourceOptions(parent=opts.parent))
    return keyvault.Vault(
        f"{name}-vault",
        # 3-24 letters, digits and hyphens, globally unique.
        vault_name=suffix.result.apply(lambda s: f"{names.env_prefix(env)[:14].rstrip('-')}-{label}-{s}"),
        resource_group_name=resource_group,
        location=location,
        properties={
            "tenant_id": tenant_id,
            "sku": {"family": "A", "name": "standard"},
            "enable_rbac_authorization": True,
            "enable_soft_delete": True,
            "soft_delete_retention_in_days": 90,
            "enable_purge_protection": True,
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=protect)),
    )


def key(name: str, purpose: str, vault: keyvault.Vault, resource_group: Any, protect: bool,
        opts: pulumi.ResourceOptions) -> keyvault.Key:
    return keyvault.Key(
        f"{name}-key",
        key_name=purpose,
        vault_name=vault.name,
        resource_group_name=resource_group,
        properties={
            "kty": "RSA",
            "key_size": 2048,
            "key_ops": ["wrapKey", "unwrapKey", "encrypt", "decrypt"],
            "rotation_policy": {"lifetime_actions": [{"trigger": {"time_after_create": ROTATE_AFTER},
                                                      "action": {"type": "rotate"}}]},
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=protect)),
    )


def grant(name: str, principal_id: Any, role: str, scope: Any, subscription_id: Any,
          opts: pulumi.ResourceOptions) -> authorization.RoleAssignment:
    """`role` (a built-in role's id) for a managed identity on `scope`."""
    return authorization.RoleAssignment(
        name,
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=pulumi.Output.from_input(subscription_id).apply(
            lambda sub: f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
        scope=scope,
        opts=opts,
    )


def key_with_user(name: str, purpose: str, vault: keyvault.Vault, group: Any, location: str, env: str, protect: bool,
                  subscription_id: Any, opts: pulumi.ResourceOptions) -> tuple[keyvault.Key, Any, authorization.RoleAssignment]:
    """A key for a service's encryption at rest (Storage, Flexible Server) and the user-assigned
    identity in `location` that alone may use it; returns the key, the identity and its grant."""
    identity = managedidentity.UserAssignedIdentity(
        f"{name}-key-identity", resource_name_=f"{names.env_prefix(env)}-{purpose}-key", resource_group_name=group,
        location=location, opts=opts)
    used = key(name, purpose, vault, group, protect, opts)
    return used, identity, grant(f"{name}-key-user", identity.principal_id, ENCRYPTION_USER, used.id, subscription_id, opts)


def storage_encryption(name: str, purpose: str, vault: keyvault.Vault, group: Any, location: str, env: str,
                       protect: bool, subscription_id: Any, opts: pulumi.ResourceOptions
                       ) -> tuple[dict[str, Any], list[pulumi.Resource]]:
    """A storage account's identity and encryption under a key of `vault` that only that identity may
    use (the key without a version: Storage follows its rotations), and the grant the account waits
    for. Encryption at rest is the Storage service's own: whoever writes (a workload, Network
    Watcher) needs no right on the key.
    Ref: https://learn.microsoft.com/azure/storage/common/customer-managed-keys-overview"""
    used, identity, grant_ = key_with_user(name, purpose, vault, group, location, env, protect, subscription_id, opts)
    settings = {
        "identity": {"type": "UserAssigned", "user_assigned_identities": [identity.id]},
        "encryption": {
            "key_source": "Microsoft.Keyvault",
            "key_vault_properties": {"key_name": used.name, "key_vault_uri": vault.properties.vault_uri},
            "encryption_identity": {"encryption_user_assigned_identity": identity.id},
            "services": {"blob": {"enabled": True, "key_type": "Account"}},
        },
    }
    return settings, [grant_]
