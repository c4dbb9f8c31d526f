"""The backup drill against the real services on loopback: a PostgreSQL (Debian's package), an
`mlflow server` on it at the pinned version, and moto in server mode as the S3 artifact store.

A team's work is logged through MLflow (experiments, runs with metrics and artifacts, registered
model versions); a backup is taken; then disaster: runs are added and deleted, artifacts overwritten,
deleted and added, and finally the database is dropped. Each restore must bring back exactly what
MLflow held and the artifacts' bytes, while the server keeps running.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from support.servers import free_port, wait_until_serving

BUCKET = "drill-artifacts"
DATABASE = "mlflow_drill"


@pytest.fixture()
def drill(postgres, moto_endpoint, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    postgres.sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    url = postgres.create_database(DATABASE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto_endpoint)
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", url, "--artifacts-destination", f"s3://{BUCKET}/mlflow",
                               "--serve-artifacts", "--workers", "1"],
                              stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=tmp_path)
    try:
        wait_until_serving(f"{base}/health", server, log, "mlflow server", timeout=120)
        yield {"url": base, "s3": s3, "log": log}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _target(postgres: Any, s3: Any, url: str, stack: str = "mlops-platform/local") -> Any:
    from mlops_platform.cli.backup.objects import Bucket
    from mlops_platform.cli.backup.operations import Target
    from mlops_platform.cli.backup.postgres import Dumped, Server
    from mlops_platform.cli.registry import Registry

    return Target(stack=stack, cloud="local", env="dev", bucket=Bucket(s3, BUCKET),
                  database=Dumped(Server("127.0.0.1", postgres.port, "postgres", "", sslmode="disable"), DATABASE),
                  mlflow=Registry(url))


def _log_work(url: str, tmp_path: Path, experiments: int = 2, runs: int = 3) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    for e in range(experiments):
        experiment = client.create_experiment(f"team-{e}")
        for r in range(runs):
            run = client.create_run(experiment, run_name=f"run-{e}-{r}")
            for step in range(3):
                client.log_metric(run.info.run_id, "loss", 1.0 / (step + 1 + r), step=step)
            client.log_param(run.info.run_id, "lr", str(0.1 * (r + 1)))
            model = tmp_path / f"model-{e}-{r}"
            model.mkdir()
            (model / "MLmodel").write_text(f"flavors:\n  python_function: {{}}\nrun: {run.info.run_id}\n")
            (model / "weights.bin").write_bytes(hashlib.sha256(f"{e}{r}".encode()).digest() * 500)
            client.log_artifacts(run.info.run_id, str(model), "model")
            client.set_terminated(run.info.run_id)
            if r < 2:
                if e == 0 and r == 0:
                    client.create_registered_model(f"model-{e}")
                elif r == 0:
                    client.create_registered_model(f"model-{e}")
                client.create_model_version(f"model-{e}", f"runs:/{run.info.run_id}/model", run.info.run_id)


def _snapshot(url: str, s3: Any) -> dict[str, Any]:
    """What MLflow answers and what the bucket holds, to compare before and after."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiments = {e.experiment_id: (e.name, e.lifecycle_stage) for e in client.search_experiments(view_type=ViewType.ALL)}
    runs = {}
    for run in client.search_runs(list(experiments), run_view_type=ViewType.ALL):
        history = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")]
        runs[run.info.run_id] = (run.info.run_name, run.info.lifecycle_stage, run.data.params, sorted(history))
    versions = sorted((v.name, v.version, v.run_id, v.source) for v in client.search_model_versions())
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="mlflow/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read()
            objects[item["Key"]] = hashlib.sha256(body).hexdigest()
    return {"experiments": experiments, "runs": runs, "versions": versions, "objects": objects}


def test_the_drill_restores_exactly_what_mlflow_held_and_the_artifacts_bytes(drill, postgres, tmp_path):
    from mlflow.tracking import MlflowClient

    from mlops_platform.cli.backup.operations import list_backups, restore, take_backup

    url, s3 = drill["url"], drill["s3"]
    _log_work(url, tmp_path)
    before = _snapshot(url, s3)
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
    assert _snapshot(url, s3) != before

    report = restore(target, record.id, lambda line: None)
    assert _snapshot(url, s3) == before
    assert report.artifacts.restored == 2 and report.artifacts.removed == 1 and report.artifacts.unchanged == 10
    # The database it replaced is kept, with the run logged after the backup.
    assert report.kept_database and postgres.sql(
        "SELECT count(*) FROM runs WHERE name = 'after-the-backup'", report.kept_database) == "1"

    # Disaster, part two: the database is gone.
    postgres.sql(f'DROP DATABASE "{DATABASE}" WITH (FORCE)')
    second = restore(target, record.id, lambda line: None)
    assert second.kept_database is None
    assert _snapshot(url, s3) == before
