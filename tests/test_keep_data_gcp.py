"""`platform destroy --keep-data` and the `up` that adopts what it kept, on a GCP stack: the program
imports the kept bucket (under the SDK's mocks); destroy backs up, makes Cloud SQL keep that backup
after the instance, takes the bucket out of the state and records both; the next `up` restores the
kept backup onto the new instance, gives MLflow its logins back and deletes the kept backup. Through
the engine stand-in, a real `mlflow server`, a real PostgreSQL (restored_instance) and the project's
APIs replayed on loopback (tests/support/gcp_world.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components.config import PlatformConfig, read_stack_values, stack_values_from_text
from mlops_platform.planner.harness import plan_platform
from support import STACKS
from support.cli import destroyed_keeping_data
from support.gcp_world import BUCKET, DEV_IAM, INSTANCE, PROJECT, RETAINED, SQL, Gcp, _operation

STACK = "gcp-dev"
URN = f"urn:pulumi:{STACK}::mlops-platform::mlops:platform:MlopsPlatform$mlops:data:GcpData$"
BUCKET_URN = URN + "gcp:storage/bucket:Bucket::mlops-data-artifacts"
DEV_LOGIN = "dev-master-login-41c7e0"  # dev's master password (its `credentials` output)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def one(run: Any, type_token: str, suffix: str) -> Any:
    (found,) = [r for r in run.of_type(type_token) if r.name.endswith(suffix)]
    return found


def test_gcp_data_kept_by_destroy_is_imported_and_the_database_created_empty(planned):
    """With platform:keptData the bucket is imported by its name, and nothing else; the instance is
    created as usual (the CLI restores the kept backup onto it after the update)."""
    kept = {"bucket": "mlops-dev-artifacts-kept1", "databaseBackup": RETAINED, "backup": "bk-20261206t010203z-abcdef"}
    values = read_stack_values(STACKS / f"Pulumi.{STACK}.yaml")
    adopting = plan_platform(PlatformConfig.from_values({**values, "keptData": kept}, f"{STACK} (variant)", STACK))
    assert {(r.type, r.import_id) for r in adopting.resources if r.import_id} == {("gcp:storage/bucket:Bucket", kept["bucket"])}
    from mlops_platform.cli.backup.keep import BUCKET_TYPES

    assert {r.type for r in adopting.resources if r.import_id} == set(BUCKET_TYPES["gcp"])
    bucket = one(adopting, "gcp:storage/bucket:Bucket", "-artifacts")
    assert bucket.input("name") == kept["bucket"]
    assert {"name", "logging", "forceDestroy"} <= set(bucket.ignore_changes)
    # Without the record: the generated name, ignored after creation so neither run replaces the other.
    plain = one(planned(STACK), "gcp:storage/bucket:Bucket", "-artifacts")
    assert plain.input("name").startswith("mlops-dev-artifacts-") and not plain.import_id
    assert "name" in plain.ignore_changes and "logging" not in plain.ignore_changes
    assert len(adopting.of_type("gcp:sql/databaseInstance:DatabaseInstance")) == 1


def _deployed(gcp: Gcp) -> None:
    """The part of the stack's state destroy --keep-data works on: the bucket (its name as id), a
    binding on it, the Cloud SQL instance."""
    stacks = json.loads((gcp.fake.root / "stacks.json").read_text())
    stacks[STACK]["resources"] = [
        {"urn": BUCKET_URN, "type": "gcp:storage/bucket:Bucket", "id": BUCKET, "custom": True, "dependencies": []},
        {"urn": URN + "gcp:storage/bucketIAMMember:BucketIAMMember::mlops-data-mlflow-gcs",
         "type": "gcp:storage/bucketIAMMember:BucketIAMMember", "id": f"b/{BUCKET}", "custom": True,
         "dependencies": [BUCKET_URN], "propertyDependencies": {"bucket": [BUCKET_URN]}},
        {"urn": URN + "gcp:sql/databaseInstance:DatabaseInstance::mlops-data-postgres",
         "type": "gcp:sql/databaseInstance:DatabaseInstance", "id": INSTANCE, "custom": True, "dependencies": []},
    ]
    gcp.fake.stacks(stacks)
    gcp.fake.events("destroy", "destroy")


def test_destroy_keep_data_keeps_the_bucket_and_a_retained_backup(gcp, project):
    _deployed(gcp)
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    report, stderr, before = destroyed_keeping_data(project, "gcp")
    kept = report["keptData"]
    assert kept == {"bucket": BUCKET, "databaseBackup": RETAINED, "backup": kept["backup"]}
    # The instance was set to keep its backups before the engine deleted it; the kept one is this backup's.
    [patch] = gcp.calls("PATCH", SQL)
    assert patch.json() == {"settings": {"retainBackupsOnDelete": True}}
    listing = gcp.calls("GET", f"/v1/projects/{PROJECT}/backups")[0]  # then the sweep's
    assert listing.query["filter"] == [f'instance:"{INSTANCE}"']
    assert gcp.server.seen.index(gcp.calls("POST", "/backupRuns")[0]) < gcp.server.seen.index(patch)
    (imported,) = gcp.fake.imports()
    left = {r["urn"]: r for r in imported["deployment"]["resources"]}
    assert BUCKET_URN not in left and URN + "gcp:sql/databaseInstance:DatabaseInstance::mlops-data-postgres" in left
    assert left[URN + "gcp:storage/bucketIAMMember:BucketIAMMember::mlops-data-mlflow-gcs"]["dependencies"] == []
    assert gcp.fake.ran("destroy") and report["sweep"]["clean"] is True
    # The sweep sees the kept backup, which outlived the instance, as kept (the automated one is not the stack's).
    assert [(i["kind"], i["id"], i["kept"]) for i in report["sweep"]["leftovers"]] == [("Cloud SQL backup", RETAINED, True)]
    values = stack_values_from_text(stack_file.read_text(), "stack file")
    assert values["keptData"] == kept
    assert {k: v for k, v in values.items() if k != "keptData"} == stack_values_from_text(before, "before")
    assert f"Cloud SQL backup {RETAINED}" in stderr


def test_a_backup_cloud_sql_does_not_list_stops_before_anything_is_destroyed(gcp, project):
    _deployed(gcp)
    gcp.server.routes[("GET", f"/v1/projects/{PROJECT}/backups")] = (200, {"backups": []})
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    before = stack_file.read_text()
    result = invoke("destroy", "--cloud", "gcp", "--yes", "--no-drain", "--keep-data")
    assert result.exit_code == 1, result.output
    assert "lists no backup" in result.stderr and "Traceback" not in result.output
    assert not gcp.fake.imports() and not gcp.fake.ran("destroy") and stack_file.read_text() == before


def test_a_bucket_missing_from_the_state_stops_before_the_backup(gcp, project):
    _deployed(gcp)
    stacks = json.loads((gcp.fake.root / "stacks.json").read_text())
    stacks[STACK]["resources"] = [r for r in stacks[STACK]["resources"] if r["urn"] != BUCKET_URN]
    gcp.fake.stacks(stacks)
    before = (project / "stacks" / f"Pulumi.{STACK}.yaml").read_text()
    result = invoke("destroy", "--cloud", "gcp", "--yes", "--no-drain", "--keep-data")
    assert result.exit_code == 1, result.output
    assert f"the bucket {BUCKET} named by the stack's outputs is not in its state" in result.stderr
    assert "platform refresh --cloud gcp --env dev" in result.stderr and "Traceback" not in result.output
    assert not gcp.calls("POST", "/backupRuns") and not gcp.calls("PATCH", SQL), "no backup, no retention"
    assert not gcp.fake.imports() and not gcp.fake.ran("destroy")
    assert (project / "stacks" / f"Pulumi.{STACK}.yaml").read_text() == before


def _kept(gcp: Gcp, project: Any) -> str:
    """A stack as destroy --keep-data left it, brought up again: the backup's record in the kept
    bucket, the record in the stack file, the new stack's outputs with its master login."""
    from mlops_platform.cli.stack_edit import set_platform_mapping

    backup_id = gcp.backup()
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    kept = {"bucket": BUCKET, "databaseBackup": RETAINED, "backup": backup_id}
    stack_file.write_text(set_platform_mapping(stack_file.read_text(), "keptData", kept))
    stacks = json.loads((gcp.fake.root / "stacks.json").read_text())
    stacks[STACK]["outputs"]["credentials"] = {"database_password": DEV_LOGIN}
    stacks[STACK]["secrets"] = ["credentials"]
    gcp.fake.stacks(stacks)
    gcp.fake.events("up", "up")
    return backup_id


def test_the_next_up_restores_the_kept_backup_gives_mlflow_its_logins_and_deletes_it(gcp, restored_instance, project):
    from test_backup_gcp import mlflow_logs_in_as

    _kept(gcp, project)
    result = invoke("up", "--cloud", "gcp", "--yes")
    assert result.exit_code == 0, result.output
    assert gcp.fake.ran("up")
    [restore] = gcp.calls("POST", "/restoreBackup")
    assert restore.path == f"{SQL}/restoreBackup" and restore.json() == {"backup": RETAINED}
    [login] = gcp.calls("PUT", f"{SQL}/users")
    assert login.json() == {"name": "mlflow", "password": DEV_LOGIN}
    [job] = restored_instance["cluster"].created
    assert job["metadata"]["name"] == "mlflow-db-upgrade-after-restore"
    server = restored_instance["server"]
    assert mlflow_logs_in_as(server, DEV_IAM)
    [forget] = gcp.calls("DELETE", RETAINED)
    seen = gcp.server.seen
    assert seen.index(restore) < seen.index(login) < seen.index(forget), "deleted only once its data is back"
    assert "keptData" not in (project / "stacks" / f"Pulumi.{STACK}.yaml").read_text()
    assert DEV_LOGIN not in result.output


def test_a_failed_restore_of_the_kept_backup_keeps_the_record_and_the_backup(gcp, restored_instance, project):
    _kept(gcp, project)
    failed = _operation("op-restore", "DONE", error={"kind": "sql#operationErrors",
                                                     "errors": [{"code": "BACKUP_NOT_FOUND", "message": "no such backup"}]})
    gcp.server.routes[("POST", f"{SQL}/restoreBackup".lower())] = (200, failed)
    result = invoke("up", "--cloud", "gcp", "--yes")
    assert result.exit_code == 1, result.output
    assert "BACKUP_NOT_FOUND" in result.stderr and "Traceback" not in result.output
    assert "keptData" in (project / "stacks" / f"Pulumi.{STACK}.yaml").read_text(), "the next up tries again"
    assert not gcp.calls("DELETE", RETAINED) and not restored_instance["cluster"].created


def test_counts_unlike_the_backups_after_the_restore_exit_1_keeping_the_record_and_the_backup(gcp, restored_instance, project):
    """MLflow is asked after the kept backup is back: what it lists must be what the backup recorded."""
    backup_id = _kept(gcp, project)
    key = f"backups/{backup_id}/record.json"
    record = json.loads(gcp.records[key])
    record["counts"]["runs"] += 1
    gcp.serve(key, json.dumps(record).encode())
    result = invoke("up", "--cloud", "gcp", "--yes")
    assert result.exit_code == 1, result.output
    assert "but the backup recorded 2 experiments, 4 runs" in result.stderr and "Traceback" not in result.output
    assert gcp.calls("POST", "/restoreBackup") and not gcp.calls("DELETE", RETAINED)
    assert "keptData" in (project / "stacks" / f"Pulumi.{STACK}.yaml").read_text(), "the next up tries again"


@pytest.mark.parametrize("answer", [
    (403, {"error": {"code": 403, "message": "not authorized", "errors": [{"reason": "notAuthorized"}]}}),
    (200, _operation("op-forget", "DONE", error={"kind": "sql#operationErrors", "errors": [{"code": "INTERNAL_ERROR"}]})),
])
def test_a_kept_backup_that_cannot_be_deleted_is_a_warning_with_the_command(gcp, restored_instance, project, answer):
    _kept(gcp, project)
    gcp.server.routes[("DELETE", f"/v1/{RETAINED}".lower())] = answer
    result = invoke("up", "--cloud", "gcp", "--yes")
    assert result.exit_code == 0, result.output
    assert "could not be deleted" in result.stderr
    assert f"gcloud sql backups delete {RETAINED.rsplit('/', 1)[-1]} --project {PROJECT}" in result.stderr
    assert "keptData" not in (project / "stacks" / f"Pulumi.{STACK}.yaml").read_text()


@pytest.mark.parametrize("kept", [{"bucket": BUCKET, "databaseBackup": RETAINED, "backup": "bk-20261206t010203z-abcdef"}])
def test_a_destroy_an_earlier_keep_data_began_goes_on_without_a_second_backup(gcp, project, kept):
    from mlops_platform.cli.stack_edit import set_platform_mapping

    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    stack_file.write_text(set_platform_mapping(stack_file.read_text(), "keptData", kept))
    gcp.fake.events("destroy", "destroy")
    result = invoke("destroy", "--cloud", "gcp", "--yes", "--no-drain", "--keep-data", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["keptData"] == kept
    assert not gcp.calls("POST", "/backupRuns") and not gcp.calls("PATCH", SQL) and gcp.fake.ran("destroy")
