"""`platform backup`, `backups list` and `restore` on a local stack, end to end. The CLI talks to a
Kubernetes API on loopback (its answers written from the API reference: CronJob, Job, PodList, a
pod's log, Status for 403/404/409) whose Job controller runs each Job's pod as the kubelet would
(tests/support/local_jobs.py): the stack's own CronJob templates and kit, against a real PostgreSQL,
moto's S3 (unversioned, as SeaweedFS) and the pinned `mlflow server` on them.
Ref: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/job-v1/
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components.data.local import BUCKET
from support import OLD_MLFLOW_SCHEMA
from support.drill import snapshot

CRONJOBS = "/apis/batch/v1/namespaces/data/cronjobs/"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _backup() -> str:
    result = invoke("backup", "--cloud", "local")
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip())


def _databases(postgres: Any, like: str) -> list[str]:
    return sorted(filter(None, postgres.sql(f"SELECT datname FROM pg_database WHERE datname LIKE '{like}'").split("\n")))


def test_backup_runs_the_cronjobs_job_and_restore_brings_everything_back(local_stack):
    cluster, s3, url, postgres = local_stack["cluster"], local_stack["s3"], local_stack["url"], local_stack["postgres"]
    before = snapshot(url, s3, BUCKET)
    backup_id = _backup()
    job = cluster.created[0]
    assert job["metadata"]["name"].startswith("mlflow-backup-manual-")
    assert job["metadata"]["ownerReferences"][0]["uid"] == cluster.cronjobs["mlflow-backup"]["metadata"]["uid"]
    assert job["spec"] == cluster.cronjobs["mlflow-backup"]["spec"]["jobTemplate"]["spec"], "the template as it is"

    listed = invoke("backups", "list", "--cloud", "local", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)["backups"]
    assert (row["id"], row["database"], row["runs"]) == (backup_id, "pg_dump", 3)
    assert [c["name"] for c in cluster.created[1]["spec"]["template"]["spec"]["containers"]] == ["fetch"]
    assert not any(n.startswith("mlflow-backups-list-") for n in cluster.jobs), "the list's Job is removed once read"

    # Disaster: an artifact overwritten, one added, a run added.
    first = sorted(before["objects"])[0]
    s3.put_object(Bucket=BUCKET, Key=first, Body=b"overwritten")
    s3.put_object(Bucket=BUCKET, Key="mlflow/late/artifacts/x.bin", Body=b"after the backup")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    client.create_run(client.get_experiment_by_name("team-0").experiment_id, run_name="after the backup")
    assert snapshot(url, s3, BUCKET) != before

    result = invoke("restore", "--cloud", "local", "--from", backup_id, "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["backup"] == backup_id
    assert report["counts"] == {"experiments": 2, "runs": 3, "modelVersions": 2}
    assert report["artifacts"]["restored"] == 1 and report["artifacts"]["removed"] >= 1
    template = cluster.cronjobs["mlflow-restore"]["spec"]
    assert template["suspend"] is True and template["jobTemplate"]["spec"]["backoffLimit"] == 0, "runs only when asked, once"
    restore_job = cluster.jobs["mlflow-restore-run"]
    env = {e["name"]: e["value"] for e in restore_job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["RESTORE_FROM"] == backup_id and env["RESTORE_FORCE"] == "0"
    assert report["keptDatabase"] == f"mlflow_before_{env['RESTORE_SUFFIX']}" in _databases(postgres, "mlflow_before_%")
    assert snapshot(url, s3, BUCKET) == before
    # What came after is kept aside in the bucket, not lost.
    aside = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"backups/restored-{backup_id}/").get("Contents", [])
    assert any(o["Key"].endswith("mlflow/late/artifacts/x.bin") for o in aside)


def _nothing_restored(postgres: Any, databases: list[str]) -> None:
    """No database restored or set aside since `databases` was read (earlier tests' stay)."""
    assert _databases(postgres, "mlflow%") == databases


def test_refusals_are_one_line_exit_2_and_change_nothing(local_stack):
    from support.cli import refused

    cluster, s3, url, postgres = local_stack["cluster"], local_stack["s3"], local_stack["url"], local_stack["postgres"]
    backup_id = _backup()
    before, databases = snapshot(url, s3, BUCKET), _databases(postgres, "mlflow%")
    refused(invoke("restore", "--cloud", "local", "--from", "bk-20200101t000000z-abcdef", "--yes"), "no backup", backup_id)
    refused(invoke("restore", "--cloud", "local", "--from", backup_id, "--from-env", "prod", "--yes"), "--from-env", "own cluster")
    # A backup recorded as another stack's needs --force.
    key = f"backups/{backup_id}/record.json"
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({**record, "stack": "mlops-platform/local-prod"}).encode())
    refused(invoke("restore", "--cloud", "local", "--from", backup_id, "--yes"), "local-prod", "--force")
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(record).encode())
    # A restore still running: its Job is the lock.
    cluster.jobs["mlflow-restore-run"] = {"metadata": {"name": "mlflow-restore-run", "uid": "u-1"}, "status": {"startTime": "2026-12-07T09:59:00Z"}}
    refused(invoke("restore", "--cloud", "local", "--from", backup_id, "--yes"), "already running", "2026-12-07T09:59:00Z")
    assert cluster.jobs["mlflow-restore-run"]["metadata"]["uid"] == "u-1", "the running one is left alone"
    del cluster.jobs["mlflow-restore-run"]
    # Missing rights, and a cluster deployed before the template existed.
    cluster.forbidden.add(CRONJOBS + "mlflow-restore")
    refused(invoke("restore", "--cloud", "local", "--from", backup_id, "--yes"), "refused", "403", "rights")
    cluster.forbidden.clear()
    template = cluster.cronjobs.pop("mlflow-restore")
    refused(invoke("restore", "--cloud", "local", "--from", backup_id, "--yes"), "no CronJob data/mlflow-restore", "platform up")
    cluster.cronjobs["mlflow-restore"] = template
    assert snapshot(url, s3, BUCKET) == before
    _nothing_restored(postgres, databases)


def test_a_failed_step_exits_1_naming_it_and_a_finished_restore_job_is_replaced(local_stack):
    cluster, s3, url, postgres = local_stack["cluster"], local_stack["s3"], local_stack["url"], local_stack["postgres"]
    backup_id = _backup()
    before, databases = snapshot(url, s3, BUCKET), _databases(postgres, "mlflow%")
    dump = f"backups/{backup_id}/database.dump"
    good = s3.get_object(Bucket=BUCKET, Key=dump)["Body"].read()
    s3.put_object(Bucket=BUCKET, Key=dump, Body=good[:-100])
    result = invoke("restore", "--cloud", "local", "--from", backup_id, "--yes")
    assert result.exit_code == 1, result.output
    assert "step fetch of Job data/mlflow-restore-run failed" in result.stderr and "checksum" in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(url, s3, BUCKET) == before
    _nothing_restored(postgres, databases)

    # The failed Job stays for `kubectl logs`; the next restore replaces it, and MLflow's counts are checked.
    s3.put_object(Bucket=BUCKET, Key=dump, Body=good)
    key = f"backups/{backup_id}/record.json"
    record = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({**record, "counts": {**record["counts"], "runs": 99}}).encode())
    result = invoke("restore", "--cloud", "local", "--from", "latest", "--yes")
    assert result.exit_code == 1, result.output
    assert "MLflow holds 2 experiments, 3 runs" in result.stderr and "recorded 2 experiments, 99 runs" in result.stderr
    assert len([j for j in cluster.created if j["metadata"]["name"] == "mlflow-restore-run"]) == 2


def test_the_database_step_drops_what_it_could_not_restore_and_refuses_an_existing_name(local_stack, tmp_path):
    import os
    import subprocess

    from mlops_platform.cli.backup.postgres import KIT
    from support.postgres import postgres_bin

    postgres = local_stack["postgres"]
    env = {**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(postgres.port), "PGUSER": "mlflow",
           "PATH": f"{postgres_bin()}{os.pathsep}{os.environ['PATH']}"}
    grants = tmp_path / "grants.sql"
    grants.write_text("SELECT 1;")
    bad = tmp_path / "bad.dump"
    bad.write_bytes(b"PGDMP not really a dump")
    done = subprocess.run(["sh", str(KIT / "restore_database.sh"), "mlflow_restore_0badd0", str(bad), str(grants)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.strip().splitlines()[-1].startswith("pg_restore into database mlflow_restore_0badd0:")
    assert _databases(postgres, "mlflow_restore_0badd0") == [], "the half-restored database is dropped"
    done = subprocess.run(["sh", str(KIT / "restore_database.sh"), "mlflow", str(bad), str(grants)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "database mlflow already exists" in done.stderr
    done = subprocess.run(["sh", str(KIT / "restore_database.sh"), "mlflow; DROP", str(bad), str(grants)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not a database name" in done.stderr
    # The CLI runs the same script on the clouds' pg_dump path: its exit 2 is a refusal there too.
    from mlops_platform.cli.backup.postgres import Server, restore_into
    from mlops_platform.components.data.backup_kit.errors import BackupRefused

    with pytest.raises(BackupRefused, match="database mlflow already exists"):
        restore_into(Server("127.0.0.1", postgres.port, "mlflow", "", sslmode="disable"), "mlflow", str(bad))


def test_a_stack_without_a_cluster_is_refused(project, standin_engine, monkeypatch):
    from support.cli import refused

    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "unused")
    fake = standin_engine(state=True)
    fake.stacks({"local-dev": {"outputs": {"endpoints": {"mlflow": "http://127.0.0.1:9"}}, "secrets": [], "resources": []}})
    refused(invoke("backup", "--cloud", "local"), "no kubeconfig", "platform up --cloud local")


def test_up_backs_a_local_stack_up_in_the_cluster_before_it_migrates_mlflow(local_stack):
    fake = local_stack["fake"]
    fake.stacks({"local-dev": {"outputs": {"kubeconfig": local_stack["kubeconfig"], "endpoints": {"mlflow": local_stack["url"]},
                                           "deployment": {"releases": {}, "mlflowSchema": OLD_MLFLOW_SCHEMA}},
                               "secrets": [], "resources": []}})
    fake.events("up", "up")
    result = invoke("up", "--cloud", "local", "--yes")
    assert result.exit_code == 0, result.output
    assert "backing it up first" in result.stderr and fake.ran("up")
    assert [j["metadata"]["name"][:len("mlflow-backup-manual-")] for j in local_stack["cluster"].created] == ["mlflow-backup-manual-"]
    keys = [o["Key"] for o in local_stack["s3"].list_objects_v2(Bucket=BUCKET, Prefix="backups/").get("Contents", [])]
    assert any(k.endswith("/record.json") for k in keys), keys


def test_a_step_that_cannot_start_fails_fast_and_frees_the_lock(local_stack, monkeypatch):
    cluster = local_stack["cluster"]
    monkeypatch.setattr("mlops_platform.cli.backup.in_cluster.PULL_GRACE_SECONDS", 0.5)
    cluster.waiting = ("fetch", "ImagePullBackOff", 'Back-off pulling image "registry.local/mlflow@sha256:0f0f"')
    result = invoke("restore", "--cloud", "local", "--from", "latest", "--yes")
    assert result.exit_code == 1, result.output
    assert "step fetch: ImagePullBackOff (Back-off pulling image" in result.stderr and "nothing was switched" in result.stderr
    assert "mlflow-restore-run" not in cluster.jobs, "the Job is removed: the next restore is not locked out"
    # Within the grace a pull may still recover: the CLI waits as long as the Job's own deadline and
    # a margin (Kubernetes ends the Job then), and past them leaves the Job be.
    monkeypatch.setattr("mlops_platform.cli.backup.in_cluster.PULL_GRACE_SECONDS", 3600)
    monkeypatch.setattr("mlops_platform.cli.backup.in_cluster.MARGIN_SECONDS", 0.5)
    cluster.cronjobs["mlflow-restore"]["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] = 1
    result = invoke("restore", "--cloud", "local", "--from", "latest", "--yes")
    assert result.exit_code == 1, result.output
    assert "has not finished after 1 s (step fetch waiting: ImagePullBackOff)" in result.stderr
    assert "mlflow-restore-run" in cluster.jobs
    del cluster.jobs["mlflow-restore-run"]
    # A missing Secret does not clear on its own: no grace.
    cluster.waiting = ("dump", "CreateContainerConfigError", 'secret "postgres-credentials" not found')
    result = invoke("backup", "--cloud", "local")
    assert result.exit_code == 1, result.output
    assert "step dump: CreateContainerConfigError" in result.stderr and not cluster.jobs


def test_a_backup_needs_no_sign_in_but_a_restore_does_before_anything_runs(local_stack, monkeypatch):
    from support.cli import refused

    cluster = local_stack["cluster"]
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    backup_id = _backup()  # wholly in the cluster: MLflow is not asked
    refused(invoke("restore", "--cloud", "local", "--from", backup_id, "--yes"), "signed in", "MLFLOW_TRACKING_TOKEN")
    assert [j["metadata"]["name"] for j in cluster.created if j["metadata"]["name"] == "mlflow-restore-run"] == []
