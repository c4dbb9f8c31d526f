"""MLflow's own database login (components/addons/mlflow_grants.py), against a real PostgreSQL on
loopback: the database's master user (a non-superuser with CREATEDB and CREATEROLE, as RDS, Azure
and Cloud SQL make it) creates the two databases and runs the real MLflow's schema upgrade, then the
grants Job's own command (twice: it runs after every upgrade). A real `mlflow server` with the
oidc-auth app then runs as the app role only, tracking data and signing users in (the plugin's
migrations create its tables in the database the role owns), and the role can do nothing more: no
database, no role, no DDL on the tracking tables. A database restored from a dump gets its rights too."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from typing import Any, Optional
from urllib.parse import quote

import pytest

from mlops_platform.cli.backup import postgres as pg
from mlops_platform.components import names
from mlops_platform.components.addons import mlflow, mlflow_login
from mlops_platform.components.addons.mlflow_grants import APP_ROLE, SCRIPT, psql_command
from support.oidc import mlflow_environment, start_issuer, stop_issuer, token_for
from support.servers import free_port, http, wait_until_serving


def _url(server: Any, user: str, database: str) -> str:
    return f"postgresql+psycopg2://{user}@127.0.0.1:{server.port}/{database}"


def _grants(server: Any, master: str, tracking: str, auth: str, **login: str) -> subprocess.CompletedProcess[str]:
    """The schema Job's grants command as the master; `login` (IAM_LOGIN, LOGIN_ROLE) as mlflow_login.grants_env gives it."""
    env = {**os.environ, "PATH": f"{server.bin}{os.pathsep}{os.environ['PATH']}", "PGHOST": "127.0.0.1",
           "PGPORT": str(server.port), "PGUSER": master, "PGDATABASE": "postgres", "GRANTS": SCRIPT, "APP_PASSWORD": "n0t-s3cret",
           **login}
    return subprocess.run(["/bin/sh", "-c", psql_command(tracking, auth)], env=env, capture_output=True, text=True, timeout=120)


def _serve_and_use(server: Any, tracking: str, auth: str, tmp_path: Any, user: str = APP_ROLE,
                   libpq: Optional[dict[str, str]] = None) -> str:
    """A real mlflow server (oidc-auth) as `user` (the app role, or an IAM user whose password is in
    libpq's environment `libpq`, as the chart gives them): a user signs in by token, creates an
    experiment and logs a run with a metric. Returns the run's id."""
    issuer = start_issuer({"alice": {"email": "alice@example.org", "groups": ["mlops-users"]}})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The plugin's URI as the chart writes it: user:password@host, the password empty with a token login.
    plugin_uri = _url(server, user + (":" if libpq else ""), auth)
    env = {**mlflow_environment(issuer, url, tmp_path, {}), "OIDC_USERS_DB_URI": plugin_uri, **(libpq or {})}
    log = tmp_path / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--app-name", "oidc-auth",
         "--backend-store-uri", _url(server, quote(user), tracking), "--workers", "1"],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_until_serving(f"{url}/health", process, log, "mlflow server as the app role", timeout=120)
        bearer = {"Authorization": "Bearer " + token_for(issuer, "alice", "mlops-platform", f"{url}/callback")["access_token"]}
        api = f"{url}/api/2.0/mlflow"
        created = http.post(f"{api}/experiments/create", json={"name": "least-privilege"}, headers=bearer)
        assert created.status_code == 200, (created.text, log.read_text()[-2000:])
        run = http.post(f"{api}/runs/create", json={"experiment_id": created.json()["experiment_id"]}, headers=bearer)
        assert run.status_code == 200, run.text
        run_id = run.json()["run"]["info"]["run_id"]
        logged = http.post(f"{api}/runs/log-metric", json={"run_id": run_id, "key": "accuracy", "value": 0.97,
                                                          "timestamp": 1, "step": 0}, headers=bearer)
        assert logged.status_code == 200, logged.text
        return run_id
    finally:
        process.terminate()
        process.wait(timeout=30)
        stop_issuer(issuer)


def test_mlflow_runs_as_its_own_role_and_can_do_nothing_more(postgres, tmp_path):
    tag = secrets.token_hex(3)
    master, tracking, auth = f"master_{tag}", f"tracking_{tag}", f"auth_{tag}"
    postgres.sql(f"CREATE ROLE {master} LOGIN CREATEDB CREATEROLE")  # a cloud's admin user: no superuser
    for database in (tracking, auth):
        assert postgres.psql(f"CREATE DATABASE {database}", "postgres", master).returncode == 0
    upgrade = subprocess.run([sys.executable, "-m", "mlflow", "db", "upgrade", _url(postgres, master, tracking)],
                             capture_output=True, text=True, timeout=300)
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    for _ in range(2):
        granted = _grants(postgres, master, tracking, auth)
        assert granted.returncode == 0, granted.stderr
    assert "n0t-s3cret" not in granted.stdout + granted.stderr

    run_id = _serve_and_use(postgres, tracking, auth, tmp_path)

    assert postgres.psql(f"SELECT count(*) FROM metrics WHERE run_uuid = '{run_id}'", tracking, APP_ROLE).stdout.strip() == "1"
    assert postgres.sql(f"SELECT rolsuper, rolcreatedb, rolcreaterole, rolpassword IS NOT NULL FROM pg_authid "
                        f"WHERE rolname = '{APP_ROLE}'") == "f|f|f|t"
    # The plugin's tables exist (it made them at start) and are the app's.
    owners = postgres.sql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", auth).split()
    assert owners == [APP_ROLE], owners
    # A table a later upgrade adds (as the master) is the app's to use, through default privileges.
    assert postgres.psql(f"CREATE TABLE later_{tag} (x int)", tracking, master).returncode == 0
    assert postgres.psql(f"INSERT INTO later_{tag} VALUES (1)", tracking, APP_ROLE).returncode == 0
    # Nobody else of the server may even connect to the two databases.
    postgres.sql(f"CREATE ROLE stranger_{tag} LOGIN")
    for database in (tracking, auth):
        stranger = postgres.psql("SELECT 1", database, f"stranger_{tag}")
        assert stranger.returncode != 0 and "permission denied for database" in stranger.stderr, stranger.stderr
    for statement, database, refusal in (
        (f"CREATE DATABASE other_{tag}", tracking, "permission denied"),
        (f"CREATE ROLE other_{tag}", tracking, "permission denied"),
        ("DROP TABLE experiments", tracking, "must be owner"),
        ("ALTER TABLE runs ADD COLUMN extra int", tracking, "must be owner"),
        ("CREATE TABLE mine (x int)", tracking, "permission denied"),
    ):
        refused = postgres.psql(statement, database, APP_ROLE)
        assert refused.returncode != 0 and refusal in refused.stderr, (statement, refused.stderr)


@pytest.mark.parametrize("cloud", ["cloudsql", "rds"])
def test_an_iam_login_acts_as_the_app_role_and_owns_nothing(postgres, tmp_path, cloud):
    """MLflow logs in as its IAM user with a token as password (here a password libpq reads from its
    file, as the sidecar writes it): on Cloud SQL a user the cloud made (not the master); on RDS one the
    grants make, a member of RDS's rds_iam (stood for by a plain role) so that it logs in by token only."""
    tag = secrets.token_hex(3)
    master, tracking, auth, iam = f"master_{tag}", f"tracking_{tag}", f"auth_{tag}", f"mlops-{tag}-mlflow@proj.iam"
    postgres.sql(f"CREATE ROLE {master} LOGIN CREATEDB CREATEROLE")
    for database in (tracking, auth):
        assert postgres.psql(f"CREATE DATABASE {database}", "postgres", master).returncode == 0
    assert subprocess.run([sys.executable, "-m", "mlflow", "db", "upgrade", _url(postgres, master, tracking)],
                          capture_output=True, timeout=300).returncode == 0
    if cloud == "cloudsql":  # no rds_iam there (the session's server may hold one from the RDS case)
        postgres.sql(f'DROP ROLE IF EXISTS rds_iam; CREATE ROLE "{iam}" LOGIN')
    else:
        postgres.sql("DO $$ BEGIN CREATE ROLE rds_iam NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    login = {"IAM_LOGIN": "true", "LOGIN_ROLE": iam}
    for _ in range(2):
        granted = _grants(postgres, master, tracking, auth, **login)
        assert granted.returncode == 0, granted.stderr
    in_rds_iam = postgres.sql("SELECT EXISTS (SELECT FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u "
                              f"ON u.oid = m.member WHERE r.rolname = 'rds_iam' AND u.rolname = '{iam}')")
    assert in_rds_iam == ("t" if cloud == "rds" else "f")
    # The token stands as its password, which the server checks.
    postgres.sql(f"SET password_encryption = 'scram-sha-256'; ALTER ROLE \"{iam}\" PASSWORD 'ya29.token'")
    postgres.require_password(iam)
    # The app role holds the rights and logs in no more.
    assert postgres.sql(f"SELECT rolcanlogin, rolpassword IS NULL FROM pg_authid WHERE rolname = '{APP_ROLE}'") == "f|t"
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{postgres.port}:*:{iam}:ya29.token\n")
    pgpass.chmod(0o600)
    libpq = {"PGPASSFILE": str(pgpass), "PGOPTIONS": mlflow_login.SESSION_OPTIONS}
    run_id = _serve_and_use(postgres, tracking, auth, tmp_path, iam, libpq)
    assert postgres.sql(f"SELECT count(*) FROM metrics WHERE run_uuid = '{run_id}'", tracking) == "1"
    # What the plugin created at start is the app role's, not the IAM user's: the grants, which the
    # master runs after every upgrade, still manage it (the master may not take what the IAM user owned).
    owners = postgres.sql("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", auth).split()
    assert owners == [APP_ROLE], owners
    granted = _grants(postgres, master, tracking, auth, **login)
    assert granted.returncode == 0, granted.stderr
    # The IAM user may do what the app role may, and no more.
    as_mlflow = {**os.environ, **libpq, "PGPASSWORD": ""}
    for statement, allowed in (("SELECT count(*) FROM experiments", True), ("DROP TABLE experiments", False),
                               (f"CREATE DATABASE other_{tag}", False)):
        done = subprocess.run([str(postgres.bin / "psql"), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", iam, "-d", tracking,
                               "-X", "-w", "-c", statement], env=as_mlflow, capture_output=True, text=True, timeout=60)
        assert (done.returncode == 0) is allowed, (statement, done.stderr)


def test_a_database_restored_from_a_dump_gives_mlflow_its_rights_again(postgres, tmp_path):
    tag = secrets.token_hex(3)
    master, tracking, auth = f"master_{tag}", f"tracking_{tag}", f"auth_{tag}"
    postgres.sql(f"CREATE ROLE {master} LOGIN CREATEDB CREATEROLE")
    for database in (tracking, auth):
        assert postgres.psql(f"CREATE DATABASE {database}", "postgres", master).returncode == 0
    assert subprocess.run([sys.executable, "-m", "mlflow", "db", "upgrade", _url(postgres, master, tracking)],
                          capture_output=True, timeout=300).returncode == 0
    assert _grants(postgres, master, tracking, auth).returncode == 0
    server = pg.Server("127.0.0.1", postgres.port, master, "", "disable")
    dump = str(tmp_path / "tracking.dump")
    pg.dump(server, tracking, dump)
    pg.restore_into(server, f"restored_{tag}", dump)
    postgres.sql(f"GRANT CONNECT ON DATABASE restored_{tag} TO {APP_ROLE}")  # the switch renames it to the live one
    read = postgres.psql("SELECT count(*) FROM experiments", f"restored_{tag}", APP_ROLE)
    assert read.returncode == 0 and read.stdout.strip() == "0", read.stderr  # `db upgrade` adds no experiment
    assert postgres.psql("INSERT INTO tags (key, value, run_uuid) SELECT 'k', 'v', run_uuid FROM runs LIMIT 0",
                         f"restored_{tag}", APP_ROLE).returncode == 0


def _secrets_read(manifest: Any) -> set[str]:
    import json

    text = json.dumps(manifest)
    return {name for name in (mlflow.DB_SECRET, mlflow.DB_ADMIN_SECRET) if f'"{name}"' in text}


def test_only_the_platforms_job_holds_the_master_login(planned):
    run = planned("aws-dev")
    jobs = {j.input("metadata", "name"): j for j in run.of_type("kubernetes:batch/v1:Job")
            if j.input("metadata", "namespace") == names.NS_MLFLOW}
    admin = {name for name, job in jobs.items() if mlflow.DB_ADMIN_SECRET in _secrets_read(job.input("spec"))}
    assert admin == {mlflow.UPGRADE_JOB}
    (release,) = [r for r in run.helm_releases() if r.input("name") == names.RELEASE_MLFLOW]
    assert _secrets_read(release.input("values")) == {mlflow.DB_SECRET}, "the server logs in as the app role only"
    schema = jobs[mlflow.UPGRADE_JOB]
    assert schema.urn in run.waits_for(release)
    pod = schema.input("spec", "template", "spec")
    # The grants run last, once the auth database exists and the schema is upgraded (init containers, in
    # order; RDS's CA bundle comes in the ConfigMap, fetched by the program).
    assert [c["name"] for c in pod["initContainers"]] == ["create-auth-database", "upgrade"]
    (grants,) = pod["containers"]
    env = {e["name"]: e for e in grants["env"]}
    assert env["GRANTS"]["value"] == SCRIPT and env["APP_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == mlflow.DB_SECRET
    assert env["PGUSER"]["valueFrom"]["secretKeyRef"]["name"] == mlflow.DB_ADMIN_SECRET
