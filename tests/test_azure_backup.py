"""`platform backup`, `backups list` and `restore` on an Azure stack, end to end. Its data admits only
the cluster, so each runs there as a Job in MLflow's namespace (components/addons/mlflow_backups.py).
Here the CLI talks to a Kubernetes API on loopback (support/cluster_jobs.py) whose Jobs run the
stack's own pods on loopback (support/local_jobs.py) against:
- a real PostgreSQL serving TLS with a certificate for `localhost` from a test CA, reached as the
  stack's pods reach the Flexible Server: `verify-full` against the CA file mounted from the stack's
  ConfigMap, as an admin that is no superuser (Flexible Server's admin has CREATEDB and CREATEROLE
  only), with MLflow serving as its own login, mlflow_app, set up by the stack's grants script;
- Azurite's Blob service (the emulator; keyed, where the pods use their workload identity), holding
  the artifacts of the pinned `mlflow server` (wasbs://) and the backups.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components.addons import database_ca
from mlops_platform.components.addons.mlflow import DB_ADMIN_SECRET
from support.azurite import azurite, connection_string
from support.cli import refused
from support.drill import registry
from support.flexible import ADMIN
from support.servers import free_port


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _objects(blobs: Any) -> dict[str, str]:
    return {b.name: hashlib.sha256(blobs.download_blob(b.name).readall()).hexdigest() for b in blobs.list_blobs(name_starts_with="mlflow/")}


def _databases(server: Any) -> list[str]:
    return sorted(filter(None, server.sql("SELECT datname FROM pg_database WHERE datname LIKE 'mlflow%'").split("\n")))


def test_backup_and_restore_run_beside_mlflow_and_bring_everything_back(azure_stack):
    cluster, blobs, url, server = azure_stack["cluster"], azure_stack["blobs"], azure_stack["url"], azure_stack["server"]
    before = {**registry(url), "objects": _objects(blobs)}
    result = invoke("backup", "--cloud", "azure", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    backup_id = record["id"]
    assert (record["cloud"], record["stack"], record["database"]["kind"]) == ("azure", "azure-dev", "pg_dump")
    assert record["artifacts"]["mode"] == "copy" and record["artifacts"]["objects"] == len(before["objects"]) > 0
    assert record["counts"] == {"experiments": 2, "runs": 3, "modelVersions": 2}  # the Default experiment too
    job = cluster.created[0]
    assert job["metadata"]["namespace"] == "mlflow" and job["metadata"]["name"].startswith("mlflow-backup-manual-")

    listed = invoke("backups", "list", "--cloud", "azure", "--json")
    assert listed.exit_code == 0, listed.output
    assert [row["id"] for row in json.loads(listed.stdout)["backups"]] == [backup_id]

    # Disaster: an artifact overwritten, one added, a run added.
    first = sorted(before["objects"])[0]
    blobs.upload_blob(first, b"overwritten", overwrite=True)
    blobs.upload_blob("mlflow/late/artifacts/x.bin", b"after the backup")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    client.create_run(client.get_experiment_by_name("team-0").experiment_id, run_name="after the backup")

    result = invoke("restore", "--cloud", "azure", "--from", backup_id, "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["counts"] == {"experiments": 2, "runs": 3, "modelVersions": 2}
    assert report["artifacts"]["restored"] == 1 and report["artifacts"]["removed"] == 1
    assert {**registry(url), "objects": _objects(blobs)} == before
    assert report["keptDatabase"] in _databases(server) and report["keptDatabase"].startswith("mlflow_before_")
    aside = [b.name for b in blobs.list_blobs(name_starts_with=f"backups/restored-{backup_id}/")]
    assert any(name.endswith("mlflow/late/artifacts/x.bin") for name in aside), "what came after is kept aside"
    # MLflow's own login still reads and writes the restored tables (the grants were given again).
    client.create_run(client.get_experiment_by_name("team-0").experiment_id, run_name="after the restore")


def test_the_templates_run_as_mlflows_identity_and_verify_the_server(azure_stack, stack_config):
    from mlops_platform.components.data.outputs import DatabaseSpec

    cronjobs = azure_stack["cluster"].cronjobs
    # The dump waits in the pod's work folder: room for the whole database (Flexible Server's 32 GB at least).
    work = f"{DatabaseSpec.from_config(stack_config('azure-dev')).storage_gb + 1}Gi"
    assert work == "33Gi"
    backup = cronjobs["mlflow-backup"]["spec"]
    assert backup["suspend"] is True, "the Flexible Server's own backups are the schedule"
    for template in (backup, cronjobs["mlflow-restore"]["spec"]):
        pod = template["jobTemplate"]["spec"]["template"]
        assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
        assert pod["spec"]["serviceAccountName"] == "mlflow"
        # An hour and 2 minutes per GB of it: a large dump is not ended half way.
        assert template["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 3600 + 120 * 32
        assert {v["name"]: v for v in pod["spec"]["volumes"]}["work"]["emptyDir"]["sizeLimit"] == work
        for container in [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]:
            env = {e["name"]: e for e in container["env"]}
            if "PGHOST" in env:
                assert env["PGSSLMODE"]["value"] == "verify-full" and env["PGSSLROOTCERT"]["value"] == database_ca.CA_FILE
                assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == DB_ADMIN_SECRET
            else:
                assert env["BACKUP_BLOB_ACCOUNT_URL"]["value"].endswith(".blob.core.windows.net")
                assert "AZURE_STORAGE_CONNECTION_STRING" not in env, "the pods use their workload identity"


def test_a_server_that_fails_verification_stops_the_backup_at_its_dump(azure_stack, pki):
    cluster, blobs = azure_stack["cluster"], azure_stack["blobs"]
    runner = azure_stack["runner"]
    cluster.runner = dataclasses.replace(runner, files={database_ca.CA_FILE: str(pki / "other.crt")})
    result = invoke("backup", "--cloud", "azure")
    assert result.exit_code == 1, result.output
    assert "step dump of Job mlflow/mlflow-backup-manual-" in result.stderr and "certificate verify failed" in result.stderr
    assert list(blobs.list_blobs(name_starts_with="backups/")) == [], "nothing recorded"


def test_refusals_are_one_line_exit_2_and_change_nothing(azure_stack):
    cluster, blobs, server = azure_stack["cluster"], azure_stack["blobs"], azure_stack["server"]
    result = invoke("backup", "--cloud", "azure")
    assert result.exit_code == 0, result.output
    backup_id = result.stdout.strip()
    databases, objects = _databases(server), _objects(blobs)
    refused(invoke("restore", "--cloud", "azure", "--from", "bk-20200101t000000z-abcdef", "--yes"), "no backup", backup_id)
    refused(invoke("restore", "--cloud", "azure", "--from", backup_id, "--from-env", "prod", "--yes"), "--from-env", "azure stack")
    cluster.cronjobs.pop("mlflow-restore")
    refused(invoke("restore", "--cloud", "azure", "--from", backup_id, "--yes"), "no CronJob mlflow/mlflow-restore", "platform up")
    assert (_databases(server), _objects(blobs)) == (databases, objects)
    # The container gone (or never made): the kit's refusal, not a failure.
    blobs.delete_container()
    refused(invoke("backup", "--cloud", "azure"), "container", "does not exist")


def test_the_blob_store_keeps_the_stores_contract_on_azurite(tmp_path, monkeypatch):
    """The primitives the manifest, the restore and the records rely on (backup_kit/objects.py)."""
    from azure.storage.blob import BlobServiceClient

    from mlops_platform.components.data.backup_kit.blob import BlobContainer
    from mlops_platform.components.data.backup_kit.errors import BackupRefused
    from mlops_platform.components.data.backup_kit.stores import open_store

    with azurite(tmp_path) as endpoint:
        service = BlobServiceClient.from_connection_string(connection_string(endpoint))
        service.create_container("artifacts")
        env = {"BACKUP_BLOB_ACCOUNT_URL": "https://acct.blob.core.windows.net", "BACKUP_BUCKET": "artifacts",
               "AZURE_STORAGE_CONNECTION_STRING": connection_string(endpoint)}
        store = open_store(env)
        assert isinstance(store, BlobContainer) and not store.versioned()
        assert store.put("backups/lock", b"1", if_absent=True) is True
        assert store.put("backups/lock", b"2", if_absent=True) is False and store.get("backups/lock") == b"1"
        assert store.get("mlflow/absent") is None
        store.put("mlflow/a.bin", b"a" * 10)
        store.copy_in(store, "mlflow/a.bin", None, "backups/x/objects/mlflow/a.bin")
        assert store.get("backups/x/objects/mlflow/a.bin") == b"a" * 10
        assert set(store.current()) == {"mlflow/a.bin"}, "a backup's own folder is never an artifact"
        assert sorted(store.keys("backups/")) == ["backups/lock", "backups/x/objects/mlflow/a.bin"]
        store.delete("mlflow/a.bin")
        assert store.current() == {}
        with pytest.raises(BackupRefused, match="container gone does not exist"):
            open_store({**env, "BACKUP_BUCKET": "gone"}).get("x")
        # In a pod without the workload identity's variables: one line, not azure-identity's traceback.
        for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
            monkeypatch.delenv(name, raising=False)
        with pytest.raises(BackupRefused, match="no Azure workload identity"):
            open_store({**env, "AZURE_STORAGE_CONNECTION_STRING": ""})


@pytest.mark.parametrize("step", ["dump", "switch"])
def test_a_database_step_that_cannot_connect_fails_rather_than_refuses(step, tmp_path):
    """psql exits 2 when it cannot connect; the CLI reads a step's exit 2 as a refusal (nothing
    changed), so the steps turn it into a failure, 1."""
    from mlops_platform.components.data.backup_jobs import dump_script
    from mlops_platform.components.data.restore_jobs import switch_script
    from support.postgres import require_postgres_bin

    bin_dir = require_postgres_bin()
    script = dump_script(str(tmp_path)) if step == "dump" else switch_script()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PGHOST": "127.0.0.1",
           "PGPORT": str(free_port()), "PGUSER": ADMIN, "PGCONNECT_TIMEOUT": "5", "RESTORE_SUFFIX": "0abc12"}
    done = subprocess.run(["sh", "-c", "set -eu\n" + script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, (done.returncode, done.stderr)
    assert "Connection refused" in done.stderr or "connection to server" in done.stderr
