"""The MLflow schema migration an upgrade runs, for real: a PostgreSQL database made by the previous
shipped MLflow release (3.14.0, in its own venv) is migrated by the pinned MLflow's `mlflow db
upgrade` (what the chart's migration Job runs), and the pinned `mlflow server` then serves the old
experiments, runs and registered model versions. The revisions alembic runs are the ones `platform
upgrade` names (components/versions.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from mlops_platform.components import versions
from mlops_platform.planner.upgrade import pending_migrations
from support.servers import free_port, http, serving

pytestmark = pytest.mark.services

MAKE_OLD_REGISTRY = textwrap.dedent("""
    import json, os, sys
    import mlflow
    from mlflow import MlflowClient
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    client = MlflowClient(tracking_uri=sys.argv[1], registry_uri=sys.argv[1])
    experiment = client.create_experiment("churn", artifact_location="s3://mlops-artifacts/mlflow/1")
    runs = []
    for step in range(3):
        run = client.create_run(experiment, run_name=f"run-{step}")
        client.log_param(run.info.run_id, "depth", str(step + 2))
        client.log_metric(run.info.run_id, "auc", round(0.8 + step / 100, 2), step=step)
        client.set_terminated(run.info.run_id)
        runs.append(run.info.run_id)
    client.create_registered_model("churn-model")
    for run_id in runs[:2]:
        client.create_model_version("churn-model", f"s3://mlops-artifacts/mlflow/1/{run_id}/artifacts/model", run_id=run_id)
    config = Config()
    config.set_main_option("script_location", os.path.join(os.path.dirname(mlflow.__file__), "store", "db_migrations"))
    print(json.dumps({"version": mlflow.__version__, "head": ScriptDirectory.from_config(config).get_heads(), "runs": runs}))
""")

UPGRADE_WITH_LOG = textwrap.dedent("""
    import logging, sys
    from mlflow.cli import cli
    logger = logging.getLogger("alembic.runtime.migration")
    logger.disabled = False
    logger.setLevel(logging.INFO)
    cli(["db", "upgrade", sys.argv[1]])
""")


def test_a_database_of_the_previous_mlflow_is_migrated_and_served_by_the_pinned_one(postgres, previous_mlflow_python, tmp_path):
    url = postgres.create_database("mlflow_migration")
    made = subprocess.run([str(previous_mlflow_python), "-c", MAKE_OLD_REGISTRY, url], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    old = json.loads(made.stdout.strip().splitlines()[-1])
    # What versions.py records for that release is its own head, and the database is at it.
    assert old["head"] == [versions.MLFLOW_SCHEMA_HEADS[old["version"]]]
    assert postgres.sql("SELECT version_num FROM alembic_version", "mlflow_migration") == old["head"][0]

    # `mlflow db upgrade` itself, with alembic's migration log (off by default) on: it names each revision it runs.
    migrated = subprocess.run([sys.executable, "-c", UPGRADE_WITH_LOG, url], capture_output=True, text=True, timeout=300)
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    ran = re.findall(r"Running upgrade (\w+) -> (\w+), (.*)", migrated.stderr)
    assert [(new, message.strip()) for _, new, message in ran] == pending_migrations(old["head"][0])
    assert postgres.sql("SELECT version_num FROM alembic_version", "mlflow_migration") == versions.MLFLOW_SCHEMA_REVISION

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--backend-store-uri", url,
               "--default-artifact-root", "s3://mlops-artifacts/mlflow"]
    with serving(command, f"{base}/health", tmp_path / "server.log", "mlflow server", timeout=120, cwd=tmp_path):
        api = f"{base}/api/2.0/mlflow"
        [experiment] = [e for e in http.get(f"{api}/experiments/search", params={"max_results": 10}).json()["experiments"]
                        if e["name"] == "churn"]
        runs = http.post(f"{api}/runs/search", json={"experiment_ids": [experiment["experiment_id"]]}).json()["runs"]
        assert sorted(r["info"]["run_id"] for r in runs) == sorted(old["runs"])
        assert sorted(m["value"] for r in runs for m in r["data"]["metrics"]) == pytest.approx([0.8, 0.81, 0.82])
        model_versions = http.get(f"{api}/model-versions/search", params={"filter": "name='churn-model'"}).json()["model_versions"]
        assert sorted(v["run_id"] for v in model_versions) == sorted(old["runs"][:2])
