"""An Azure dev stack deployed on loopback, for the tests of its in-cluster backups and of destroy
--keep-data (test_azure_backup.py, test_keep_data_azure.py): MLflow (pinned) serving as mlflow_app
on a real PostgreSQL over TLS, its artifacts in Azurite's Blob service, with a team's work; the
cluster's API on loopback, whose Jobs run the stack's own pods as local processes; the engine
stand-in holding the stack's outputs. (A pytest plugin of tests/conftest.py.)"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from mlops_platform.components.addons import database_ca
from mlops_platform.components.addons.mlflow import DB_ADMIN_SECRET
from support.azurite import ACCOUNT, azurite, connection_string
from support.cluster_jobs import Cluster
from support.cluster_jobs import cronjobs as cluster_cronjobs
from support.drill import log_work
from support.flexible import ADMIN, tracking_database
from support.kube import serving
from support.local_jobs import Loopback
from support.servers import free_port
from support.servers import serving as running


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    from support.tls import write_pki

    return write_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def azure_postgres(pki) -> Iterator[Any]:
    from support.tls import tls_postgres_server

    with tls_postgres_server(pki) as server:
        yield server


@pytest.fixture()
def azure_stack(azure_postgres, pki, project, standin_engine, planned, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    """A deployed Azure dev stack: MLflow (pinned) serving as mlflow_app, its artifacts in the Blob
    container, with a team's work; the cluster's API on loopback."""
    from azure.storage.blob import BlobServiceClient

    from support.postgres import postgres_bin

    server = azure_postgres
    by_name = {r.name: r for r in planned("azure-dev").resources}
    cronjobs = cluster_cronjobs(by_name.values(), "mlflow")
    assert set(cronjobs) == {"mlflow-backup", "mlflow-restore"}
    store = {e["name"]: e["value"] for e in cronjobs["mlflow-backup"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
             ["containers"][0]["env"] if "value" in e}
    tracking_database(server, tmp_path)
    with azurite(tmp_path) as endpoint:
        monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", connection_string(endpoint))
        blobs = BlobServiceClient.from_connection_string(connection_string(endpoint)).create_container(store["BACKUP_BUCKET"])
        (tmp_path / "pods").mkdir()
        runner = Loopback(tmp_path / "pods", by_name["mlops-mlflow-backup-kit"].inputs["data"], server.port, postgres_bin(),
                          {"AZURE_STORAGE_CONNECTION_STRING": connection_string(endpoint)}, postgres_host="localhost",
                          secrets={DB_ADMIN_SECRET: {"username": ADMIN, "password": "unused-with-trust-auth"}},
                          files={database_ca.CA_FILE: str(pki / "ca.crt")})
        cluster = Cluster("mlflow", cronjobs, runner)
        monkeypatch.setattr("mlops_platform.cli.backup.in_cluster.POLL_SECONDS", 0.1)
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "unused-by-this-server")
        port = free_port()
        command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                   "--backend-store-uri", f"postgresql+psycopg2://mlflow_app@127.0.0.1:{server.port}/mlflow",
                   "--artifacts-destination", f"wasbs://{store['BACKUP_BUCKET']}@{ACCOUNT}.blob.core.windows.net/mlflow",
                   "--serve-artifacts", "--workers", "1"]
        url = f"http://127.0.0.1:{port}"
        with serving(cluster.answer) as kubeconfig, running(command, f"{url}/health", tmp_path / "server.log", "mlflow server",
                                                             timeout=120, cwd=tmp_path):
            log_work(url, tmp_path, experiments=1, runs=3)
            fake = standin_engine(state=True)
            fake.stacks({"azure-dev": {"outputs": {"kubeconfig": kubeconfig, "endpoints": {"mlflow": url}},
                                       "secrets": [], "resources": []}})
            yield {"cluster": cluster, "blobs": blobs, "url": url, "server": server, "fake": fake, "runner": runner}
