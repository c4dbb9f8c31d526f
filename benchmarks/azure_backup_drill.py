"""Backup and restore time of an Azure stack's backup and restore pods on loopback: its CronJob
templates (components/addons/mlflow_backups.py), container by container, as tests/support/local_jobs.py
runs them, against Azurite's Blob service and a PostgreSQL serving TLS (verify-full, as a
non-superuser admin: tests/support/flexible.py), with the pinned `mlflow server` serving as its own
login, its artifacts in Azurite, holding a registry of 1,000 runs and 100 model versions (each with a
256 KiB artifact). The restore follows the tracking database dropped and every model's weights deleted.

    python benchmarks/azure_backup_drill.py [--runs 1000] [--versions 100]

Needs the test extra (pip install -e '.[test]'), PostgreSQL's server package and Azurite
(npm ci --prefix .ci/azurite, from tests/azurite/package.json). A cluster adds the pods' start.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from backup_drill import pods_drill, seeded_mlflow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=100)
    args = parser.parse_args()

    from azure.storage.blob import BlobServiceClient

    from mlops_platform.components.addons import database_ca
    from mlops_platform.components.addons.mlflow import DB_ADMIN_SECRET
    from mlops_platform.components.config import PlatformConfig
    from mlops_platform.planner.harness import plan_platform
    from support.azurite import ACCOUNT, azurite, connection_string
    from support.flexible import ADMIN, tracking_database
    from support.local_jobs import Loopback
    from support.tls import tls_postgres_server, write_pki

    work = Path(tempfile.mkdtemp(prefix="azure-backup-bench-"))
    pki = write_pki(Path(tempfile.mkdtemp(prefix="pki-")))
    config = PlatformConfig.from_stack_file(ROOT / "stacks" / "Pulumi.azure-dev.yaml", "azure-dev")
    by_name = {r.name: r for r in plan_platform(config).resources}
    pods = {name: by_name[f"mlops-mlflow-{name}"].inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            for name in ("backup", "restore")}
    container = next(e["value"] for e in pods["backup"]["containers"][0]["env"] if e["name"] == "BACKUP_BUCKET")
    with tls_postgres_server(pki) as server, azurite(work) as endpoint:
        os.environ["AZURE_STORAGE_CONNECTION_STRING"] = connection_string(endpoint)
        blobs = BlobServiceClient.from_connection_string(connection_string(endpoint)).create_container(container)
        tracking_database(server, work)
        with seeded_mlflow(f"postgresql+psycopg2://mlflow_app@127.0.0.1:{server.port}/mlflow",
                           f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net/mlflow", work, args.runs, args.versions) as url:
            (work / "pods").mkdir()
            runner = Loopback(work / "pods", by_name["mlops-mlflow-backup-kit"].inputs["data"], server.port, server.bin,
                              {"AZURE_STORAGE_CONNECTION_STRING": connection_string(endpoint)}, postgres_host="localhost",
                              secrets={DB_ADMIN_SECRET: {"username": ADMIN, "password": "unused-with-trust-auth"}},
                              files={database_ca.CA_FILE: str(pki / "ca.crt")})

            def disaster(_backup_id: str) -> None:
                server.sql('DROP DATABASE "mlflow" WITH (FORCE)')
                for blob in blobs.list_blobs(name_starts_with="mlflow/"):
                    if blob.name.endswith("weights.bin"):
                        blobs.delete_blob(blob.name)

            pods_drill(runner, pods, url, disaster)


if __name__ == "__main__":
    main()
