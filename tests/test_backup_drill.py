"""The backup drill against the real services on loopback: a PostgreSQL (Debian's package), an
`mlflow server` on it at the pinned version, and moto in server mode as the S3 artifact store.

A team's work is logged through MLflow (experiments, runs with metrics and artifacts, registered
model versions); a backup is taken; then disaster: runs are added and deleted, artifacts overwritten,
deleted and added, and finally the database is dropped. Each restore must bring back exactly what
MLflow held and the artifacts' bytes, while the server keeps running.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from support.drill import log_work, mlflow_server, snapshot

BUCKET = "drill-artifacts"
DATABASE = "mlflow_drill"


@pytest.fixture()
def drill(postgres, moto_endpoint, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto_endpoint)
    with mlflow_server(postgres, DATABASE, BUCKET, tmp_path) as base:
        yield {"url": base, "s3": s3}


def _target(postgres: Any, s3: Any, url: str, stack: str = "mlops-platform/local") -> Any:
    from mlops_platform.cli.backup.operations import Target
    from mlops_platform.cli.backup.postgres import Dumped, Server
    from mlops_platform.cli.registry import Registry
    from mlops_platform.components.data.backup_kit.objects import Bucket

    return Target(stack=stack, cloud="local", env="dev", bucket=Bucket(s3, BUCKET),
                  database=Dumped(Server("127.0.0.1", postgres.port, "postgres", "", sslmode="disable"), DATABASE),
                  mlflow=Registry(url))


def test_the_drill_restores_exactly_what_mlflow_held_and_the_artifacts_bytes(drill, postgres, tmp_path):
    from mlflow.tracking import MlflowClient

    from mlops_platform.cli.backup.operations import restore, take_backup
    from mlops_platform.components.data.backup_kit.catalog import find, list_backups

    url, s3 = drill["url"], drill["s3"]
    log_work(url, tmp_path)
    # Deleted before the backup: its delete marker is the latest version, so it is not recorded.
    s3.put_object(Bucket=BUCKET, Key="mlflow/gone/file.txt", Body=b"deleted before the backup")
    s3.delete_object(Bucket=BUCKET, Key="mlflow/gone/file.txt")
    before = snapshot(url, s3, BUCKET)
    assert len(before["runs"]) == 6 and len(before["versions"]) == 4 and len(before["objects"]) == 12
    target = _target(postgres, s3, url)
    record, seconds = take_backup(target, lambda line: None, {"platform": "0.1.0", "mlflow": "3.15.1"})
    assert (record.counts.experiments, record.counts.runs, record.counts.model_versions) == (3, 6, 4)  # with Default
    assert record.database.kind == "pg_dump" and record.database.schema_revision
    assert record.artifacts.mode == "versions" and record.artifacts.objects == 12
    assert [r.id for r in list_backups(target.bucket)] == [record.id]

    # Disaster, part one: work after the backup, a deleted run, artifacts overwritten, deleted, added.
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    late = client.create_run(client.get_experiment_by_name("team-1").experiment_id, run_name="after-the-backup")
    client.log_metric(late.info.run_id, "loss", 9.9)
    client.delete_run(next(iter(before["runs"])))
    keys = sorted(before["objects"])
    s3.put_object(Bucket=BUCKET, Key=keys[0], Body=b"overwritten")
    s3.delete_object(Bucket=BUCKET, Key=keys[1])
    s3.put_object(Bucket=BUCKET, Key="mlflow/stray/file.txt", Body=b"after the backup")
    assert snapshot(url, s3, BUCKET) != before

    report = restore(target, find(target.bucket, record.id), lambda line: None)
    assert snapshot(url, s3, BUCKET) == before
    assert report.artifacts.restored == 2 and report.artifacts.removed == 1 and report.artifacts.unchanged == 10
    # The database it replaced is kept, with the run logged after the backup.
    assert report.kept_database and postgres.sql(
        "SELECT count(*) FROM runs WHERE name = 'after-the-backup'", report.kept_database) == "1"

    # Disaster, part two: the database is gone.
    postgres.sql(f'DROP DATABASE "{DATABASE}" WITH (FORCE)')
    second = restore(target, find(target.bucket, record.id), lambda line: None)
    assert second.kept_database is None
    assert snapshot(url, s3, BUCKET) == before

    # A dump changed in the bucket is refused before any database is made.
    from mlops_platform.components.data.backup_kit.errors import BackupFailed

    databases = postgres.sql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
    s3.put_object(Bucket=BUCKET, Key=record.database.ref, Body=b"not the dump")
    with pytest.raises(BackupFailed, match="checksum"):
        restore(target, find(target.bucket, record.id), lambda line: None)
    assert postgres.sql("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database") == databases

    # A restore that does not bring back what the record says MLflow held fails (exit 1 in the CLI).
    again, _ = take_backup(target, lambda line: None, {"platform": "0.1.0", "mlflow": "3.15.1"})
    key = f"{again.folder}record.json"
    document = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    document["counts"]["runs"] += 1
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())
    with pytest.raises(BackupFailed, match="6 runs, 4 model versions after the restore, but the backup recorded 3 experiments, 7 runs"):
        restore(target, find(target.bucket, again.id), lambda line: None)



# --- the local stack's scheduled backup, as its CronJob runs it -----------------------------------


def _backup_pod(stack_config) -> tuple[dict[str, Any], dict[str, str]]:
    """The backup CronJob's pod and the kit's files, as the local stack's program declares them."""
    from mlops_platform.planner.harness import plan_platform

    by_name = {r.name: r for r in plan_platform(stack_config("local-dev")).resources}
    spec = by_name["mlops-data-backup"].inputs["spec"]
    return spec["jobTemplate"]["spec"]["template"]["spec"], by_name["mlops-data-backup-kit"].inputs["data"]


def test_the_local_backup_cronjob_takes_a_backup_the_cli_restores(postgres, moto_endpoint, tmp_path, stack_config, monkeypatch):
    """The CronJob's own containers, run on loopback (tests/support/local_jobs.py) against a real
    MLflow: a copy-mode backup (SeaweedFS has no versioning) whose SQL counts match what MLflow's API
    lists, then restored by the CLI's pg_dump path."""
    import boto3
    from mlflow.tracking import MlflowClient

    from mlops_platform.cli.backup.operations import restore
    from mlops_platform.components.data.backup_kit.catalog import find, list_backups
    from mlops_platform.components.data.local import BUCKET as BUCKET_LOCAL
    from support.local_jobs import Loopback
    from support.postgres import postgres_bin

    pod, kit = _backup_pod(stack_config)
    (dump,), (store,) = pod["initContainers"], pod["containers"]
    env = {e["name"]: e["value"] for e in store["env"]}
    assert "sizeLimit" not in dump["command"][2] and env["BACKUP_FOLDER"] == "/backup"
    assert store["command"][:1] == ["python"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET_LOCAL)  # unversioned, as SeaweedFS's
    postgres.sql("DO $$ BEGIN CREATE ROLE mlflow LOGIN SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto_endpoint)
    with mlflow_server(postgres, "mlflow", BUCKET_LOCAL, tmp_path) as base:
        log_work(base, tmp_path, experiments=1, runs=3)
        client = MlflowClient(tracking_uri=base, registry_uri=base)
        client.delete_model_version("model-0", "2")  # deleted versions are not counted, by either side
        import mlflow

        mlflow.set_tracking_uri(base)
        mlflow.set_registry_uri(base)
        mlflow.genai.register_prompt(name="greeting", template="Hello {{name}}")  # a prompt is a model version too
        before = snapshot(base, s3, BUCKET_LOCAL)

        (tmp_path / "pods").mkdir()
        ran = Loopback(tmp_path / "pods", kit, postgres.port, postgres_bin(), {"AWS_ENDPOINT_URL": moto_endpoint}).run_pod(pod)
        assert [(r.name, r.code) for r in ran] == [("dump", 0), ("store", 0)], ran[-1].log
        backup_id = json.loads(next(line for line in ran[-1].log.splitlines() if line.startswith("{")))["backup"]

        target = _target(postgres, s3, base, stack="mlops-platform/local")
        target = type(target)(**{**target.__dict__, "bucket": type(target.bucket)(s3, BUCKET_LOCAL),
                                 "database": type(target.database)(target.database.server, "mlflow"),
                                 "stack": env["BACKUP_STACK"]})
        (record,) = list_backups(target.bucket)
        assert record.id == backup_id and record.artifacts.mode == "copy" and record.artifacts.objects == len(before["objects"])

        s3.put_object(Bucket=BUCKET_LOCAL, Key=sorted(before["objects"])[0], Body=b"overwritten")
        postgres.sql('DROP DATABASE "mlflow" WITH (FORCE)')
        restore(target, find(target.bucket, backup_id), lambda line: None)  # raises unless MLflow lists what the dump's counts say
        assert snapshot(base, s3, BUCKET_LOCAL) == before


def test_the_cronjob_runs_daily_at_the_stack_files_utc_time(stack_config):
    from mlops_platform.planner.harness import plan_platform

    config = stack_config("local-dev")
    config = config.model_copy(update={"backup": config.backup.model_copy(update={"schedule": "22:05", "retention_days": 9})})
    by_name = {r.name: r for r in plan_platform(config).resources}
    spec = by_name["mlops-data-backup"].inputs["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("5 22 * * *", "Etc/UTC", "Forbid")
    env = {e["name"]: e["value"] for e in spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["BACKUP_RETENTION_DAYS"] == "9" and env["BACKUP_STACK"] == config.stack_name


def test_the_job_removes_backups_past_the_retention_but_never_the_newest(moto_endpoint):
    from datetime import datetime, timedelta, timezone

    import boto3

    from mlops_platform.components.data.backup_kit.job import prune
    from mlops_platform.components.data.backup_kit.objects import Bucket
    from mlops_platform.components.data.backup_kit.record import new_id

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="kept-days")
    bucket = Bucket(s3, "kept-days")
    now = datetime(2026, 12, 5, 3, 0, tzinfo=timezone.utc)
    ids = {}
    for age in (1, 6, 8, 30):
        moment = now - timedelta(days=age)
        ids[age] = new_id(moment)
        record = {"id": ids[age], "created": moment.isoformat(), "stack": "s", "cloud": "local", "env": "dev",
                  "platformVersion": "0", "mlflowVersion": "3", "counts": {"experiments": 0, "runs": 0, "modelVersions": 0},
                  "database": {"kind": "pg_dump", "ref": "x", "source": "mlflow", "bytes": 1},
                  "artifacts": {"mode": "copy", "manifest": "m", "objects": 0, "bytes": 0}}
        s3.put_object(Bucket="kept-days", Key=f"backups/{ids[age]}/record.json", Body=json.dumps(record).encode())
        s3.put_object(Bucket="kept-days", Key=f"backups/{ids[age]}/database.dump", Body=b"dump")
    s3.put_object(Bucket="kept-days", Key="mlflow/1/artifact", Body=b"kept")
    removed = prune(bucket, 7, now, keep=ids[30])
    assert sorted(removed) == sorted([ids[8]])
    left = sorted(bucket.keys(""))
    assert f"backups/{ids[8]}/database.dump" not in left and f"backups/{ids[30]}/record.json" in left
    assert f"backups/{ids[6]}/record.json" in left and "mlflow/1/artifact" in left
