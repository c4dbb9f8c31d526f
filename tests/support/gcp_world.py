"""One GCP project for the backup, restore and keep-data tests: the routes of the Cloud SQL Admin
API, Cloud Storage and Compute Engine replayed on loopback (support/replay.py), as the test's steps
change them; the `gcp` fixture (a deployed gcp-dev stack in the engine stand-in, the clients pointed
at the replay) and `restored_instance` (dev's instance as a real PostgreSQL, its cluster API serving
the program's own schema template). conftest.py makes both fixtures visible to every test.

The responses are written from the services' REST references (Cloud SQL Admin v1 `backupRuns.insert`,
`instances.clone`, `instances.patch`, `instances.restoreBackup`, `Backups.ListBackups`,
`Backups.DeleteBackup`, `users.update`, `users.list`, `users.insert`, `operations.get`; Cloud Storage JSON API `objects.list` with `versions`,
`objects.insert`, `objects.rewrite`, `objects.delete`; Compute Engine `*.list`). They were not
recorded from a live project: no cloud is reachable here.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from support.replay import Request

PROJECT, INSTANCE, BUCKET = "my-mlops-project", "mlops-dev-a1b2c3", "mlops-dev-artifacts-a1b2"
REGION = "us-central1"
SQL = f"/v1/projects/{PROJECT}/instances/{INSTANCE}"
OPS = f"/v1/projects/{PROJECT}/operations"
OBJECTS = f"/storage/v1/b/{BUCKET}/o"
RUN = 1765000000000  # the backup run's id Cloud SQL names
# The name of that on-demand backup among the project's backups (Backups.ListBackups).
RETAINED = f"projects/{PROJECT}/backups/5c8e0a1f-7d2b-4e61-9a3c-2f4b6d8e0a1c"
COMPUTE = f"/compute/v1/projects/{PROJECT}"
# MLflow's IAM database users (its service accounts' e-mails without `.gserviceaccount.com`).
DEV_IAM, PROD_IAM = f"mlops-dev-mlflow@{PROJECT}.iam", "mlops-prod-mlflow@prod-project.iam"


def _object(name: str, generation: int, data: bytes = b"model", deleted: bool = False) -> dict[str, Any]:
    import base64
    import hashlib

    return {"kind": "storage#object", "bucket": BUCKET, "name": name, "generation": str(generation), "size": str(len(data)),
            "md5Hash": base64.b64encode(hashlib.md5(data).digest()).decode(), "etag": f"C{generation}",
            **({"timeDeleted": "2026-12-05T10:00:00.000Z"} if deleted else {})}


ART = "mlflow/1/run{}/artifacts/model.bin"
# The bucket at the backup: three live objects, a noncurrent generation of the first, an older backup.
AT_BACKUP = [_object(ART.format(0), 1001, b"model 0"), _object(ART.format(0), 900, b"model -", deleted=True),
             _object(ART.format(1), 1002, b"model 1"), _object(ART.format(2), 1003, b"model 2"),
             _object("backups/bk-20261201t000000z-aaaaaa/artifacts.json", 5, b"{}")]
# At the restore: the first overwritten, the third deleted, one added after the backup.
AT_RESTORE = [_object(ART.format(0), 1100, b"overwritten"), _object(ART.format(0), 1001, b"model 0", deleted=True),
              _object(ART.format(1), 1002, b"model 1"), _object(ART.format(2), 1003, b"model 2", deleted=True),
              _object("mlflow/1/late/artifacts/model.bin", 1200, b"after")]


def _rewrite(name: str) -> str:
    from urllib.parse import quote

    return f"{OBJECTS}/{quote(name, safe='')}/rewriteTo/b/{BUCKET}/o/{quote(name, safe='')}"


def _operation(name: str, status: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "sql#operation", "name": name, "status": status, "targetProject": PROJECT, "targetId": INSTANCE, **extra}


class Gcp:
    """The routes of one GCP project as the test's steps change them."""

    def __init__(self, replay: Any):
        self.listing = AT_BACKUP
        self.records: dict[str, bytes] = {}  # object name -> bytes a download answers
        self.lock_held = False
        self.fake: Any = None  # the engine stand-in holding the stack's outputs
        self.routes: dict[tuple[str, str], Any] = {
            ("GET", SQL): (200, {"kind": "sql#instance", "name": INSTANCE, "project": PROJECT, "state": "RUNNABLE",
                                 "databaseVersion": "POSTGRES_16", "settings": {"tier": "db-g1-small", "dataDiskSizeGb": "20"}}),
            ("POST", f"{SQL}/backupRuns"): (200, _operation("op-backup", "PENDING", operationType="BACKUP_VOLUME")),
            ("GET", f"{OPS}/op-backup"): (200, _operation("op-backup", "DONE", operationType="BACKUP_VOLUME",
                                                          backupContext={"kind": "sql#backupContext", "backupId": str(RUN)})),
            ("POST", f"{SQL}/clone"): (200, _operation("op-clone", "RUNNING", operationType="CLONE")),
            ("GET", f"{OPS}/op-clone"): (200, _operation("op-clone", "DONE", operationType="CLONE")),
            ("POST", f"{SQL}/restoreBackup"): (200, _operation("op-restore", "DONE", operationType="RESTORE_VOLUME")),
            ("PUT", f"{SQL}/users"): (200, _operation("op-login", "RUNNING", operationType="UPDATE_USER")),
            ("GET", f"{SQL}/users"): (200, {"kind": "sql#usersList", "items": [
                {"name": "mlflow", "type": "BUILT_IN"}, {"name": DEV_IAM, "type": "CLOUD_IAM_SERVICE_ACCOUNT"}]}),
            ("POST", f"{SQL}/users"): (200, _operation("op-iam-user", "DONE", operationType="CREATE_USER")),
            ("PATCH", SQL): (200, _operation("op-patch", "RUNNING", operationType="UPDATE")),
            ("GET", f"{OPS}/op-patch"): (200, _operation("op-patch", "DONE", operationType="UPDATE")),
            ("GET", f"/v1/projects/{PROJECT}/backups"): self._backups,
            ("DELETE", f"/v1/{RETAINED}"): (200, _operation("op-forget", "DONE", operationType="DELETE_BACKUP")),
            # What the sweep after a destroy asks of Compute Engine: nothing of the stack is left.
            ("GET", f"{COMPUTE}/aggregated/disks"): (200, {"items": {}}),
            ("GET", f"{COMPUTE}/regions/{REGION}/addresses"): (200, {"items": []}),
            ("GET", f"{COMPUTE}/regions/{REGION}/forwardingRules"): (200, {"items": []}),
            ("GET", f"{COMPUTE}/regions/{REGION}/targetPools"): (200, {"items": []}),
            ("GET", f"{COMPUTE}/global/firewalls"): (200, {"items": []}),
            ("GET", f"{OPS}/op-login"): (200, _operation("op-login", "DONE", operationType="UPDATE_USER")),
            ("GET", f"/storage/v1/b/{BUCKET}"): (200, {"kind": "storage#bucket", "name": BUCKET, "versioning": {"enabled": True}}),
            ("GET", OBJECTS): self._list,
            ("POST", f"/upload{OBJECTS}"): self._upload,
            **{("POST", _rewrite(ART.format(n))): self._rewrite for n in range(3)},
        }
        self.server = replay(self.routes)

    def _backups(self, request: Request) -> tuple[int, Any]:
        """The project's backups: the on-demand one of each backup run this test took, with its description."""
        # An automated backup of the instance first: the kept one is found by its description, not its place.
        listed = [{"kind": "sql#backup", "name": f"projects/{PROJECT}/backups/automated-1", "instance": INSTANCE,
                   "type": "AUTOMATED", "state": "SUCCESSFUL", "backupRun": f"projects/{PROJECT}/instances/{INSTANCE}/backupRuns/1"}]
        for n, insert in enumerate(r for r in self.server.seen if r.method == "POST" and r.path.endswith("/backupRuns")):
            listed.append({"kind": "sql#backup", "name": RETAINED if n == 0 else f"projects/{PROJECT}/backups/other-{n}",
                           "instance": INSTANCE, "type": "ON_DEMAND", "state": "SUCCESSFUL",
                           # Once the engine has destroyed the stack, its instance is gone and the backup outlived it.
                           **({"instanceDeletionTime": "2026-12-06T02:00:00Z"} if self.fake and self.fake.ran("destroy") else {}),
                           "description": insert.json().get("description", ""),
                           "backupRun": f"projects/{PROJECT}/instances/{INSTANCE}/backupRuns/{RUN + n}"})
        return 200, {"backups": listed}

    def _list(self, request: Request) -> tuple[int, Any]:
        prefix = request.query.get("prefix", [""])[0]
        if prefix:
            names = [{"kind": "storage#object", "bucket": BUCKET, "name": n, "generation": "7", "size": "1"}
                     for n in self.records if n.startswith(prefix)]
            return 200, {"kind": "storage#objects", "items": names}
        versions = request.query.get("versions", [""])[0].lower() == "true"  # the client sends "True"
        return 200, {"kind": "storage#objects", "items": [o for o in self.listing if versions or "timeDeleted" not in o]}

    def _upload(self, request: Request) -> tuple[int, Any]:
        metadata, data = request.parts()
        name = json.loads(metadata)["name"]
        if name.endswith(".restore-lock") and self.lock_held and request.query.get("ifGenerationMatch") == ["0"]:
            return 412, {"error": {"code": 412, "message": "At least one of the pre-conditions you specified did not hold."}}
        return 200, _object(name, 2000, data)

    def _rewrite(self, request: Request) -> tuple[int, Any]:
        from urllib.parse import unquote

        name = unquote(request.path.rsplit("/o/", 1)[1])
        return 200, {"kind": "storage#rewriteResponse", "totalBytesRewritten": "7", "objectSize": "7", "done": True,
                     "resource": _object(name, 2100, b"model x")}

    def uploaded(self) -> dict[str, bytes]:
        out = {}
        for request in self.server.seen:
            if request.method == "POST" and request.path == f"/upload{OBJECTS}":
                metadata, data = request.parts()
                out[json.loads(metadata)["name"]] = data
        return out

    def serve(self, name: str, data: bytes) -> None:
        """What a download of `name` answers from now on (and that a listing names it)."""
        from urllib.parse import quote

        self.records[name] = data
        self.routes[("GET", f"/download{OBJECTS}/{quote(name, safe='')}".lower())] = (200, data)
        self.server.routes.update(self.routes)

    def backup(self) -> str:
        """`platform backup` of the stack; what it uploaded (its record) is served from then on."""
        from support.cli import invoke

        result = invoke("backup", "--cloud", "gcp")
        assert result.exit_code == 0, result.output
        for name, data in self.uploaded().items():
            self.serve(name, data)
        return result.stdout.strip()

    def calls(self, method: str, suffix: str) -> list[Request]:
        return [r for r in self.server.seen if r.method == method and r.path.endswith(suffix)]


@pytest.fixture()
def gcp(project, standin_engine, mlflow_with_runs, replay, monkeypatch) -> Gcp:
    world = Gcp(replay)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", world.server.url)
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_SQLADMIN", world.server.url + "/")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "unused-by-this-server")
    fake = standin_engine(state=True)
    fake.stacks({"gcp-dev": {"outputs": {"endpoints": {"mlflow": mlflow_with_runs},
                                         "data": {"store": "gcs", "bucket": BUCKET, "region": "us-central1",
                                                  "database": {"instance": INSTANCE, "host": "10.1.0.3", "port": 5432, "name": "mlflow",
                                                               "iam_login": DEV_IAM}}},
                             "secrets": [], "resources": []}})
    world.fake = fake
    from mlops_platform.cli.sweep.gcp import GcpSweep

    made = GcpSweep.__init__
    monkeypatch.setattr(GcpSweep, "__init__", lambda self, config, clients=None: made(self, config, clients or gcp_clients(world.server.url)))
    return world




@pytest.fixture()
def restored_instance(gcp, planned, tmp_path, monkeypatch) -> Iterator[dict[str, Any]]:
    """dev's Cloud SQL instance as a real PostgreSQL over TLS (the stack's schema already there), whose
    restore of prod's backup brings prod's users (a route of the replay sets prod's password on
    MLflow's login, as Cloud SQL's restore does); dev's cluster API on loopback, serving the program's
    own `mlflow-db-upgrade` template, whose pod runs on loopback against that server."""
    from mlops_platform.components.addons import database_ca
    from mlops_platform.components.addons.mlflow import DB_ADMIN_SECRET, DB_SECRET
    from support.cluster_jobs import Cluster
    from support.cluster_jobs import cronjobs as cluster_cronjobs
    from support.flexible import ADMIN, tracking_database
    from support.kube import serving
    from support.local_jobs import Loopback
    from support.postgres import postgres_bin
    from support.tls import tls_postgres_server, write_pki

    (tmp_path / "pki").mkdir()
    pki = write_pki(tmp_path / "pki")
    resources = planned("gcp-dev").resources
    cronjobs = cluster_cronjobs(resources, "mlflow")
    assert set(cronjobs) == {"mlflow-db-upgrade"}
    with tls_postgres_server(pki) as server:
        tracking_database(server, tmp_path)

        # dev's IAM user, as Cloud SQL makes it (a login role of the instance) and dev's grants left it.
        server.sql(f'CREATE ROLE "{DEV_IAM}" LOGIN; GRANT mlflow_app TO "{DEV_IAM}"')

        def restore_backup(request: Request) -> tuple[int, Any]:
            # prod's users come with its backup: its IAM user, and not dev's.
            server.sql(f'DROP ROLE "{DEV_IAM}"; CREATE ROLE "{PROD_IAM}" LOGIN; GRANT mlflow_app TO "{PROD_IAM}"; '
                       "ALTER ROLE mlflow_app NOLOGIN PASSWORD NULL")
            return 200, _operation("op-restore", "DONE", operationType="RESTORE_VOLUME")

        def users(request: Request) -> tuple[int, Any]:
            iam = server.sql("SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolname LIKE '%.iam'")
            return 200, {"kind": "sql#usersList", "items": [{"name": "mlflow", "type": "BUILT_IN"}, *(
                {"name": name, "type": "CLOUD_IAM_SERVICE_ACCOUNT"} for name in iam.split(",") if name)]}

        def add_user(request: Request) -> tuple[int, Any]:
            server.sql(f'CREATE ROLE "{request.json()["name"]}" LOGIN')
            return 200, _operation("op-iam-user", "DONE", operationType="CREATE_USER")

        gcp.server.routes[("POST", f"{SQL}/restoreBackup".lower())] = restore_backup
        # In the world's own routes too, which its later steps apply again (Gcp.serve).
        for key, answer in {("GET", f"{SQL}/users"): users, ("POST", f"{SQL}/users"): add_user}.items():
            gcp.routes[key] = gcp.server.routes[key] = answer
        (tmp_path / "pods").mkdir()
        runner = Loopback(tmp_path / "pods", {}, server.port, postgres_bin(), {}, postgres_host="localhost",
                          secrets={DB_ADMIN_SECRET: {"username": ADMIN, "password": "unused-with-trust-auth"},
                                   DB_SECRET: {"username": DEV_IAM, "password": ""}},
                          files={database_ca.CA_FILE: str(pki / "ca.crt")})
        cluster = Cluster("mlflow", cronjobs, runner)
        monkeypatch.setattr("mlops_platform.cli.backup.in_cluster.POLL_SECONDS", 0.1)
        with serving(cluster.answer) as kubeconfig:
            stacks = json.loads((gcp.fake.root / "stacks.json").read_text())
            stacks["gcp-dev"]["outputs"]["kubeconfig"] = kubeconfig
            gcp.fake.stacks(stacks)
            yield {"server": server, "cluster": cluster}


def gcp_clients(url: str) -> dict[str, Any]:
    """Compute Engine's clients (the sweep's) talking REST to `url`, without credentials."""
    import warnings

    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from google.cloud import compute_v1
    options = ClientOptions(api_endpoint=url)
    made = {name: cls(credentials=AnonymousCredentials(), client_options=options, transport="rest") for name, cls in (
        ("disks", compute_v1.DisksClient), ("addresses", compute_v1.AddressesClient),
        ("forwarding_rules", compute_v1.ForwardingRulesClient), ("target_pools", compute_v1.TargetPoolsClient),
        ("firewalls", compute_v1.FirewallsClient))}
    from mlops_platform.cli.backup.cloudsql import sqladmin

    made["sqladmin"] = sqladmin(AnonymousCredentials(), url + "/")
    return made
