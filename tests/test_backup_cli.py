"""`platform backup`, `backups list` and `restore` on an AWS stack, through the engine stand-in (it
hands out the stack's outputs), moto in server mode (S3 and RDS) and a real `mlflow server` on
loopback: the RDS path (snapshot, restore from the snapshot, the switch by identifier) and every
refusal, each one line with nothing changed."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from support import AWS_BUCKET, AWS_INSTANCE, OLD_MLFLOW_SCHEMA
from support.cli import refused

BUCKET, INSTANCE = AWS_BUCKET, AWS_INSTANCE
STACK = "aws-dev"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _instances(rds: Any) -> list[str]:
    return sorted(i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"])


def _backup(aws: dict[str, Any]) -> str:
    result = invoke("backup", "--cloud", "aws")
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_backup_snapshots_rds_records_versions_and_restore_switches_by_identifier(aws_stack, monkeypatch):
    import botocore.client

    s3, rds = aws_stack["s3"], aws_stack["rds"]
    # What the CLI asks RDS for: a restored instance has IAM logins off unless asked (moto copies the
    # snapshot's setting instead). Ref: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBInstanceFromDBSnapshot.html
    sent: list = []
    call = botocore.client.BaseClient._make_api_call
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call",
                        lambda client, operation, params: sent.append((operation, params)) or call(client, operation, params))
    backup_id = _backup(aws_stack)
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier=INSTANCE, SnapshotType="manual")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"] for s in snapshots] == [f"{INSTANCE}-{backup_id}"]
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=f"backups/{backup_id}/record.json")["Body"].read())
    assert record["stack"] == STACK and record["database"]["kind"] == "rds-snapshot"
    assert record["database"]["iamLogin"] == "mlops-dev-mlflow", "the snapshot holds MLflow's IAM user"
    from importlib.metadata import version

    from mlops_platform.components import versions

    assert (record["platformVersion"], record["mlflowVersion"]) == (version("mlops-platform"), versions.MLFLOW_IMAGE.tag)
    assert record["counts"] == {"experiments": 2, "runs": 3, "modelVersions": 1}
    assert record["artifacts"] == {"mode": "versions", "manifest": f"backups/{backup_id}/artifacts.json", "objects": 3,
                                   "bytes": 21}

    listed = invoke("backups", "list", "--cloud", "aws", "--json")
    assert listed.exit_code == 0, listed.output
    assert [b["id"] for b in json.loads(listed.stdout)["backups"]] == [backup_id]

    s3.put_object(Bucket=BUCKET, Key="mlflow/1/run0/artifacts/model.bin", Body=b"overwritten")
    s3.put_object(Bucket=BUCKET, Key="mlflow/1/late/artifacts/model.bin", Body=b"after the backup")
    result = invoke("restore", "--cloud", "aws", "--from", backup_id, "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["artifacts"] == {"restored": 1, "removed": 1, "unchanged": 2}
    kept = report["keptDatabase"]
    assert kept.startswith(f"{INSTANCE}-before-") and _instances(rds) == sorted([INSTANCE, kept])
    # The instance now named mlops-dev is the one restored from the snapshot.
    live = rds.describe_db_instances(DBInstanceIdentifier=INSTANCE)["DBInstances"][0]
    assert live["DBInstanceClass"] == "db.t4g.micro"
    assert live["IAMDatabaseAuthenticationEnabled"] is True, "MLflow's token login still works on the restored instance"
    [restore] = [params for operation, params in sent if operation == "RestoreDBInstanceFromDBSnapshot"]
    assert restore["EnableIAMDatabaseAuthentication"] is True
    assert report["restoredDatabase"] != INSTANCE and report["restoredDatabase"] not in _instances(rds)
    body = s3.get_object(Bucket=BUCKET, Key="mlflow/1/run0/artifacts/model.bin")["Body"].read()
    assert body == b"model 0"
    assert "late/" not in json.dumps(s3.list_objects_v2(Bucket=BUCKET, Prefix="mlflow/").get("Contents", []), default=str)
    # The lock is gone once the restore is done.
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="backups/.restore-lock")


def test_an_unknown_backup_id_is_refused_and_nothing_changes(aws_stack):
    backup_id = _backup(aws_stack)
    before = _instances(aws_stack["rds"])
    refused(invoke("restore", "--cloud", "aws", "--from", "bk-20200101t000000z-abcdef", "--yes"), "no backup", backup_id)
    refused(invoke("restore", "--cloud", "aws", "--from", "../etc/passwd", "--yes"), "no backup")
    assert _instances(aws_stack["rds"]) == before


def test_another_stacks_backup_needs_force(aws_stack):
    s3 = aws_stack["s3"]
    backup_id = _backup(aws_stack)
    key = f"backups/{backup_id}/record.json"
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({**record, "stack": "aws-prod"}).encode())
    before = _instances(aws_stack["rds"])
    refused(invoke("restore", "--cloud", "aws", "--from", backup_id, "--yes"), "aws-prod", "--force")
    assert _instances(aws_stack["rds"]) == before
    forced = invoke("restore", "--cloud", "aws", "--from", backup_id, "--yes", "--force")
    assert forced.exit_code == 0, forced.output


def test_a_restore_while_one_runs_isrefused(aws_stack):
    s3 = aws_stack["s3"]
    backup_id = _backup(aws_stack)
    s3.put_object(Bucket=BUCKET, Key="backups/.restore-lock", Body=b'{"backup": "bk-other", "host": "ci-runner"}')
    before = _instances(aws_stack["rds"])
    refused(invoke("restore", "--cloud", "aws", "--from", backup_id, "--yes"), "already running", "ci-runner")
    assert _instances(aws_stack["rds"]) == before
    # The other restore's lock is not taken away.
    assert b"ci-runner" in s3.get_object(Bucket=BUCKET, Key="backups/.restore-lock")["Body"].read()


def test_a_missing_database_instance_is_one_line(aws_stack):
    aws_stack["rds"].delete_db_instance(DBInstanceIdentifier=INSTANCE, SkipFinalSnapshot=True)
    refused(invoke("backup", "--cloud", "aws"), INSTANCE)
    assert "Contents" not in aws_stack["s3"].list_objects_v2(Bucket=BUCKET, Prefix="backups/")


def test_a_restore_needs_confirmation_or_yes(aws_stack):
    backup_id = _backup(aws_stack)
    refused(invoke("restore", "--cloud", "aws", "--from", backup_id), "--yes")


def test_an_azure_stack_without_its_cluster_in_its_outputs_is_refused(project, standin_engine):
    """Azure's backups run in its cluster (tests/test_azure_backup.py), reached by its kubeconfig."""
    fake = standin_engine(state=True)
    fake.stacks({"azure-dev": {"outputs": {"endpoints": {"mlflow": "http://127.0.0.1:9"},
                                           "data": {"store": "azure", "bucket": "mlopsartifacts", "database": {}}},
                               "secrets": [], "resources": []}})
    refused(invoke("backup", "--cloud", "azure"), "no kubeconfig", "platform up --cloud azure --env dev")




def _deployed_with_old_mlflow(fake: Any, stack: str, extra: dict[str, Any]) -> None:
    outputs = json.loads((fake.root / "stacks.json").read_text())[stack]["outputs"] if (fake.root / "stacks.json").exists() else {}
    outputs = {**outputs, **extra, "deployment": {"releases": {}, "mlflowSchema": OLD_MLFLOW_SCHEMA}}
    fake.stacks({stack: {"outputs": outputs, "secrets": [], "resources": []}})


def test_up_backs_up_before_it_migrates_mlflows_database(aws_stack):
    fake = aws_stack["fake"]
    _deployed_with_old_mlflow(fake, STACK, {})
    fake.events("up", "up")
    result = invoke("up", "--cloud", "aws", "--yes")
    assert result.exit_code == 0, result.output
    assert "backing it up first" in result.stderr
    keys = [o["Key"] for o in aws_stack["s3"].list_objects_v2(Bucket=BUCKET, Prefix="backups/").get("Contents", [])]
    assert any(k.endswith("/record.json") for k in keys), keys
    assert fake.ran("up")


def test_up_stops_before_the_engine_when_that_backup_fails(aws_stack):
    fake = aws_stack["fake"]
    _deployed_with_old_mlflow(fake, STACK, {})
    aws_stack["rds"].delete_db_instance(DBInstanceIdentifier=INSTANCE, SkipFinalSnapshot=True)
    result = invoke("up", "--cloud", "aws", "--yes")
    refused(result, "backup before MLflow's migration", "nothing was deployed")
    assert not fake.ran("up")


def test_an_azure_up_backs_up_in_the_cluster_first_unless_skipped(project, standin_engine, tmp_path, monkeypatch):
    """Azure's backup runs as a Job in its cluster (tests/test_azure_backup.py): a stack whose
    outputs give no cluster to run it in stops the update, unless the user took their own."""
    from support.cli import azure_cli_on_path

    azure_cli_on_path(tmp_path / "tools", monkeypatch)
    fake = standin_engine(state=True)
    _deployed_with_old_mlflow(fake, "azure-dev", {})
    refused(invoke("up", "--cloud", "azure", "--yes"), "backup before MLflow's migration failed", "no kubeconfig",
            "nothing was deployed")
    assert not fake.ran("up")
    fake.events("up", "up")
    result = invoke("up", "--cloud", "azure", "--yes", "--skip-backup")
    assert result.exit_code == 0, result.output
    assert fake.ran("up")


def test_an_up_that_migrates_nothing_needs_no_backup(project, standin_engine):
    from mlops_platform.components import versions

    fake = standin_engine(state=True)
    fake.stacks({"local-dev": {"outputs": {"deployment": {"releases": {}, "mlflowSchema": versions.MLFLOW_SCHEMA_REVISION}},
                               "secrets": [], "resources": []}})
    fake.events("up", "up")
    result = invoke("up", "--cloud", "local", "--yes")
    assert result.exit_code == 0, result.output
    assert "backing it up" not in result.stderr and fake.ran("up")


DEV_LOGIN = "dev-mlflow-login-7f3a9c"  # dev's MLflow database password (its `credentials` output)
PROD_BUCKET, PROD_INSTANCE = "mlops-prod-artifacts", "mlops-prod"


def _prod_backup(aws_stack: dict[str, Any], mlflow_url: str, dev_login: bool) -> str:
    """prod's bucket and instance beside dev's, both stacks' outputs in the stand-in, and a backup of
    prod taken; dev's outputs carry its database login if `dev_login`."""
    s3, rds, fake = aws_stack["s3"], aws_stack["rds"], aws_stack["fake"]
    s3.create_bucket(Bucket=PROD_BUCKET)
    s3.put_bucket_versioning(Bucket=PROD_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=PROD_BUCKET, Key="mlflow/9/prod/artifacts/model.bin", Body=b"prod model")
    rds.create_db_instance(DBInstanceIdentifier=PROD_INSTANCE, Engine="postgres", DBInstanceClass="db.t4g.medium",
                           AllocatedStorage=50, MasterUsername="mlflow", MasterUserPassword="not-used-here-2")
    stacks = json.loads((fake.root / "stacks.json").read_text())
    stacks["aws-prod"] = {"outputs": {"endpoints": {"mlflow": mlflow_url},
                                      "data": {"store": "s3", "bucket": PROD_BUCKET, "region": "us-east-1",
                                               "database": {"instance": PROD_INSTANCE, "host": "h", "port": 5432, "name": "mlflow"}}},
                          "secrets": [], "resources": []}
    if dev_login:
        stacks["aws-dev"]["outputs"]["credentials"] = {"database_password": DEV_LOGIN}
        stacks["aws-dev"]["secrets"] = ["credentials"]
    fake.stacks(stacks)
    taken = invoke("backup", "--cloud", "aws", "--env", "prod")
    assert taken.exit_code == 0, taken.output
    return taken.stdout.strip()


def _rds_calls(monkeypatch: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every RDS call the CLI's boto3 clients make, with its parameters (botocore's own event hook)."""
    import boto3

    sent: list[tuple[str, dict[str, Any]]] = []
    real = boto3.Session

    def session(*args: Any, **kwargs: Any) -> Any:
        made = real(*args, **kwargs)
        made.events.register("provide-client-params.rds.*",
                             lambda params, model, **_: sent.append((model.name, dict(params))))
        return made

    monkeypatch.setattr(boto3, "Session", session)
    return sent


class Completes:
    """A kubelet whose pods' steps all exit 0 (the RDS CA bundle the schema pod fetches first is on
    the internet; its steps run for real against PostgreSQL in tests/test_backup_gcp.py)."""

    def __init__(self) -> None:
        self.pods: list[Any] = []

    def run_pod(self, pod: Any) -> list[Any]:
        from support.local_jobs import Ran

        self.pods.append(pod)
        return [Ran(c["name"], 0, "") for c in [*pod.get("initContainers", []), *pod["containers"]]]


@pytest.fixture()
def dev_cluster(aws_stack, planned, monkeypatch) -> Iterator[Any]:
    """dev's cluster API on loopback with the program's own `mlflow-db-upgrade` template; its
    kubeconfig in dev's outputs."""
    from support.cluster_jobs import Cluster, cronjobs
    from support.kube import serving

    cronjob = cronjobs(planned("aws-dev").resources, "mlflow")["mlflow-db-upgrade"]
    cluster = Cluster("mlflow", {"mlflow-db-upgrade": cronjob}, Completes())  # type: ignore[arg-type]
    monkeypatch.setattr("mlops_platform.cli.backup.in_cluster.POLL_SECONDS", 0.1)
    with serving(cluster.answer) as kubeconfig:
        fake = aws_stack["fake"]
        stacks = json.loads((fake.root / "stacks.json").read_text())
        stacks["aws-dev"]["outputs"]["kubeconfig"] = kubeconfig
        fake.stacks(stacks)
        yield cluster


def test_a_backup_of_prod_restores_into_another_environment(aws_stack, dev_cluster, mlflow_with_runs, monkeypatch):
    """prod's backup (its snapshot, its bucket's versions) restored into dev: dev's instance and bucket
    take prod's data, MLflow's logins on it are dev's again; prod is untouched."""
    s3, rds = aws_stack["s3"], aws_stack["rds"]
    backup_id = _prod_backup(aws_stack, mlflow_with_runs, dev_login=True)
    # Not found in dev's own bucket; found with --from-env prod.
    refused(invoke("restore", "--cloud", "aws", "--from", backup_id, "--yes"), "no backup")
    refused(invoke("restore", "--cloud", "aws", "--from", backup_id, "--from-env", "dev", "--yes"), "--from-env")
    calls = _rds_calls(monkeypatch)
    result = invoke("restore", "--cloud", "aws", "--from", backup_id, "--from-env", "prod", "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["artifacts"] == {"restored": 1, "removed": 3, "unchanged": 0}
    assert s3.get_object(Bucket=BUCKET, Key="mlflow/9/prod/artifacts/model.bin")["Body"].read() == b"prod model"
    live = rds.describe_db_instances(DBInstanceIdentifier=INSTANCE)["DBInstances"][0]
    assert live["DBInstanceClass"] == "db.t4g.micro"  # dev's size, prod's data
    assert report["keptDatabase"].startswith(f"{INSTANCE}-before-")
    assert PROD_INSTANCE in _instances(rds) and not any(i.startswith(f"{PROD_INSTANCE}-") for i in _instances(rds))
    # The snapshot brought prod's master password: dev's is set on the restored instance before the switch.
    modified = [(n, p) for n, p in calls if n == "ModifyDBInstance"]
    [(_, login)] = [(n, p) for n, p in modified if "MasterUserPassword" in p]
    assert login["DBInstanceIdentifier"].startswith(f"{INSTANCE}-r-") and login["MasterUserPassword"] == DEV_LOGIN
    assert modified.index((_, login)) == 0, "set before the rename that switches MLflow to it"
    assert DEV_LOGIN not in result.output
    # Then, after the switch, the schema Job runs again from its template (MLflow's own login, as the master).
    [job] = dev_cluster.created
    assert job["metadata"]["name"] == "mlflow-db-upgrade-after-restore"
    assert [c["name"] for c in dev_cluster.runner.pods[0]["containers"]] == ["grants"]
    assert result.stderr.index("switching MLflow") < result.stderr.index("giving MLflow its own login")


def test_a_backup_of_another_instance_is_refused_where_the_login_cannot_be_set_back(aws_stack, dev_cluster, mlflow_with_runs):
    """dev deployed before its outputs carried the database login: prod's snapshot would leave dev's
    MLflow locked out, so the restore stops before anything is created or moved."""
    rds = aws_stack["rds"]
    backup_id = _prod_backup(aws_stack, mlflow_with_runs, dev_login=False)
    before = _instances(rds)
    refused(invoke("restore", "--cloud", "aws", "--from", backup_id, "--from-env", "prod", "--yes"),
            PROD_INSTANCE, "no database login", "platform up")
    assert _instances(rds) == before
    assert "Contents" not in aws_stack["s3"].list_objects_v2(Bucket=BUCKET, Prefix="backups/.restore-lock")
    assert not dev_cluster.created


def test_missing_rights_are_one_line_and_nothing_is_taken(aws_stack, moto_endpoint, monkeypatch):
    """moto enforcing IAM (its reset-auth switch): credentials that may read the bucket and describe
    the instance but not snapshot it."""
    import urllib.request

    import boto3

    iam = boto3.client("iam")
    iam.create_user(UserName="backup-reader")
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "rds:DescribeDBInstances"], "Resource": "*"}]}
    iam.put_user_policy(UserName="backup-reader", PolicyName="read", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="backup-reader")["AccessKey"]

    def enforce(count: str) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset-auth", data=count.encode(),
                                                      headers={"Content-Type": "text/plain"}, method="POST"), timeout=10).close()

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    enforce("0")
    try:
        refused(invoke("backup", "--cloud", "aws"), "access denied", "rds:CreateDBSnapshot")
    finally:
        enforce("inf")  # moto keeps the switch process-wide
    assert not aws_stack["rds"].describe_db_snapshots(DBInstanceIdentifier=INSTANCE, SnapshotType="manual")["DBSnapshots"]
    assert "Contents" not in aws_stack["s3"].list_objects_v2(Bucket=BUCKET, Prefix="backups/")


def test_restore_from_latest_takes_the_stacks_newest_backup(aws_stack):
    """The newest backup of this stack: not an older one, nor a newer one of another stack in its bucket."""
    s3 = aws_stack["s3"]
    _backup(aws_stack)
    newest = _backup(aws_stack)
    foreign = _backup(aws_stack)
    key = f"backups/{foreign}/record.json"
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({**record, "stack": "aws-prod"}).encode())
    result = invoke("restore", "--cloud", "aws", "--from", "latest", "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["backup"] == newest
