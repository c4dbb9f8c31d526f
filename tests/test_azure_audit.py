"""The Azure audit trail the program plans (components/cluster/azure_audit.py): the AKS control
plane's audit log, the VNet's flow log and the artifact account's blob access log, all in the
stack's Log Analytics workspace; prod keeps every request and for 90 days."""

from __future__ import annotations

import pytest

from support import one

WORKSPACE = "azure-native:operationalinsights:Workspace"
DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"


def _targets(record) -> set[str]:
    return {getattr(d, "urn", d) for d in record.property_dependencies.get("resourceUri", [])}


@pytest.mark.parametrize("stack, audit, days", [("azure-dev", "kube-audit-admin", 30), ("azure-prod", "kube-audit", 90)])
def test_the_control_plane_audit_log_goes_to_the_stacks_workspace(planned, stack, audit, days):
    run = planned(stack)
    workspace = one(run, WORKSPACE)
    assert workspace.input("retentionInDays") == days and workspace.input("sku") == {"name": "PerGB2018"}
    cluster = one(run, "azure-native:containerservice:ManagedCluster")
    (setting,) = [s for s in run.of_type(DIAGNOSTICS) if cluster.urn in _targets(s)]
    assert {log["category"] for log in setting.input("logs") if log["enabled"]} == {audit, "guard"}
    assert workspace.urn in {getattr(d, "urn", d) for d in setting.property_dependencies["workspaceId"]}


def test_the_vnet_flow_log_is_kept_under_the_regions_network_watcher(planned):
    run = planned("azure-prod")
    flow_log = one(run, "azure-native:network:FlowLog")
    vnet = one(run, "azure-native:network:VirtualNetwork")
    account = one(run, "azure-native:storage:StorageAccount", "-flow-logs")
    assert flow_log.input("enabled") is True and flow_log.input("retentionPolicy") == {"days": 90, "enabled": True}
    assert flow_log.input("networkWatcherName") == "NetworkWatcher_eastus" and flow_log.input("resourceGroupName") == "NetworkWatcherRG"
    deps = {prop: {getattr(d, "urn", d) for d in ds} for prop, ds in flow_log.property_dependencies.items()}
    assert vnet.urn in deps["targetResourceId"] and account.urn in deps["storageId"]
    assert account.input("networkRuleSet") == {"defaultAction": "Deny", "bypass": "AzureServices"}
    analytics = flow_log.input("flowAnalyticsConfiguration")["networkWatcherFlowAnalyticsConfiguration"]
    assert analytics["enabled"] is True and analytics["trafficAnalyticsInterval"] == 60


def test_every_blob_read_write_and_delete_of_the_artifacts_is_logged(planned):
    run = planned("azure-dev")
    account = one(run, "azure-native:storage:StorageAccount", "-storage")
    (setting,) = [s for s in run.of_type(DIAGNOSTICS) if account.urn in _targets(s)]
    assert setting.input("resourceUri").endswith("/blobServices/default")
    assert {log["category"] for log in setting.input("logs")} == {"StorageRead", "StorageWrite", "StorageDelete"}
