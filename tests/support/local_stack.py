"""A local dev stack deployed on loopback, for the tests of its in-cluster backups and of destroy
--keep-data (test_local_backup.py, test_keep_data_local.py): MLflow (pinned, on PostgreSQL database
`mlflow`, artifacts in moto's unversioned bucket, as SeaweedFS) with a team's work; the cluster's
API on loopback, whose Jobs run the stack's own pods as local processes; the engine stand-in
holding the stack's outputs. (A pytest plugin of tests/conftest.py.)"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from mlops_platform.components.data.local import BUCKET
from support.cluster_jobs import Cluster
from support.cluster_jobs import cronjobs as cluster_cronjobs
from support.drill import log_work, mlflow_server
from support.kube import serving
from support.local_jobs import Loopback


@pytest.fixture()
def local_stack(postgres, moto_endpoint, project, standin_engine, stack_config, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    """A deployed local dev stack: MLflow (pinned, on PostgreSQL database `mlflow`, artifacts in the
    unversioned bucket) with a team's work, and the cluster's API on loopback."""
    import boto3

    from mlops_platform.planner.harness import plan_platform
    from support.postgres import postgres_bin

    by_name = {r.name: r for r in plan_platform(stack_config("local-dev")).resources}
    cronjobs = cluster_cronjobs(by_name.values(), "data")
    assert set(cronjobs) == {"mlflow-backup", "mlflow-restore"}
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    postgres.sql("DO $$ BEGIN CREATE ROLE mlflow LOGIN SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "unused-by-this-server")
    runner = Loopback(tmp_path / "pods", by_name["mlops-data-backup-kit"].inputs["data"], postgres.port, postgres_bin(),
                      {"AWS_ENDPOINT_URL": moto_endpoint})
    (tmp_path / "pods").mkdir()
    cluster = Cluster("data", cronjobs, runner)
    monkeypatch.setattr("mlops_platform.cli.backup.in_cluster.POLL_SECONDS", 0.1)
    # The transfer's pod is Running as soon as its process starts, before its server listens (as in
    # a cluster): polled this often, the CLI asks before it does.
    monkeypatch.setattr("mlops_platform.cli.backup.transfer.POLL_SECONDS", 0.01)
    with serving(cluster.answer) as kubeconfig, mlflow_server(postgres, "mlflow", BUCKET, tmp_path) as base:
        log_work(base, tmp_path, experiments=1, runs=3)
        fake = standin_engine(state=True)
        fake.stacks({"local-dev": {"outputs": {"kubeconfig": kubeconfig, "endpoints": {"mlflow": base}},
                                   "secrets": [], "resources": []}})
        yield {"cluster": cluster, "s3": s3, "url": base, "postgres": postgres, "fake": fake, "kubeconfig": kubeconfig}
