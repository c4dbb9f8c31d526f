"""The Azure data layer's edge: the storage account admits the cluster's subnet (over its service
endpoint) and the public ranges the stack file names, nothing else; prod data carries delete locks."""

from __future__ import annotations

import pytest

from mlops_platform.components.config import ConfigError, PlatformConfig, read_stack_values
from mlops_platform.planner.harness import plan_platform
from support import STACKS, one

ACCOUNT = "azure-native:storage:StorageAccount"
LOCK = "azure-native:authorization:ManagementLockByScope"


def _config(stack: str, **azure: object) -> PlatformConfig:
    values = read_stack_values(STACKS / f"Pulumi.{stack}.yaml")
    values["azure"] = {**values.get("azure", {}), **azure}
    return PlatformConfig.from_values(values, f"{stack} (variant)", stack)


def test_the_store_admits_the_node_subnet_and_the_named_ranges_only():
    run = plan_platform(_config("azure-dev", storageAllowedCidrs=["203.0.113.0/24", "198.51.100.7/32"]))
    account = one(run, ACCOUNT, "-storage")
    rules = account.inputs["networkRuleSet"]
    assert rules["defaultAction"] == "Deny"
    assert [r["iPAddressOrRange"] for r in rules["ipRules"]] == ["203.0.113.0/24", "198.51.100.7"]
    subnet = one(run, "azure-native:network:Subnet", "-nodes-subnet")
    assert subnet.inputs["serviceEndpoints"] == [{"service": "Microsoft.Storage"}]
    assert subnet.urn in account.property_dependencies["networkRuleSet"], "the rule names the node subnet"


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "192.168.1.0/24", "203.0.113.0/31"])
def test_a_range_azure_storage_would_refuse_is_one_line(cidr):
    with pytest.raises(ConfigError, match=r"azure.storageAllowedCidrs.*not a public range"):
        _config("azure-dev", storageAllowedCidrs=[cidr])


def test_prod_data_is_locked_and_dev_data_is_not():
    """The data, and the audit trail (flow logs' account, the Log Analytics workspace)."""
    prod = plan_platform(_config("azure-prod"))
    locks = prod.of_type(LOCK)
    assert {lock.inputs["level"] for lock in locks} == {"CanNotDelete"} and len(locks) == 4
    targets = {urn for lock in locks for urn in lock.property_dependencies["scope"]}
    assert targets == {one(prod, ACCOUNT, "-storage").urn, one(prod, "azure-native:dbforpostgresql:Server", "-postgres").urn,
                       one(prod, ACCOUNT, "-flow-logs").urn, one(prod, "azure-native:operationalinsights:Workspace", "-logs").urn}
    assert all(record.protect for record in (one(prod, ACCOUNT, "-flow-logs"), one(prod, "azure-native:operationalinsights:Workspace", "-logs")))
    assert plan_platform(_config("azure-dev")).of_type(LOCK) == []
