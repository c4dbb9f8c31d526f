"""`platform destroy --keep-data` and the `up` that adopts what it kept, on an Azure stack: the
program imports the kept resource group, storage account, blob service settings and container
(under the SDK's mocks); the commands back up in the cluster, take exactly those out of the state,
record them in the stack file, and the next `up` restores the backup's dump into the new server
through the cluster's restore Job and checks MLflow's counts (support/azure_stack.py: a real
PostgreSQL over TLS, Azurite, the pinned `mlflow server`, the engine stand-in); the sweep's ARM
listing is replayed on loopback."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.cli.backup.keep import BUCKET_TYPES, bucket_resources
from mlops_platform.components.config import PlatformConfig, read_stack_values, stack_values_from_text
from mlops_platform.planner.harness import plan_platform
from support import STACKS
from support.cli import azure_cli_on_path, destroyed_keeping_data, up_after_a_late_run
from support.drill import registry

STACK = "azure-dev"
SUB = "00000000-0000-0000-0000-000000000000"
GROUP = f"/subscriptions/{SUB}/resourceGroups/mlops-dev-rg"
ACCOUNT_NAME = "mlopsdevab12cd34"
ACCOUNT = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/{ACCOUNT_NAME}"
BACKUP = "bk-20261206t010203z-abcdef"
KEPT = {"bucket": ACCOUNT, "databaseDump": f"backups/{BACKUP}/database.dump", "backup": BACKUP}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def variant(**changes: Any) -> PlatformConfig:
    values = read_stack_values(STACKS / f"Pulumi.{STACK}.yaml")
    return PlatformConfig.from_values({**values, **changes}, f"{STACK} (variant)", STACK)


def test_azure_data_kept_by_destroy_is_imported_not_created(planned):
    """With platform:keptData, the resource group, the account (by its kept name), its blob service's
    settings and the container are imported by their ids; nothing else is; without the record,
    nothing is imported, and the account's name (fixed at creation) is ignored after it either way."""
    adopting = plan_platform(variant(keptData=KEPT))
    imported = {r.type: r.import_id for r in adopting.resources if r.import_id}
    assert imported == {
        "azure-native:resources:ResourceGroup": GROUP,
        "azure-native:storage:StorageAccount": ACCOUNT,
        "azure-native:storage:BlobServiceProperties": f"{ACCOUNT}/blobServices/default",
        "azure-native:storage:BlobContainer": f"{ACCOUNT}/blobServices/default/containers/mlops-artifacts",
    }
    # What destroy --keep-data takes out of the state is exactly what the program imports back.
    assert set(imported) == set(BUCKET_TYPES["azure"])
    # Each is given the name its id ends with: an import under another name would be a replacement.
    named = {"ResourceGroup": "resourceGroupName", "StorageAccount": "accountName", "BlobServiceProperties": "blobServicesName",
             "BlobContainer": "containerName"}
    for resource in (r for r in adopting.resources if r.import_id):
        assert resource.input(named[resource.type.rsplit(":", 1)[-1]]) == resource.import_id.rsplit("/", 1)[-1], resource.name
    (account,) = [r for r in adopting.resources if r.type == "azure-native:storage:StorageAccount" and r.name == "mlops-data-storage"]
    assert account.input("accountName") == ACCOUNT_NAME and "accountName" in account.ignore_changes
    plain = planned(STACK)
    assert not [r for r in plain.resources if r.import_id]
    (plain_account,) = [r for r in plain.resources if r.name == "mlops-data-storage"]
    assert plain_account.input("accountName") != ACCOUNT_NAME and "accountName" in plain_account.ignore_changes


PLATFORM = f"urn:pulumi:{STACK}::mlops-platform::mlops:platform:MlopsPlatform$"
DATA, CLUSTER = PLATFORM + "mlops:data:AzureData$", PLATFORM + "mlops:cluster:AksCluster$"


def _resource(urn_prefix: str, type_token: str, name: str, resource_id: str, *depends: str) -> dict[str, Any]:
    return {"urn": f"{urn_prefix}{type_token}::{name}", "type": type_token, "id": resource_id, "custom": True,
            "dependencies": list(depends)}


def _deployed_state() -> list[dict[str, Any]]:
    """An Azure stack's state as far as destroy --keep-data is concerned: the group, the account and
    its own parts (ids in another case than the record's, as ARM answers), what sits on the account
    but is not its own (a role assignment, the access logs' diagnostic setting), the flow logs'
    account in the same group, the server."""
    group = _resource(CLUSTER, "azure-native:resources:ResourceGroup", "mlops-cluster-rg", GROUP.replace("resourceGroups", "resourcegroups"))
    account = _resource(DATA, "azure-native:storage:StorageAccount", "mlops-data-storage", ACCOUNT, group["urn"])
    service = f"{ACCOUNT}/blobServices/default"
    return [
        # The cluster's flow logs' account first, as the engine writes the cluster before the data.
        _resource(CLUSTER, "azure-native:storage:StorageAccount", "mlops-cluster-flow-logs",
                  f"{GROUP}/providers/Microsoft.Storage/storageAccounts/mlopsdevfl64935c8b", group["urn"]),
        group, account,
        _resource(DATA, "azure-native:storage:BlobServiceProperties", "mlops-data-blob-service", service, account["urn"]),
        _resource(DATA, "azure-native:storage:BlobContainer", "mlops-data-artifacts", f"{service}/containers/mlops-artifacts",
                  account["urn"]),
        _resource(DATA, "azure-native:authorization:RoleAssignment", "mlops-data-mlflow-blob",
                  f"{ACCOUNT}/providers/Microsoft.Authorization/roleAssignments/1f0c", account["urn"]),
        _resource(DATA, "azure-native:monitor:DiagnosticSetting", "mlops-data-blob-access-logs",
                  f"{service}/providers/microsoft.insights/diagnosticSettings/mlops-audit", account["urn"]),
        _resource(DATA, "azure-native:dbforpostgresql:Server", "mlops-data-postgres",
                  f"{GROUP}/providers/Microsoft.DBforPostgreSQL/flexibleServers/mlops-dev-ab12cd34", group["urn"]),
    ]


KEPT_NAMES = {"mlops-cluster-rg", "mlops-data-storage", "mlops-data-blob-service", "mlops-data-artifacts"}


def test_the_kept_parts_are_the_account_its_own_settings_and_its_group():
    chosen = bucket_resources(_deployed_state(), ACCOUNT, "azure")
    assert {r["urn"].rsplit("::", 1)[-1] for r in chosen} == KEPT_NAMES


def _sweep_sees(replay: Any, monkeypatch: Any, kept_account: str) -> None:
    """The destroy's sweep asks a replay of ARM's `Resources - List`, which answers with the kept
    account (tagged with the stack, as the program tags what it makes)."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy
    from azure.mgmt.resource import ResourceManagementClient

    listed = {"id": kept_account, "name": ACCOUNT_NAME, "type": "Microsoft.Storage/storageAccounts", "location": "eastus",
              "tags": {"mlops-platform-stack": STACK}}
    server = replay({("GET", f"/subscriptions/{SUB}/resources"): (200, {"value": [listed]})})
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUB)
    monkeypatch.setattr("azure.identity.DefaultAzureCredential", lambda: object())
    monkeypatch.setattr("azure.mgmt.resource.ResourceManagementClient", lambda _credential, subscription: ResourceManagementClient(
        object(), subscription, base_url=server.url, authentication_policy=SansIOHTTPPolicy()))


def test_destroy_keep_data_keeps_the_account_and_a_dump_and_the_next_up_restores_it(azure_stack, project, replay, monkeypatch,
                                                                                     tmp_path):
    azure_cli_on_path(tmp_path / "tools", monkeypatch)
    fake, url, blobs = azure_stack["fake"], azure_stack["url"], azure_stack["blobs"]
    stacks = json.loads((fake.root / "stacks.json").read_text())
    stacks[STACK]["resources"] = _deployed_state()
    stacks[STACK]["outputs"]["data"] = {"store": "azure", "account": ACCOUNT_NAME}
    fake.stacks(stacks)
    fake.events("destroy", "destroy")
    _sweep_sees(replay, monkeypatch, ACCOUNT.lower())
    before_work = registry(url)
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"

    report, _, before = destroyed_keeping_data(project, "azure")
    kept = report["keptData"]
    assert kept == {"bucket": ACCOUNT, "databaseDump": f"backups/{kept['backup']}/database.dump", "backup": kept["backup"]}
    assert blobs.get_blob_client(kept["databaseDump"]).exists(), "the dump is in the kept container"
    # Exactly the kept parts left the state before the engine destroyed anything.
    (imported,) = fake.imports()
    left = {r["urn"].rsplit("::", 1)[-1] for r in imported["deployment"]["resources"]}
    assert left == {r["urn"].rsplit("::", 1)[-1] for r in _deployed_state()} - KEPT_NAMES
    commands = [c["args"][:2] for c in fake.calls()]
    assert commands.index(["stack", "import"]) < next(i for i, c in enumerate(commands) if c[0] == "destroy")
    values = stack_values_from_text(stack_file.read_text(), "stack file")
    assert values["keptData"] == kept
    assert {k: v for k, v in values.items() if k != "keptData"} == stack_values_from_text(before, "before")
    # The sweep counts the kept account as kept, not left over (ARM answers its id in lower case).
    assert report["sweep"]["clean"] is True
    assert [(i["id"], i["kept"]) for i in report["sweep"]["leftovers"]] == [(ACCOUNT.lower(), True)]

    # What the new server would hold differs from the backup: a run added after it.
    result = up_after_a_late_run(url, fake, "azure")
    assert f"adopting what destroy --keep-data kept: storage account {ACCOUNT_NAME} and its resource group mlops-dev-rg" in result.stderr
    assert any(job["metadata"]["name"] == "mlflow-restore-run" for job in azure_stack["cluster"].created)
    assert registry(url) == before_work, "MLflow holds what the backup recorded"
    assert "keptData" not in stack_file.read_text()
    assert stack_values_from_text(stack_file.read_text(), "after") == stack_values_from_text(before, "before")


def test_a_failed_restore_of_the_kept_dump_keeps_the_record(azure_stack, project, monkeypatch, tmp_path):
    """A backup the restore Job cannot find (here: the record names one never taken) fails the
    adoption: exit 2 with the record kept, so the next `up` tries again."""
    from mlops_platform.cli.stack_edit import set_platform_mapping

    azure_cli_on_path(tmp_path / "tools", monkeypatch)
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    stack_file.write_text(set_platform_mapping(stack_file.read_text(), "keptData", KEPT))
    azure_stack["fake"].events("up", "up")
    result = invoke("up", "--cloud", "azure", "--yes")
    assert result.exit_code == 2, result.output
    assert BACKUP in result.stderr and "Traceback" not in result.output
    assert "keptData" in stack_file.read_text()
