"""The drill's MLflow on loopback: the pinned `mlflow server` on a real PostgreSQL with its artifacts
in moto's S3, a team's work logged through it, and what it answers (with every artifact's
checksum) to compare before and after a restore."""

from __future__ import annotations

import hashlib
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .servers import free_port, serving


@contextmanager
def mlflow_server(postgres: Any, database: str, bucket: str, tmp_path: Path) -> Iterator[str]:
    """The pinned `mlflow server` on a fresh `database`, its artifacts in `bucket` (S3 at
    $MLFLOW_S3_ENDPOINT_URL); yields its URL."""
    postgres.sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    url = postgres.create_database(database)
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri", url,
               "--artifacts-destination", f"s3://{bucket}/mlflow", "--serve-artifacts", "--workers", "1"]
    with serving(command, f"http://127.0.0.1:{port}/health", tmp_path / "server.log", "mlflow server", timeout=120, cwd=tmp_path):
        yield f"http://127.0.0.1:{port}"


def log_work(url: str, tmp_path: Path, experiments: int = 2, runs: int = 3) -> None:
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


def snapshot(url: str, s3: Any, bucket: str) -> dict[str, Any]:
    """What MLflow answers and what the bucket holds, to compare before and after."""
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="mlflow/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            objects[item["Key"]] = hashlib.sha256(body).hexdigest()
    return {**registry(url), "objects": objects}


def registry(url: str) -> dict[str, Any]:
    """What MLflow answers: experiments, runs (with their params and metric history), model versions."""
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiments = {e.experiment_id: (e.name, e.lifecycle_stage) for e in client.search_experiments(view_type=ViewType.ALL)}
    runs = {}
    for run in client.search_runs(list(experiments), run_view_type=ViewType.ALL):
        history = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")]
        runs[run.info.run_id] = (run.info.run_name, run.info.lifecycle_stage, run.data.params, sorted(history))
    versions = sorted((v.name, v.version, v.run_id, v.source) for v in client.search_model_versions())
    return {"experiments": experiments, "runs": runs, "versions": versions}
