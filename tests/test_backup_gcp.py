"""`platform backup` and `restore` on a GCP stack: the real clients (google-cloud-storage, the Cloud
SQL Admin API through google-api-python-client) against responses replayed on loopback, a real
`mlflow server` for the counts, the engine stand-in for the stack's outputs.

The project's routes and the fixtures `gcp` and `restored_instance` are in tests/support/gcp_world.py,
written from the services' REST references, not recorded from a live project: no cloud is reachable
here. What they check is what the clients send, in which order, and how the CLI reads the answers;
what Cloud SQL does with a restore is Google's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from support import OLD_MLFLOW_SCHEMA
from support.cli import refused
from support.gcp_world import ART, AT_RESTORE, DEV_IAM, INSTANCE, OBJECTS, OPS, PROJECT, RUN, SQL, Gcp, _operation


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_backup_takes_a_cloud_sql_backup_and_records_each_objects_generation(gcp):
    backup_id = gcp.backup()
    [insert] = gcp.calls("POST", "/backupRuns")
    assert insert.json() == {"description": f"mlops-platform {backup_id}"}
    uploads = gcp.uploaded()
    assert list(uploads) == [f"backups/{backup_id}/artifacts.json", f"backups/{backup_id}/record.json"], "the record last"
    manifest = json.loads(uploads[f"backups/{backup_id}/artifacts.json"])
    assert manifest["mode"] == "versions"
    assert [(o["key"], o["versionId"]) for o in manifest["objects"]] == [
        (ART.format(0), "1001"), (ART.format(1), "1002"), (ART.format(2), "1003")], "live generations only, no backups"
    record = json.loads(uploads[f"backups/{backup_id}/record.json"])
    assert record["database"] == {"kind": "cloudsql-backup", "ref": str(RUN), "source": INSTANCE, "location": PROJECT,
                                  "bytes": 20 << 30, "sha256": None, "schemaRevision": None, "iamLogin": DEV_IAM}
    assert record["counts"] == {"experiments": 2, "runs": 3, "modelVersions": 1} and record["stack"] == "gcp-dev"
    listed = invoke("backups", "list", "--cloud", "gcp", "--json")
    assert listed.exit_code == 0, listed.output
    assert [b["id"] for b in json.loads(listed.stdout)["backups"]] == [backup_id]


def test_restore_sets_the_live_instance_aside_then_restores_onto_it_after_the_artifacts(gcp):
    backup_id = gcp.backup()
    gcp.listing = AT_RESTORE
    result = invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["artifacts"] == {"restored": 2, "removed": 1, "unchanged": 1}
    [clone] = gcp.calls("POST", "/clone")
    aside = clone.json()["cloneContext"]["destinationInstanceName"]
    assert aside.startswith(f"{INSTANCE}-before-") and report["keptDatabase"] == aside
    assert report["restoredDatabase"] == INSTANCE, "restored in place: MLflow's address stays"
    [restore] = gcp.calls("POST", "/restoreBackup")
    assert restore.path == f"{SQL}/restoreBackup"
    assert restore.json() == {"restoreBackupContext": {"backupRunId": RUN, "instanceId": INSTANCE, "project": PROJECT}}
    rewrites = [r for r in gcp.server.seen if "/rewriteTo/" in r.path]
    assert sorted((r.path.rsplit("/o/", 1)[1], r.query["sourceGeneration"]) for r in rewrites) == [
        ("mlflow%2F1%2Frun0%2Fartifacts%2Fmodel.bin", ["1001"]), ("mlflow%2F1%2Frun2%2Fartifacts%2Fmodel.bin", ["1003"])]
    deleted = sorted(gcp.server.deleted())
    assert deleted == [f"{OBJECTS}/backups%2F.restore-lock", f"{OBJECTS}/mlflow%2F1%2Flate%2Fartifacts%2Fmodel.bin"]
    order = [r.path for r in gcp.server.seen]
    assert order.index(clone.path) < order.index(rewrites[0].path) and order.index(rewrites[-1].path) < order.index(restore.path), \
        "the database is switched only once the artifacts are back"


def test_a_restore_while_one_runs_is_refused_before_anything_moves(gcp):
    backup_id = gcp.backup()
    gcp.lock_held = True
    gcp.serve("backups/.restore-lock", b'{"backup": "bk-other", "host": "ci-runner"}')
    refused(invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes"), "already running", "ci-runner", "gs://")
    assert not gcp.calls("POST", "/clone") and not gcp.calls("POST", "/restoreBackup") and not gcp.server.deleted()


def test_missing_rights_are_one_line_and_no_record_is_written(gcp):
    gcp.routes[("POST", f"{SQL}/backupRuns")] = (403, {"error": {"code": 403, "message": "The client is not authorized to make this request.",
                                                                 "errors": [{"reason": "notAuthorized"}]}})
    gcp.server.routes.update({(m, p.lower()): v for (m, p), v in gcp.routes.items()})
    refused(invoke("backup", "--cloud", "gcp"), "access denied", "Cloud SQL")
    assert gcp.uploaded() == {}


def test_a_backup_cloud_sql_reports_failed_exits_1_without_a_record(gcp):
    failed = _operation("op-backup", "DONE", error={"kind": "sql#operationErrors",
                                                    "errors": [{"code": "INTERNAL_ERROR", "message": "backup failed"}]})
    gcp.server.routes[("GET", f"{OPS}/op-backup".lower())] = (200, failed)
    result = invoke("backup", "--cloud", "gcp")
    assert result.exit_code == 1, result.output
    assert "INTERNAL_ERROR" in result.stderr and "Traceback" not in result.output
    assert gcp.uploaded() == {}


def test_a_missing_instance_is_refused_before_a_restore_changes_anything(gcp):
    backup_id = gcp.backup()
    for route in (("GET", SQL.lower()), ("POST", f"{SQL}/clone".lower())):  # the instance is gone: 404s
        del gcp.server.routes[route]
    refused(invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes"), "no such instance", PROJECT)
    assert not gcp.calls("POST", "/restoreBackup") and not [r for r in gcp.server.seen if "/rewriteTo/" in r.path]
    assert gcp.calls("DELETE", "restore-lock"), "the lock is given back"


DEV_LOGIN = "dev-mlflow-login-5e1b2d"  # dev's MLflow database password (its `credentials` output)


def _prod_backup(gcp: Gcp, dev_login: bool) -> str:
    """A backup whose record says it is of prod's instance in prod's project; dev's outputs carry its
    database login if `dev_login`."""
    backup_id = gcp.backup()
    key = f"backups/{backup_id}/record.json"
    record = json.loads(gcp.records[key])
    record["stack"] = "gcp-prod"
    record["database"] = {**record["database"], "source": "mlops-prod-c3d4", "location": "prod-project"}
    gcp.serve(key, json.dumps(record).encode())
    if dev_login:
        stacks = json.loads((gcp.fake.root / "stacks.json").read_text())
        stacks["gcp-dev"]["outputs"]["credentials"] = {"database_password": DEV_LOGIN}
        stacks["gcp-dev"]["secrets"] = ["credentials"]
        gcp.fake.stacks(stacks)
    return backup_id


def test_another_stacks_backup_is_restored_from_its_own_instance_and_project(gcp, restored_instance):
    backup_id = _prod_backup(gcp, dev_login=True)
    refused(invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes"), "gcp-prod", "--force")
    assert not gcp.calls("POST", "/clone")
    result = invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes", "--force")
    assert result.exit_code == 0, result.output
    [restore] = gcp.calls("POST", "/restoreBackup")
    assert restore.path == f"{SQL}/restoreBackup", "onto this stack's instance"
    assert restore.json()["restoreBackupContext"] == {"backupRunId": RUN, "instanceId": "mlops-prod-c3d4", "project": "prod-project"}
    # The backup brought prod's users: MLflow's gets dev's password back, after the restore.
    [login] = gcp.calls("PUT", f"{SQL}/users")
    assert login.query["name"] == ["mlflow"] and login.json() == {"name": "mlflow", "password": DEV_LOGIN}
    assert gcp.server.seen.index(restore) < gcp.server.seen.index(login)
    assert DEV_LOGIN not in result.output


def test_a_backup_of_the_same_instance_keeps_its_login(gcp):
    backup_id = gcp.backup()
    record = json.loads(gcp.records[f"backups/{backup_id}/record.json"])
    assert record["database"]["iamLogin"] == DEV_IAM, "the backup records the IAM user it holds"
    result = invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes")
    assert result.exit_code == 0, result.output
    assert gcp.calls("POST", "/restoreBackup") and not gcp.calls("PUT", f"{SQL}/users")


def test_a_backup_from_before_mlflows_iam_login_gives_it_its_login_again(gcp, restored_instance):
    """A backup of this instance taken before MLflow logged in as its service account holds neither
    its IAM user nor the user's rights: the restore adds the user and runs the schema Job, as for
    another instance's backup."""
    server = restored_instance["server"]
    backup_id = gcp.backup()
    key = f"backups/{backup_id}/record.json"
    record = json.loads(gcp.records[key])
    del record["database"]["iamLogin"]  # as an older platform wrote it
    gcp.serve(key, json.dumps(record).encode())
    stacks = json.loads((gcp.fake.root / "stacks.json").read_text())
    stacks["gcp-dev"]["outputs"]["credentials"] = {"database_password": DEV_LOGIN}
    stacks["gcp-dev"]["secrets"] = ["credentials"]
    gcp.fake.stacks(stacks)
    result = invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes")
    assert result.exit_code == 0, result.output
    assert gcp.calls("POST", f"{SQL}/users") and [j["metadata"]["name"] for j in restored_instance["cluster"].created] == [
        "mlflow-db-upgrade-after-restore"]
    assert mlflow_logs_in_as(server, DEV_IAM)


def test_another_instances_backup_is_refused_where_the_login_cannot_be_set_back(gcp, restored_instance):
    backup_id = _prod_backup(gcp, dev_login=False)
    refused(invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes", "--force"),
            "prod-project/mlops-prod-c3d4", "no database login", "platform up")
    assert not gcp.calls("POST", "/clone") and not gcp.calls("POST", "/restoreBackup")
    assert not restored_instance["cluster"].created
    assert gcp.calls("DELETE", "restore-lock"), "the lock is given back"


def test_up_takes_a_cloud_sql_backup_before_it_migrates_mlflows_database(gcp):
    stacks = json.loads((gcp.fake.root / "stacks.json").read_text())
    outputs = stacks["gcp-dev"]["outputs"]
    gcp.fake.stacks({"gcp-dev": {"outputs": {**outputs, "deployment": {"releases": {}, "mlflowSchema": OLD_MLFLOW_SCHEMA}},
                                 "secrets": [], "resources": []}})
    gcp.fake.events("up", "up")
    result = invoke("up", "--cloud", "gcp", "--yes")
    assert result.exit_code == 0, result.output
    assert "backing it up first" in result.stderr
    assert len(gcp.calls("POST", "/backupRuns")) == 1 and any(n.endswith("/record.json") for n in gcp.uploaded())
    assert gcp.fake.ran("up")


def mlflow_logs_in_as(server: Any, login: str) -> bool:
    """Whether `login` may log in and act as MLflow's app role, which holds the rights and logs in no more."""
    return server.sql(f"SELECT rolcanlogin AND pg_has_role(rolname, 'mlflow_app', 'MEMBER') FROM pg_roles WHERE rolname = '{login}'") == "t" \
        and server.sql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'mlflow_app'") == "f"


def test_prods_backup_restored_into_dev_gives_mlflow_its_own_logins_back(gcp, restored_instance):
    """After the restore brought prod's users, the master's password is set back and dev's IAM user
    added through the API, then the stack's schema Job runs again from its template: MLflow logs in as
    dev's service account, acting as the app role."""
    server, cluster = restored_instance["server"], restored_instance["cluster"]
    backup_id = _prod_backup(gcp, dev_login=True)
    result = invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes", "--force", "--json")
    assert result.exit_code == 0, result.output
    assert mlflow_logs_in_as(server, DEV_IAM), "MLflow's login is dev's service account again"
    [login] = gcp.calls("PUT", f"{SQL}/users")
    [added] = gcp.calls("POST", f"{SQL}/users")
    assert added.json() == {"name": DEV_IAM, "type": "CLOUD_IAM_SERVICE_ACCOUNT"}
    [job] = cluster.created
    assert gcp.server.seen.index(login) < gcp.server.seen.index(added)
    assert job["metadata"]["name"] == "mlflow-db-upgrade-after-restore"
    assert job["metadata"]["ownerReferences"][0]["name"] == "mlflow-db-upgrade"
    assert "giving MLflow its own login" in result.stderr and json.loads(result.stdout)["counts"]["runs"] == 3
    assert DEV_LOGIN not in result.output


def test_a_schema_job_that_fails_after_the_switch_exits_1_saying_what_to_run(gcp, restored_instance):
    server, cluster = restored_instance["server"], restored_instance["cluster"]
    backup_id = _prod_backup(gcp, dev_login=True)
    server.sql("ALTER DATABASE mlflow RENAME TO mlflow_elsewhere")  # the Job's first step cannot connect
    result = invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes", "--force")
    assert result.exit_code == 1, result.output
    assert "switched in" in result.stderr and "create job --from=cronjob/mlflow-db-upgrade" in result.stderr
    assert [j["metadata"]["name"] for j in cluster.created] == ["mlflow-db-upgrade-after-restore"]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("missing", ["kubeconfig", "template"])
def test_without_the_cluster_or_its_template_another_stacks_backup_is_refused_first(gcp, restored_instance, missing):
    backup_id = _prod_backup(gcp, dev_login=True)
    if missing == "kubeconfig":
        stacks = json.loads((gcp.fake.root / "stacks.json").read_text())
        del stacks["gcp-dev"]["outputs"]["kubeconfig"]
        gcp.fake.stacks(stacks)
    else:
        restored_instance["cluster"].cronjobs.clear()
    refused(invoke("restore", "--cloud", "gcp", "--from", backup_id, "--yes", "--force"),
            "kubeconfig" if missing == "kubeconfig" else "mlflow-db-upgrade")
    assert not gcp.calls("POST", "/clone") and not gcp.calls("POST", "/restoreBackup")
    assert not restored_instance["cluster"].created


@pytest.mark.parametrize("listed", [True, False])
def test_mlflows_iam_user_is_added_only_where_the_instance_lacks_it(gcp, listed):
    from google.auth.credentials import AnonymousCredentials

    from mlops_platform.cli.backup.cloudsql import CloudSqlBackup, sqladmin

    login = DEV_IAM if listed else "mlops-pr-7-mlflow@my-mlops-project.iam"
    database = CloudSqlBackup(sqladmin(AnonymousCredentials(), gcp.server.url + "/"), PROJECT, INSTANCE, delay=0.01,
                              login="master-login", iam_login=login)
    database.adopt("projects/p/backups/b", lambda _: None)
    assert gcp.calls("GET", f"{SQL}/users")
    added = gcp.calls("POST", f"{SQL}/users")
    assert [a.json() for a in added] == ([] if listed else [{"name": login, "type": "CLOUD_IAM_SERVICE_ACCOUNT"}])
