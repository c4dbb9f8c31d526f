"""`platform destroy --keep-data` and the `up` that adopts what it kept, on an AWS stack: the program
imports the kept bucket and creates the database from the kept snapshot (under the SDK's mocks); the
commands back up, take the bucket out of the state, record both in the stack file and adopt them
again, through the engine stand-in, moto in server mode and a real `mlflow server` (conftest's
aws_stack); every refusal is one line with nothing touched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components.config import PlatformConfig, read_stack_values, stack_values_from_text
from mlops_platform.planner.harness import plan_platform
from support import AWS_BUCKET as BUCKET
from support import AWS_INSTANCE as INSTANCE
from support import STACKS
from support.cli import destroyed_keeping_data, refused

STACK = "aws-dev"
# What destroy --keep-data records of an Azure stack (tests/test_keep_data_azure.py).
AZURE_KEPT = {"bucket": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mlops-dev-rg/providers/"
                        "Microsoft.Storage/storageAccounts/mlopsdevab12cd34",
              "databaseDump": "backups/bk-20261206t010203z-abcdef/database.dump", "backup": "bk-20261206t010203z-abcdef"}


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def variant(**changes: Any) -> PlatformConfig:
    values = read_stack_values(STACKS / f"Pulumi.{STACK}.yaml")
    return PlatformConfig.from_values({**values, **changes}, f"{STACK} (variant)", STACK)


def one(run: Any, type_token: str, suffix: str = "") -> Any:
    (found,) = [r for r in run.of_type(type_token) if r.name.endswith(suffix)]
    return found


def test_aws_data_kept_by_destroy_is_adopted_not_created(planned):
    """With platform:keptData (what destroy --keep-data writes), the bucket and its six settings are
    imported by the bucket's name and the database is created from the snapshot; nothing else is
    imported, and a later update without the record replaces neither."""
    kept = {"bucket": "mlops-dev-artifacts-kept1", "databaseSnapshot": "mlops-dev-bk-20261206t010203z-abcdef",
            "backup": "bk-20261206t010203z-abcdef"}
    aws_dev = planned("aws-dev")
    adopting = plan_platform(variant(keptData=kept))
    imported = {r.type.split(":")[-1]: r.import_id for r in adopting.resources if r.import_id}
    assert imported == dict.fromkeys(("Bucket", "BucketPublicAccessBlock", "BucketOwnershipControls",
                                      "BucketServerSideEncryptionConfiguration", "BucketVersioning",
                                      "BucketLifecycleConfiguration", "BucketPolicy"), kept["bucket"])
    from mlops_platform.cli.backup.keep import BUCKET_TYPES

    # What destroy --keep-data takes out of the state is exactly what the program imports back.
    assert {r.type for r in adopting.resources if r.import_id} == set(BUCKET_TYPES["aws"])
    bucket = one(adopting, "aws:s3/bucket:Bucket", "-artifacts")
    assert bucket.input("bucket") == kept["bucket"] and bucket.input("bucketPrefix") is None
    assert one(adopting, "aws:rds/instance:Instance").input("snapshotIdentifier") == kept["databaseSnapshot"]
    # Without the record: created as before, and the fields that differ between the two runs (the
    # name, the snapshot) are ignored after creation, so neither run's state is replaced by the other.
    assert not [r for r in aws_dev.resources if r.import_id]
    plain_bucket, plain_db = one(aws_dev, "aws:s3/bucket:Bucket", "-artifacts"), one(aws_dev, "aws:rds/instance:Instance")
    assert plain_bucket.input("bucketPrefix") == "mlops-dev-artifacts-" and plain_db.input("snapshotIdentifier") is None
    assert {"bucket", "bucketPrefix"} <= set(plain_bucket.ignore_changes)
    assert "snapshotIdentifier" in plain_db.ignore_changes
    assert "forceDestroy" in bucket.ignore_changes and "forceDestroy" not in plain_bucket.ignore_changes


# As the engine writes them: each type after its parents' (the platform, then the data component).
URN = f"urn:pulumi:{STACK}::mlops-platform::mlops:platform:MlopsPlatform$mlops:data:AwsData$"
BUCKET_PARTS = ("aws:s3/bucket:Bucket::mlops-data-artifacts",
                "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock::mlops-data-artifacts-public-access",
                "aws:s3/bucketOwnershipControls:BucketOwnershipControls::mlops-data-artifacts-ownership",
                "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration::mlops-data-artifacts-encryption",
                "aws:s3/bucketVersioning:BucketVersioning::mlops-data-artifacts-versioning",
                "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration::mlops-data-artifacts-lifecycle",
                "aws:s3/bucketPolicy:BucketPolicy::mlops-data-artifacts-tls-only")


def _deployed_state() -> list[dict[str, Any]]:
    """The part of an AWS stack's state destroy --keep-data works on: the bucket and its settings
    (each with the bucket's name as id), a role policy that reads the bucket, the database, another bucket."""
    bucket_urn = URN + BUCKET_PARTS[0]
    state = [{"urn": URN + part, "type": part.split("::")[0], "id": BUCKET, "custom": True,
              "dependencies": [] if part == BUCKET_PARTS[0] else [bucket_urn],
              "propertyDependencies": {} if part == BUCKET_PARTS[0] else {"bucket": [bucket_urn]}} for part in BUCKET_PARTS]
    state += [
        {"urn": URN + "aws:iam/rolePolicy:RolePolicy::mlops-data-mlflow-s3", "type": "aws:iam/rolePolicy:RolePolicy",
         "id": "mlflow-s3", "custom": True, "dependencies": [bucket_urn, URN + "aws:iam/role:Role::mlops-data-mlflow-role"],
         "propertyDependencies": {"policy": [bucket_urn]}},
        {"urn": URN + "aws:rds/instance:Instance::mlops-data-postgres", "type": "aws:rds/instance:Instance", "id": INSTANCE,
         "custom": True, "dependencies": []},
        {"urn": URN + "aws:s3/bucket:Bucket::mlops-logs", "type": "aws:s3/bucket:Bucket", "id": "another-bucket", "custom": True},
    ]
    return state


def test_destroy_keep_data_keeps_the_bucket_and_a_snapshot_and_the_next_up_adopts_them(aws_stack, project):
    from mlops_platform.components import names

    s3, rds, fake = aws_stack["s3"], aws_stack["rds"], aws_stack["fake"]
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": names.tag_key("aws", "stack"), "Value": STACK}]})
    stacks = json.loads((fake.root / "stacks.json").read_text())
    stacks[STACK]["resources"] = _deployed_state()
    fake.stacks(stacks)
    fake.events("destroy", "destroy")
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    report, _, before = destroyed_keeping_data(project, "aws")
    kept = report["keptData"]
    snapshot = f"{INSTANCE}-{kept['backup']}"
    assert kept == {"bucket": BUCKET, "databaseSnapshot": snapshot, "backup": kept["backup"]}
    assert [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]] == [snapshot]
    # The bucket and its settings left the state before the engine destroyed anything; the rest stayed,
    # without its references to them.
    (imported,) = fake.imports()
    left = {r["urn"]: r for r in imported["deployment"]["resources"]}
    assert not {URN + part for part in BUCKET_PARTS} & set(left)
    assert URN + "aws:s3/bucket:Bucket::mlops-logs" in left and URN + "aws:rds/instance:Instance::mlops-data-postgres" in left
    policy = left[URN + "aws:iam/rolePolicy:RolePolicy::mlops-data-mlflow-s3"]
    assert policy["dependencies"] == [URN + "aws:iam/role:Role::mlops-data-mlflow-role"]
    assert policy["propertyDependencies"] == {"policy": []}
    commands = [c["args"][:2] for c in fake.calls()]
    assert commands.index(["stack", "import"]) < next(i for i, c in enumerate(commands) if c[0] == "destroy")
    assert "--exclude-protected" not in fake.call("destroy")["args"]
    # The stack file records what the next up adopts; the rest of it is as it was.
    values = stack_values_from_text(stack_file.read_text(), "stack file")
    assert values["keptData"] == kept
    assert {k: v for k, v in values.items() if k != "keptData"} == stack_values_from_text(before, "before")
    # The sweep counts the kept bucket and snapshot (tagged with the stack by the backup) as kept, not left over.
    assert report["sweep"]["clean"] is True
    assert sorted((i["id"], i["kept"]) for i in report["sweep"]["leftovers"]) == [
        (f"arn:aws:rds:us-east-1:123456789012:snapshot:{snapshot}", True), (f"arn:aws:s3:::{BUCKET}", True)]
    assert s3.head_bucket(Bucket=BUCKET)

    # The preview of the next up shows the adoption as imports, nothing replaced.
    fake.events("preview", "preview-adopt")
    shown = invoke("preview", "--cloud", "aws")
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.count("= import") == 3 and "1 to create, 3 to import, 0 to update, 0 to replace" in shown.stdout
    # The next up adopts them, then the record leaves the stack file.
    fake.events("up", "up")
    result = invoke("up", "--cloud", "aws", "--yes")
    assert result.exit_code == 0, result.output
    assert f"adopting what destroy --keep-data kept: bucket {BUCKET}" in result.stderr
    assert "keptData" not in stack_file.read_text()
    assert stack_values_from_text(stack_file.read_text(), "after") == stack_values_from_text(before, "before")


def test_a_failed_up_keeps_the_record_for_the_next(aws_stack, project):
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    from mlops_platform.cli.stack_edit import set_platform_mapping

    kept = {"bucket": BUCKET, "databaseSnapshot": f"{INSTANCE}-snap", "backup": "bk-20261206t010203z-abcdef"}
    stack_file.write_text(set_platform_mapping(stack_file.read_text(), "keptData", kept))
    aws_stack["fake"].events("up", "up-failure")
    aws_stack["fake"].fail("up", "error: update failed\n")
    result = invoke("up", "--cloud", "aws", "--yes")
    assert result.exit_code == 1, result.output
    assert "keptData" in stack_file.read_text()


@pytest.mark.parametrize("cloud,env,words", [
    ("local", "pr-7", ("ephemeral environment", "nothing was destroyed")),
    ("azure", "prod", ("is protected",)),
    ("aws", "prod", ("is protected", "plain `platform destroy` already keeps")),
    ("gcp", "prod", ("is protected",)),
    ("aws", "pr-7", ("ephemeral environment",)),
])
def test_keep_data_is_refused_where_it_cannot_keep_and_nothing_is_touched(project, standin_engine, cloud, env, words):
    fake = standin_engine(state=True)
    result = invoke("destroy", "--cloud", cloud, "--env", env, "--yes", "--keep-data")
    refused(result, "cannot keep the data", *words)
    assert fake.calls() == [] or all(c["args"][:1] == ["version"] for c in fake.calls())


def test_keep_data_stops_before_the_engine_when_the_backup_fails(aws_stack):
    fake = aws_stack["fake"]
    _with_state(fake)
    aws_stack["rds"].delete_db_instance(DBInstanceIdentifier=INSTANCE, SkipFinalSnapshot=True)
    result = invoke("destroy", "--cloud", "aws", "--yes", "--no-drain", "--keep-data")
    assert result.exit_code == 2, result.output
    assert not fake.imports() and not fake.ran("destroy")
    assert "keptData" not in (Path.cwd() / "stacks" / f"Pulumi.{STACK}.yaml").read_text()


def test_releasing_from_the_state_refuses_what_would_leave_it_broken():
    from mlops_platform.cli.engine.state import ReleaseRefused, without

    bucket = URN + BUCKET_PARTS[0]
    child = {"urn": URN + "aws:s3/bucketObject:BucketObject::x", "type": "aws:s3/bucketObject:BucketObject", "parent": bucket}
    with pytest.raises(ReleaseRefused, match="child"):
        without({"resources": [{"urn": bucket}, child]}, [bucket])
    with pytest.raises(ReleaseRefused, match="pending"):
        without({"resources": [{"urn": bucket}], "pending_operations": [{"resource": {"urn": bucket}, "type": "updating"}]},
                [bucket])
    other = {"urn": URN + "aws:iam/rolePolicy:RolePolicy::p", "deletedWith": bucket, "dependencies": [bucket]}
    assert without({"resources": [{"urn": bucket}, other]}, [bucket])["resources"] == [{"urn": other["urn"], "dependencies": []}]


def _with_state(fake: Any) -> None:
    stacks = json.loads((fake.root / "stacks.json").read_text())
    stacks[STACK]["resources"] = _deployed_state()
    fake.stacks(stacks)


def test_a_failed_release_puts_the_stack_file_back_and_destroys_nothing(aws_stack, project):
    fake = aws_stack["fake"]
    _with_state(fake)
    fake.fail("stack-import", "error: the backend is read-only\n")
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    before = stack_file.read_text()
    result = invoke("destroy", "--cloud", "aws", "--yes", "--no-drain", "--keep-data")
    assert result.exit_code == 1, result.output
    assert "read-only" in result.stderr and "Traceback" not in result.output
    assert stack_file.read_text() == before and not fake.ran("destroy")


def test_a_destroy_an_earlier_keep_data_began_goes_on_without_a_second_backup(aws_stack, project):
    from mlops_platform.cli.stack_edit import set_platform_mapping

    fake, rds = aws_stack["fake"], aws_stack["rds"]
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    kept = {"bucket": BUCKET, "databaseSnapshot": f"{INSTANCE}-earlier", "backup": "bk-20261206t010203z-abcdef"}
    stack_file.write_text(set_platform_mapping(stack_file.read_text(), "keptData", kept))
    fake.events("destroy", "destroy")
    result = invoke("destroy", "--cloud", "aws", "--yes", "--no-drain", "--keep-data", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["keptData"] == kept
    assert "earlier destroy --keep-data" in result.stderr
    assert not rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"] and not fake.imports()
    assert fake.ran("destroy")


def test_an_unwritable_stack_file_stops_before_the_release(aws_stack, monkeypatch):
    """The record is written before the bucket leaves the state: were it the other way round, a failed
    write would leave the bucket outside the stack and unrecorded."""
    from mlops_platform.planner import files

    fake = aws_stack["fake"]
    _with_state(fake)

    def read_only(path: Path, text: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files, "write_text", read_only)
    result = invoke("destroy", "--cloud", "aws", "--yes", "--no-drain", "--keep-data")
    assert result.exit_code == 1, result.output
    assert "cannot write Pulumi.aws-dev.yaml: Permission denied" in result.stderr and "Traceback" not in result.output
    assert not fake.imports() and not fake.ran("destroy")


@pytest.mark.parametrize("stack,kept,message", [
    ("local-dev", {"bucket": "mlops-artifacts", "databaseSnapshot": "s", "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData: on local, the kept database is its databaseDump"),
    ("local-dev", {"bucket": "b-kept", "databaseDump": "backups/bk-20261206t010203z-abcdef/database.dump",
                   "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData.bucket: on local, the kept backup goes back into the store's bucket mlops-artifacts"),
    ("aws-dev", {"bucket": "Not_A_Bucket", "databaseSnapshot": "s", "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData.bucket: 'Not_A_Bucket' is not a bucket name or a storage account's resource id"),
    ("aws-dev", {"bucket": "b-kept", "databaseBackup": "projects/my-project/backups/1", "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData: on aws, the kept database is its databaseSnapshot"),
    ("gcp-dev", {"bucket": "b-kept", "databaseSnapshot": "s", "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData: on gcp, the kept database is its databaseBackup"),
    ("gcp-dev", {"bucket": "b-kept", "databaseBackup": "backups/1", "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData.databaseBackup: 'backups/1' is not a Cloud SQL backup name"),
    ("gcp-dev", {"bucket": "b-kept", "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData: names the database as one of databaseSnapshot (AWS), databaseBackup (GCP) or databaseDump (Azure, local)"),
    ("aws-dev", {"bucket": "b-kept", "databaseSnapshot": "ends-", "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData.databaseSnapshot: 'ends-' is not an RDS snapshot identifier"),
    ("aws-dev", {"bucket": "b-kept", "databaseSnapshot": "s", "backup": "latest"},
     "platform:keptData.backup: 'latest' is not a backup id"),
    ("azure-dev", {**AZURE_KEPT, "bucket": "mlops-dev-artifacts-kept1"},
     "platform:keptData.bucket: on azure, the kept store is its storage account's resource id"),
    ("aws-dev", {"bucket": AZURE_KEPT["bucket"], "databaseSnapshot": "s", "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData.bucket: on aws, the kept store is its bucket's name"),
    ("azure-dev", {"bucket": AZURE_KEPT["bucket"], "databaseSnapshot": "s", "backup": "bk-20261206t010203z-abcdef"},
     "platform:keptData: on azure, the kept database is its databaseDump"),
    ("azure-dev", {**AZURE_KEPT, "databaseDump": "backups/latest/database.dump"},
     "platform:keptData.databaseDump: 'backups/latest/database.dump' is not a backup's dump"),
    ("azure-dev", {**AZURE_KEPT, "bucket": AZURE_KEPT["bucket"].replace("mlopsdevab12cd34", "Not_An_Account")},
     "is not a bucket name or a storage account's resource id"),
    ("azure-dev", {**AZURE_KEPT, "bucket": AZURE_KEPT["bucket"].replace("mlops-dev-rg", "mlops-prod-rg")},
     "platform:keptData.bucket: the kept account must be in the stack's resource group mlops-dev-rg"),
])
def test_a_wrong_record_is_one_line_naming_the_key(stack, kept, message):
    from mlops_platform.components.config import ConfigError

    values = read_stack_values(STACKS / f"Pulumi.{stack}.yaml")
    with pytest.raises(ConfigError) as raised:
        PlatformConfig.from_values({**values, "keptData": kept}, "the stack file", stack)
    assert message in str(raised.value) and "\n" not in str(raised.value)


def test_an_import_that_would_replace_the_bucket_is_guarded():
    from pulumi.automation.events import EngineEvent

    from mlops_platform.cli.engine.diff import DiffCollector, guarded

    urn = f"urn:pulumi:{STACK}::mlops-platform::mlops:platform:MlopsPlatform$mlops:data:AwsData$aws:s3/bucket:Bucket::mlops-data-artifacts"
    collector = DiffCollector()
    for op in ("import", "import-replacement"):
        collector(EngineEvent.from_json({"sequence": 1, "timestamp": 0, "resourcePreEvent": {"metadata": {
            "op": op, "urn": urn, "type": "aws:s3/bucket:Bucket", "provider": ""}, "planning": True}}))
        refused = guarded(collector, set())
        assert [s.urn for s in refused] == ([urn] if op == "import-replacement" else []), op
