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
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from backup_drill import _print_pod, _seed, _wait  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=100)
    args = parser.parse_args()

    from azure.storage.blob import BlobServiceClient

    from mlops_platform.cli.backup.counts import counts, wait_healthy
    from mlops_platform.cli.registry import Registry
    from mlops_platform.components.addons import database_ca
    from mlops_platform.components.addons.mlflow import DB_ADMIN_SECRET
    from mlops_platform.components.config import PlatformConfig
    from mlops_platform.planner.harness import plan_platform
    from support.azurite import ACCOUNT, azurite, connection_string
    from support.flexible import ADMIN, tracking_database
    from support.local_jobs import Loopback
    from support.servers import free_port
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
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        mlflow = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"postgresql+psycopg2://mlflow_app@127.0.0.1:{server.port}/mlflow",
             "--artifacts-destination", f"wasbs://{container}@{ACCOUNT}.blob.core.windows.net/mlflow",
             "--serve-artifacts", "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=(work / "server.log").open("w"), cwd=work)
        try:
            _wait(url, mlflow)
            started = time.monotonic()
            _seed(url, work, args.runs, args.versions)
            print(f"seeded {args.runs} runs and {args.versions} model versions in {time.monotonic() - started:.1f} s")
            (work / "pods").mkdir()
            runner = Loopback(work / "pods", by_name["mlops-mlflow-backup-kit"].inputs["data"], server.port, server.bin,
                              {"AZURE_STORAGE_CONNECTION_STRING": connection_string(endpoint)}, postgres_host="localhost",
                              secrets={DB_ADMIN_SECRET: {"username": ADMIN, "password": "unused-with-trust-auth"}},
                              files={database_ca.CA_FILE: str(pki / "ca.crt")})
            ran = runner.run_pod(pods["backup"])
            _print_pod("backup", ran)
            backup_id = json.loads(next(line for line in ran[-1].log.splitlines() if line.startswith("{")))["backup"]
            server.sql('DROP DATABASE "mlflow" WITH (FORCE)')
            for blob in blobs.list_blobs(name_starts_with="mlflow/"):
                if blob.name.endswith("weights.bin"):
                    blobs.delete_blob(blob.name)
            ran = runner.run_pod(pods["restore"], {"RESTORE_FROM": backup_id, "RESTORE_FORCE": "0", "RESTORE_SUFFIX": "be0c11"})
            _print_pod("restore", ran)
            started = time.monotonic()
            wait_healthy(url)
            found = counts(Registry(url))
            print(f"  health and counts: {time.monotonic() - started:.2f} s ({found.runs} runs, {found.model_versions} model versions)")
        finally:
            mlflow.terminate()
            mlflow.wait(timeout=30)


if __name__ == "__main__":
    main()
