"""The Azure audit trail of a stack: one Log Analytics workspace, and what is sent to it.

- The AKS control plane's audit log (`kube-audit`: every request, reads included, in prod;
  `kube-audit-admin`: the writes only, elsewhere) and Entra ID's authorization decisions (`guard`),
  through a diagnostic setting on the cluster.
  Ref: https://learn.microsoft.com/azure/aks/monitor-aks-reference#resource-logs
- The VNet's flow log (every flow in and out of the network, accepted or denied), kept in a storage
  account of its own and analysed in the workspace (traffic analytics). Azure keeps flow logs under
  the region's Network Watcher, which it creates itself (`NetworkWatcher_<location>` in
  `NetworkWatcherRG`) when a subscription's first VNet is made there; one per region and subscription,
  so it is referred to, not created.
  Ref: https://learn.microsoft.com/azure/network-watcher/vnet-flow-logs-overview
  Ref: https://learn.microsoft.com/azure/network-watcher/network-watcher-create
- The artifact account's blob reads, writes and deletes (components/data/azure.py sends them here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pulumi
import pulumi_azure_native.monitor as monitor
import pulumi_azure_native.network as network
import pulumi_azure_native.operationalinsights as operationalinsights
import pulumi_azure_native.storage as storage
import pulumi_random as random

from .. import azure_keys, names
from ..azure_lock import delete_lock
from .outputs import audit_log_days

# Ref: https://learn.microsoft.com/azure/network-watcher/network-watcher-create#network-watcher-is-automatically-enabled
NETWORK_WATCHER_GROUP = "NetworkWatcherRG"


def network_watcher(location: str) -> str:
    return f"NetworkWatcher_{location}"


@dataclass(frozen=True)
class AuditTrail:
    workspace: operationalinsights.Workspace
    flow_log: network.FlowLog


def audit_categories(prod: bool) -> list[str]:
    """The AKS resource-log categories kept: all requests in prod, the writes elsewhere."""
    return ["kube-audit" if prod else "kube-audit-admin", "guard"]


def audit_trail(name: str, env: str, location: str, resource_group: pulumi.Output[str], cluster: Any, vnet: Any,
                prod: bool, protect: bool, tags: Mapping[str, str], child: Callable[..., pulumi.ResourceOptions],
                key_vault: Any = None, subscription_id: Any = None) -> AuditTrail:
    """The workspace, the cluster's diagnostic setting and the VNet's flow log (`child` gives each
    resource's options: parent and provider). With `protect` (prod), the flow logs' account is
    protected and locked as the stack's data is: an audit trail nobody can quietly delete. With the
    stack's `key_vault` (prod), that account is under a key of its own, as the artifact account is."""
    days = audit_log_days(prod)
    workspace = operationalinsights.Workspace(
        f"{name}-logs",
        workspace_name=f"{names.cluster_name(env)}-logs",
        resource_group_name=resource_group,
        location=location,
        sku={"name": "PerGB2018"},
        retention_in_days=days,
        tags=dict(tags),
        opts=child(protect=protect),
    )
    if protect:
        delete_lock(f"{name}-logs-lock", "audit-logs", workspace, child(workspace))
    monitor.DiagnosticSetting(
        f"{name}-aks-audit",
        name="mlops-audit",
        resource_uri=cluster.id,
        workspace_id=workspace.id,
        # Resource-specific tables (AKSAudit, AKSAuditAdmin) rather than the shared AzureDiagnostics one.
        log_analytics_destination_type="Dedicated",
        logs=[{"category": category, "enabled": True} for category in audit_categories(prod)],
        opts=child(cluster),
    )
    # Storage account names are global: a random suffix, as the artifact account's.
    suffix = random.RandomString(f"{name}-flow-logs-suffix", length=8, special=False, upper=False,
                                 opts=pulumi.ResourceOptions(parent=child().parent))
    encryption, key_ready = ({}, []) if key_vault is None else azure_keys.storage_encryption(
        f"{name}-flow-logs", "flow-logs", key_vault, resource_group, location, env, protect, subscription_id, child())
    flow_store = storage.StorageAccount(
        f"{name}-flow-logs",
        account_name=suffix.result.apply(lambda s: names.storage_account(env, "fl" + s)),
        resource_group_name=resource_group,
        location=location,
        kind="StorageV2",
        sku={"name": "Standard_LRS"},
        minimum_tls_version="TLS1_2",
        enable_https_traffic_only=True,
        allow_blob_public_access=False,
        # Network Watcher writes as a trusted service; nothing else reaches the account.
        network_rule_set={"default_action": "Deny", "bypass": "AzureServices"},
        **encryption,
        tags=dict(tags),
        opts=child(*key_ready, protect=protect),
    )
    if protect:
        delete_lock(f"{name}-flow-logs-lock", "flow-logs", flow_store, child(flow_store))
    flow_log = network.FlowLog(
        f"{name}-vnet-flow-log",
        flow_log_name=f"{names.cluster_name(env)}-vnet",
        network_watcher_name=network_watcher(location),
        resource_group_name=NETWORK_WATCHER_GROUP,
        location=location,
        target_resource_id=vnet.id,
        storage_id=flow_store.id,
        enabled=True,
        format={"type": "JSON", "version": 2},
        retention_policy={"days": days, "enabled": True},
        flow_analytics_configuration={"network_watcher_flow_analytics_configuration": {
            "enabled": True, "workspace_id": workspace.customer_id, "workspace_region": location,
            "workspace_resource_id": workspace.id, "traffic_analytics_interval": 60}},
        tags=dict(tags),
        opts=child(vnet),
    )
    return AuditTrail(workspace=workspace, flow_log=flow_log)
