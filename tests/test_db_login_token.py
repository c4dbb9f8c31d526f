"""MLflow's Cloud SQL IAM login (scripts/db_login_token.py): the sidecar's loop writes libpq's password
file with the pod's Google access token, and libpq (psql, and psycopg2 as MLflow and its sign-in
plugin connect) logs in with it, under a real PostgreSQL that checks the password (SCRAM). The token
comes from google-auth's own Compute Engine credentials, which ask the metadata server the pod sees
(GKE's, for Workload Identity); here that server is a loopback one answering the documented token
request, its address given the way google-auth reads it (GCE_METADATA_HOST, GCE_METADATA_IP).
Ref: https://cloud.google.com/compute/docs/metadata/querying-metadata
"""

from __future__ import annotations

import http.server
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from mlops_platform.components.addons import mlflow_login

ROLE = "mlops-dev-mlflow@proj-1.iam"
# An account's details and its token, by alias (`default`) or, once known, by its e-mail.
ACCOUNT = re.compile(r"/computeMetadata/v1/instance/service-accounts/(default|[^/]+@[^/]+)/(token)?")


class _Metadata(http.server.BaseHTTPRequestHandler):
    token = ""
    failing = False
    asked: list[dict[str, Any]] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlsplit(self.path)
        account = ACCOUNT.fullmatch(url.path)
        if account and account[2]:
            type(self).asked.append({"flavor": self.headers.get("Metadata-Flavor"), "query": parse_qs(url.query)})
            if self.failing or self.headers.get("Metadata-Flavor") != "Google":
                self.send_response(500 if self.failing else 403)
                self.end_headers()
                return
            body = json.dumps({"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"}).encode()
        elif account:  # the account's details, which google-auth reads first
            body = json.dumps({"email": ROLE + ".gserviceaccount.com", "aliases": ["default"],
                               "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}).encode()
        else:  # google-auth's ping of the server, and anything else it reads
            body = b"{}"
        self.send_response(200)
        self.send_header("Metadata-Flavor", "Google")
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture()
def metadata() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Metadata)
    _Metadata.asked, _Metadata.failing = [], False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture()
def iam_role(postgres) -> Iterator[str]:
    """A login that only its password lets in, as Cloud SQL's IAM user takes only a token."""
    postgres.sql(f'DO $$ BEGIN CREATE ROLE "{ROLE}" LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$')
    postgres.require_password(ROLE)
    yield ROLE


def _set_token(postgres, token: str) -> None:
    _Metadata.token = token
    escaped = token.replace("'", "''")
    postgres.sql(f"SET password_encryption = 'scram-sha-256'; ALTER ROLE \"{ROLE}\" PASSWORD '{escaped}'")


def _sidecar(postgres, metadata: str, pgpass: Path, home: Path) -> subprocess.Popen[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "CLOUDSDK_CONFIG": str(home / "gcloud"),
           "GCE_METADATA_HOST": metadata, "GCE_METADATA_IP": metadata, "PGPASSFILE": str(pgpass), "DB_LOGIN_TOKEN": "cloudsql",
           "DB_LOGIN_HOST": "127.0.0.1", "DB_LOGIN_PORT": str(postgres.port), "DB_LOGIN_USER": ROLE,
           "TOKEN_REFRESH_SECONDS": "0.3"}
    # Its stderr in a file, read while it runs.
    return subprocess.Popen([sys.executable, "-c", mlflow_login.login_token_script()], env=env, stdout=subprocess.DEVNULL,
                            stderr=(home / "sidecar.err").open("w"), text=True)


def _wait_for(predicate, what: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process.poll() is not None:
            raise AssertionError(f"the sidecar ended ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} in {timeout}s")
        time.sleep(0.1)


def _psql_login(postgres, pgpass: Path) -> subprocess.CompletedProcess[str]:
    # PGPASSWORD empty, as the chart gives it from the login Secret's empty password: libpq then reads the file.
    env = {"PATH": os.environ["PATH"], "PGPASSFILE": str(pgpass), "PGPASSWORD": ""}
    return subprocess.run([str(postgres.bin / "psql"), "-h", "127.0.0.1", "-p", str(postgres.port), "-U", ROLE,
                           "-d", "postgres", "-X", "-w", "-Atc", "SELECT current_user"], env=env, capture_output=True,
                          text=True, timeout=30)


@pytest.fixture()
def sidecar(postgres, iam_role, metadata, tmp_path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    pgpass = tmp_path / "token" / "pgpass"
    pgpass.parent.mkdir()
    # A token with the two characters the file must escape (Google's are base64url, but the file's
    # format is what is tested).
    _set_token(postgres, r"ya29.first:token\part")
    process = _sidecar(postgres, metadata, pgpass, tmp_path)
    try:
        _wait_for(pgpass.exists, "password file", process)
        yield process, pgpass
    finally:
        process.kill()
        process.wait()


def test_libpq_logs_in_with_the_written_token_only(postgres, sidecar):
    process, pgpass = sidecar
    done = _psql_login(postgres, pgpass)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ROLE
    assert stat.S_IMODE(pgpass.stat().st_mode) == 0o600, "libpq ignores a password file others may read"
    # The password check is real: without the file, the login is refused.
    refused = _psql_login(postgres, pgpass.parent / "absent")
    assert refused.returncode != 0 and "password" in refused.stderr


def test_the_token_is_asked_for_with_cloud_sql_s_login_scope(postgres, sidecar):
    asked = _Metadata.asked[0]
    assert asked["flavor"] == "Google"
    assert "https://www.googleapis.com/auth/sqlservice.login" in ",".join(asked["query"].get("scopes", []))


def test_a_new_token_reaches_the_next_connection(postgres, sidecar):
    process, pgpass = sidecar
    _set_token(postgres, "ya29.second-token")
    _wait_for(lambda: "second-token" in pgpass.read_text(), "refreshed token", process)
    done = _psql_login(postgres, pgpass)
    assert done.returncode == 0, done.stderr
    # What the server and the plugin open: psycopg2 through SQLAlchemy, the URL's password empty (the
    # plugin's OIDC_USERS_DB_URI is user:$(password)@host with the Secret's empty password).
    import sqlalchemy

    url = f"postgresql+psycopg2://{ROLE}:@127.0.0.1:{postgres.port}/postgres"
    os.environ["PGPASSFILE"] = str(pgpass)
    try:
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as connection:
            assert connection.execute(sqlalchemy.text("SELECT current_user")).scalar() == ROLE
    finally:
        del os.environ["PGPASSFILE"]


def test_a_failed_refresh_keeps_the_token_and_says_so_in_one_line(postgres, sidecar, tmp_path):
    process, pgpass = sidecar
    before = pgpass.read_text()
    _Metadata.failing = True
    err = tmp_path / "sidecar.err"
    _wait_for(lambda: "db-login-token: could not refresh the login token" in err.read_text(), "failed refresh", process)
    assert pgpass.read_text() == before
    assert process.poll() is None, "the sidecar keeps going"
    assert _psql_login(postgres, pgpass).returncode == 0
    assert "Traceback" not in err.read_text()
    assert not [p for p in pgpass.parent.iterdir() if p.name != "pgpass"], "no temporary is left"


def test_without_configuration_it_stops_with_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-c", mlflow_login.login_token_script()], env={"PATH": os.environ["PATH"]},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("db-login-token: bad configuration") and "Traceback" not in done.stderr


def test_an_rds_token_is_signed_for_the_host_and_user_and_logs_in_as_written(postgres, iam_role, tmp_path):
    """DB_LOGIN_TOKEN=rds: boto3 signs the connect request with the pod's credentials (static ones
    here; IRSA's in the pod); the token, an URL with `:` in it, goes through the file to libpq intact."""
    pgpass = tmp_path / "pgpass"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PGPASSFILE": str(pgpass), "DB_LOGIN_TOKEN": "rds",
           "DB_LOGIN_HOST": "127.0.0.1", "DB_LOGIN_PORT": str(postgres.port), "DB_LOGIN_USER": ROLE,
           "DB_LOGIN_REGION": "eu-west-3", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE00", "AWS_SECRET_ACCESS_KEY": "s" * 40,
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    process = subprocess.Popen([sys.executable, "-c", mlflow_login.login_token_script()], env=env, stdout=subprocess.DEVNULL,
                               stderr=(tmp_path / "sidecar.err").open("w"), text=True)
    try:
        _wait_for(pgpass.exists, "password file", process)
        fields = re.split(r"(?<!\\):", pgpass.read_text().rstrip("\n"))
        host, port, database, user, token = (f.replace("\\:", ":").replace("\\\\", "\\") for f in fields)
        assert (host, port, database, user) == ("127.0.0.1", str(postgres.port), "*", ROLE)
        url = urlsplit("https://" + token)
        query = parse_qs(url.query)
        assert url.netloc == f"127.0.0.1:{postgres.port}" and query["Action"] == ["connect"] and query["DBUser"] == [ROLE]
        assert query["X-Amz-Credential"][0].endswith("/eu-west-3/rds-db/aws4_request") and query["X-Amz-Signature"]
        assert int(query["X-Amz-Expires"][0]) == 900
        _set_token(postgres, token)
        done = _psql_login(postgres, pgpass)
        assert done.returncode == 0, done.stderr
    finally:
        process.kill()
        process.wait()
