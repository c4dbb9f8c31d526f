"""pgaudit (issue 23, item 4): RDS loads it through the stack's parameter group and Cloud SQL through
its flags, both logging schema and role changes; the schema Job's script creates the extension
where the server loads it, and only says so where it cannot. Against a real PostgreSQL on loopback
with Debian's pgaudit package, started the way those servers are."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from mlops_platform.components.addons.mlflow_grants import SCRIPT, psql_command
from mlops_platform.components.data.outputs import PGAUDIT_LOG
from support import one


def _audited_server():
    from support.postgres import postgres_bin, start_postgres

    bin_dir = postgres_bin()
    if bin_dir is None or not list(Path("/usr/share/postgresql").glob("*/extension/pgaudit.control")):
        message = "pgaudit is not installed (Debian: apt-get install postgresql-<major>-pgaudit)"
        if os.environ.get("PLATFORM_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return start_postgres("shared_preload_libraries=pgaudit", f"pgaudit.log={PGAUDIT_LOG}")


def _run_script(server, user: str, tracking: str, auth: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{server.bin}{os.pathsep}{os.environ['PATH']}", "PGHOST": "127.0.0.1",
           "PGPORT": str(server.port), "PGUSER": user, "PGDATABASE": "postgres", "GRANTS": SCRIPT, "APP_PASSWORD": "pw"}
    return subprocess.run(["/bin/sh", "-c", psql_command(tracking, auth)], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def audited():
    server = _audited_server()
    try:
        yield server
    finally:
        server.stop()


def test_the_script_creates_pgaudit_and_schema_changes_reach_the_log(audited):
    tag = secrets.token_hex(3)
    tracking, auth = f"tracking_{tag}", f"auth_{tag}"
    for database in (tracking, auth):
        audited.sql(f"CREATE DATABASE {database}")
    # As the clouds' admin users may (rds_superuser, cloudsqlsuperuser): here the superuser.
    done = _run_script(audited, "postgres", tracking, auth)
    assert done.returncode == 0, done.stderr
    assert audited.sql("SELECT extname FROM pg_extension WHERE extname = 'pgaudit'", tracking) == "pgaudit"
    audited.sql(f"CREATE TABLE audited_{tag} (x int)", tracking)
    audited.sql(f"INSERT INTO audited_{tag} VALUES (1)", tracking)
    log = audited.log.read_text()
    assert f"AUDIT: SESSION,1,1,DDL,CREATE TABLE,TABLE,public.audited_{tag},CREATE TABLE audited_{tag} (x int)" in log
    assert f"INSERT INTO audited_{tag}" not in log, "row writes are not audited (each MLflow request would be)"


def test_the_library_logs_schema_changes_before_the_extension_exists(audited):
    # Azure's order: the server restarts with pgaudit preloaded, and the schema Job may create the
    # extension later. The statement is logged at once; the extension only adds the object's name.
    tag = secrets.token_hex(3)
    audited.sql(f"CREATE DATABASE plain_{tag}")
    audited.sql(f"CREATE TABLE early_{tag} (x int)", f"plain_{tag}")
    assert audited.sql("SELECT count(*) FROM pg_extension WHERE extname = 'pgaudit'", f"plain_{tag}") == "0"
    assert f"AUDIT: SESSION,1,1,DDL,CREATE TABLE,,,CREATE TABLE early_{tag} (x int)" in audited.log.read_text()


def test_an_admin_who_may_not_create_it_is_told_and_the_grants_still_apply(audited):
    tag = secrets.token_hex(3)
    master, tracking, auth = f"master_{tag}", f"tracking_{tag}", f"auth_{tag}"
    audited.sql(f"CREATE ROLE {master} LOGIN CREATEDB CREATEROLE")
    for database in (tracking, auth):
        assert audited.psql(f"CREATE DATABASE {database}", "postgres", master).returncode == 0
    done = _run_script(audited, master, tracking, auth)
    assert done.returncode == 0, done.stderr
    assert "pgaudit is not loaded by this server (permission denied to create extension" in done.stderr
    assert audited.sql("SELECT count(*) FROM pg_extension WHERE extname = 'pgaudit'", tracking) == "0"
    assert audited.sql(f"SELECT has_database_privilege('mlflow_app', '{tracking}', 'CONNECT')") == "t"


def test_rds_and_cloud_sql_load_it_and_log_schema_and_role_changes(planned):
    [group] = planned("aws-prod").of_type("aws:rds/parameterGroup:ParameterGroup")
    parameters = {p["name"]: p for p in group.input("parameters")}
    assert parameters["shared_preload_libraries"] == {"name": "shared_preload_libraries", "value": "pg_stat_statements,pgaudit",
                                                      "applyMethod": "pending-reboot"}
    assert parameters["pgaudit.log"]["value"] == "ddl,role"
    [instance] = planned("gcp-prod").of_type("gcp:sql/databaseInstance:DatabaseInstance")
    flags = {f["name"]: f["value"] for f in instance.input("settings", "databaseFlags")}
    assert flags["cloudsql.enable_pgaudit"] == "on" and flags["pgaudit.log"] == "ddl,role"


@pytest.mark.parametrize("stack", ["azure-dev", "azure-prod"])
def test_flexible_server_loads_it_after_a_restart_before_anything_connects(stack, planned):
    from mlops_platform.components.addons.mlflow import UPGRADE_JOB

    run = planned(stack)
    [server] = run.of_type("azure-native:dbforpostgresql:Server")
    settings = run.of_type("azure-native:dbforpostgresql:Configuration")
    values = {c.input("configurationName"): c.input("value") for c in settings}
    assert values == {"log_connections": "on", "log_disconnections": "on", "azure.extensions": "PGAUDIT",
                      "shared_preload_libraries": "pg_stat_statements,pgaudit", "pgaudit.log": PGAUDIT_LOG}
    # One write after another (a server takes one parameter change at a time), in that order.
    for before, after in zip(settings, settings[1:], strict=False):
        assert before.urn in run.waits_for(after), (before.name, after.name)
    by_name = {c.input("configurationName"): c for c in settings}
    restart = one(run, "command:local:Command", "-postgres-restart")
    assert restart.input("create").startswith("az postgres flexible-server restart ")
    assert set(restart.input("environment")) == {"GROUP", "SERVER", "SUBSCRIPTION"}
    assert restart.input("triggers") == ["pg_stat_statements,pgaudit"], "again only when the preloaded list changes"
    assert by_name["shared_preload_libraries"].urn in run.waits_for(restart)
    assert restart.urn in run.waits_for(by_name["pgaudit.log"])
    # The schema Job, which creates the extension, starts once pgaudit is loaded and set.
    [job] = [j for j in run.of_type("kubernetes:batch/v1:Job") if j.input("metadata", "name") == UPGRADE_JOB]
    assert {by_name["pgaudit.log"].urn, restart.urn, server.urn} <= run.waits_for(job)
    # And the server's log (connections, pgaudit's lines) goes to the stack's workspace.
    shipped = one(run, "azure-native:monitor:DiagnosticSetting", "-postgres-logs")
    assert shipped.input("logs") == [{"category": "PostgreSQLLogs", "enabled": True}]
    assert server.urn in shipped.property_dependencies["resourceUri"] and shipped.input("workspaceId")
