"""MLflow's Entra ID database login on Azure (components/addons/mlflow_login.py, scripts/db_login_token.py
with DB_LOGIN_TOKEN=entra): the token script, run as the schema Job's step (once) and as MLflow's
sidecar (a loop), gets a token through azure-identity's own WorkloadIdentityCredential, which trades
the pod's projected service-account token for it at Entra ID's token endpoint, and libpq logs in with
it under a real PostgreSQL that checks the password. Entra ID cannot run here: its token endpoint is
a loopback HTTPS one answering the documented client-credentials request with a federated assertion,
its address given the way the Workload Identity webhook gives it (AZURE_AUTHORITY_HOST), its
certificate trusted through REQUESTS_CA_BUNDLE. Then the Job's next step, run as written, makes
MLflow's Entra user once. Flexible Server's `pgaadauth_create_principal_with_oid` is Azure's: here a
function of the same signature that makes a login role and records the call.
Ref: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#third-case-access-token-request-with-a-federated-credential
Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-manage-azure-ad-users
"""

from __future__ import annotations

import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs

import pytest

from mlops_platform.components.addons import mlflow_login
from mlops_platform.components.addons.mlflow_grants import APP_ROLE, SCRIPT, psql_command
from support.tls import make_ca, server_cert

ADMIN = "mlops-dev-mlflow-db-admin"
MLFLOW_USER = "mlops-dev-mlflow"
MLFLOW_OID = "5b0c8a3e-1f2d-4c6b-9a7e-0d1e2f3a4b5c"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
CLIENT_ID = "0d7e1c54-3b9a-4f6e-8c2d-9e8f7a6b5c4d"
PROJECTED = "eyJhbGciOiJSUzI1NiJ9.projected-service-account-token.sig"
# Entra ID's access tokens are JWTs of 1.5 to 2.5 KB: the password file's line is that long.
PAYLOAD = "e" * 1900


class _Entra(http.server.BaseHTTPRequestHandler):
    token = ""
    failing = False
    asked: list[dict[str, Any]] = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
        type(self).asked.append({"path": self.path, **{k: v[0] for k, v in form.items()}})
        if self.failing or self.path != f"/{TENANT}/oauth2/v2.0/token":
            body, status = {"error": "invalid_client", "error_description": "AADSTS700213: no matching federated identity"}, 400
        else:
            body, status = {"access_token": self.token, "expires_in": 3599, "token_type": "Bearer"}, 200
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def entra(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """(the authority host, the CA file that trusts it)."""
    folder = tmp_path_factory.mktemp("entra")
    ca_pem, ca = make_ca("entra")
    cert, key = server_cert(ca, "localhost")
    for name, text in {"ca.crt": ca_pem, "server.crt": cert, "server.key": key}.items():
        (folder / name).write_text(text)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Entra)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.crt", folder / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}", folder / "ca.crt"
    server.shutdown()


@pytest.fixture()
def admin_role(postgres, entra) -> Iterator[str]:
    """The server's Entra admin, a login that only its token lets in."""
    _Entra.asked, _Entra.failing = [], False
    postgres.sql(f'DO $$ BEGIN CREATE ROLE "{ADMIN}" LOGIN CREATEROLE; EXCEPTION WHEN duplicate_object THEN NULL; END $$')
    postgres.require_password(ADMIN)
    _set_token(postgres, f"eyJ0eXAiOiJKV1QifQ.first-entra-token-{PAYLOAD}.sig")
    yield ADMIN


def _set_token(postgres, token: str) -> None:
    _Entra.token = token
    postgres.sql(f"SET password_encryption = 'scram-sha-256'; ALTER ROLE \"{ADMIN}\" PASSWORD '{token}'")


def _token_env(postgres, entra, tmp_path: Path, **extra: str) -> dict[str, str]:
    """What the token step's container has: its own settings (job_login) and the webhook's."""
    authority, ca_file = entra
    projected = tmp_path / "azure-identity-token"
    projected.write_text(PROJECTED)
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PGPASSFILE": str(tmp_path / "pgpass"),
            "DB_LOGIN_TOKEN": "entra", "DB_LOGIN_HOST": "127.0.0.1", "DB_LOGIN_PORT": str(postgres.port),
            "DB_LOGIN_USER": ADMIN, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_TENANT_ID": TENANT,
            "AZURE_FEDERATED_TOKEN_FILE": str(projected), "AZURE_AUTHORITY_HOST": authority,
            "REQUESTS_CA_BUNDLE": str(ca_file), **extra}


def _run_once(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", mlflow_login.login_token_script()], env=env, capture_output=True,
                          text=True, timeout=120)


def _psql(postgres, pgpass: Path, user: str = ADMIN, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ["PATH"], "PGPASSFILE": str(pgpass), "PGPASSWORD": "", "PGHOST": "127.0.0.1",
            "PGPORT": str(postgres.port), "PGUSER": user, "PGDATABASE": "postgres"}
    return subprocess.run([str(postgres.bin / "psql"), "-X", "-w", *(args or ("-Atc", "SELECT current_user"))],
                          env={**base, **(env or {})}, capture_output=True, text=True, timeout=60)


def test_the_job_step_writes_the_admins_token_once_and_libpq_logs_in_with_it(postgres, admin_role, entra, tmp_path):
    env = _token_env(postgres, entra, tmp_path, DB_LOGIN_ONCE="true")
    done = _run_once(env)
    assert done.returncode == 0, done.stderr
    [asked] = _Entra.asked
    # The documented request: the client credentials grant, the pod's projected token as its assertion.
    assert asked["path"] == f"/{TENANT}/oauth2/v2.0/token"
    assert asked["grant_type"] == "client_credentials" and asked["client_id"] == CLIENT_ID
    assert asked["client_assertion"] == PROJECTED
    assert asked["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert asked["scope"] == "https://ossrdbms-aad.database.windows.net/.default"
    pgpass = Path(env["PGPASSFILE"])
    login = _psql(postgres, pgpass)
    assert login.returncode == 0, login.stderr
    assert login.stdout.strip() == ADMIN
    # The password check is real: another token is refused.
    _set_token(postgres, "eyJ0eXAiOiJKV1QifQ.another.sig")
    assert _psql(postgres, pgpass).returncode != 0


def test_a_refused_token_ends_the_step_in_one_line_with_no_file(postgres, admin_role, entra, tmp_path):
    _Entra.failing = True
    env = _token_env(postgres, entra, tmp_path, DB_LOGIN_ONCE="true")
    done = _run_once(env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("db-login-token: could not get a login token"), done.stderr
    assert not Path(env["PGPASSFILE"]).exists()
    assert not list(tmp_path.glob(".pgpass-*")), "no temporary is left"


def test_without_the_webhooks_settings_it_stops_as_bad_configuration(postgres, entra, tmp_path):
    env = _token_env(postgres, entra, tmp_path, DB_LOGIN_ONCE="true")
    del env["AZURE_FEDERATED_TOKEN_FILE"]
    done = _run_once(env)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("db-login-token: bad configuration") and "Traceback" not in done.stderr


def test_the_sidecar_keeps_a_fresh_entra_token_in_the_file(postgres, admin_role, entra, tmp_path):
    env = _token_env(postgres, entra, tmp_path, TOKEN_REFRESH_SECONDS="0.3")
    pgpass = Path(env["PGPASSFILE"])
    process = subprocess.Popen([sys.executable, "-c", mlflow_login.login_token_script()], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (pgpass.exists() and "first-entra-token" in pgpass.read_text()):
            assert process.poll() is None and time.monotonic() < deadline, "no first token"
            time.sleep(0.1)
        # azure-identity keeps a token until near its expiry: the loop's next one is the cached one,
        # and the file still logs in.
        assert _psql(postgres, pgpass).returncode == 0
        assert process.poll() is None
    finally:
        process.kill()
        process.wait()


# Azure's function, as far as this step needs it: a login role for the principal, mapped by its id.
PGAADAUTH = """
CREATE TABLE IF NOT EXISTS public.entra_calls (role text, oid text, kind text, admin bool, mfa bool, caller text);
CREATE OR REPLACE FUNCTION public.pgaadauth_create_principal_with_oid(role text, oid text, kind text, admin bool, mfa bool)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO public.entra_calls VALUES (role, oid, kind, admin, mfa, session_user);
  EXECUTE format('CREATE ROLE %I LOGIN', role);
  RETURN format('Created role for "%s"', role);
END $$;
GRANT INSERT ON public.entra_calls TO PUBLIC;
"""


def _principal_step(postgres, pgpass: Path) -> subprocess.CompletedProcess[str]:
    """The Job's principal step as it is written (its shell command and environment), on loopback."""
    from mlops_platform.components.addons import database_ca
    from mlops_platform.components.data.outputs import Database, EntraPrincipal, IamLogin, WorkloadAccess
    from mlops_platform.components.image_source import ImageSource

    db = Database(host="127.0.0.1", port=postgres.port, name="mlflow", user="mlflow", password="", ssl_mode="disable",
                  iam_login=IamLogin("entra", MLFLOW_USER, entra=EntraPrincipal(MLFLOW_OID, ADMIN, WorkloadAccess())))
    job = mlflow_login.job_login(db, ImageSource(), database_ca.PodTrust(), run_as_user=70)
    [step] = [c for c in job.init_containers if c["name"] == mlflow_login.ENTRA_PRINCIPAL_STEP]
    env = {e["name"]: e["value"] for e in step["env"]} | {"PGPASSFILE": str(pgpass), "PGPASSWORD": ""}
    psql_dir = str(postgres.bin)
    return subprocess.run(step["command"], env={"PATH": f"{psql_dir}:{os.environ['PATH']}", **env},
                          capture_output=True, text=True, timeout=60)


def test_the_job_makes_mlflows_entra_user_once_as_the_admin(postgres, admin_role, entra, tmp_path):
    postgres.sql(f'DROP ROLE IF EXISTS "{MLFLOW_USER}"')
    postgres.sql(PGAADAUTH)
    postgres.sql("TRUNCATE public.entra_calls")
    env = _token_env(postgres, entra, tmp_path, DB_LOGIN_ONCE="true")
    assert _run_once(env).returncode == 0
    pgpass = Path(env["PGPASSFILE"])
    for _ in range(2):  # the Job runs again at every upgrade
        done = _principal_step(postgres, pgpass)
        assert done.returncode == 0, done.stderr
    calls = postgres.sql("SELECT role, oid, kind, admin, mfa, caller FROM public.entra_calls")
    # Made once, for MLflow's identity, no admin, by the admin's own (token) login.
    assert calls.splitlines() == [f"{MLFLOW_USER}|{MLFLOW_OID}|service|f|f|{ADMIN}"]
    # The grants, as the master, then make it a member of the role that holds MLflow's rights.
    postgres.sql("DROP DATABASE IF EXISTS mlflow_entra")
    postgres.sql("DROP DATABASE IF EXISTS mlflow_entra_auth")
    postgres.sql("CREATE DATABASE mlflow_entra")
    postgres.sql("CREATE DATABASE mlflow_entra_auth")
    grants = subprocess.run(["/bin/sh", "-c", psql_command("mlflow_entra", "mlflow_entra_auth")],
                            env={"PATH": f"{postgres.bin}:{os.environ['PATH']}", "GRANTS": SCRIPT, "IAM_LOGIN": "true",
                                 "LOGIN_ROLE": MLFLOW_USER, "APP_PASSWORD": "", "PGHOST": "127.0.0.1",
                                 "PGPORT": str(postgres.port), "PGUSER": "postgres", "PGDATABASE": "postgres"},
                            capture_output=True, text=True, timeout=60)
    assert grants.returncode == 0, grants.stderr
    member = postgres.sql(f"SELECT pg_has_role('{MLFLOW_USER}', '{APP_ROLE}', 'MEMBER')")
    assert member == "t"


def test_without_the_admins_token_the_step_makes_nothing(postgres, admin_role, entra, tmp_path):
    postgres.sql(f'DROP ROLE IF EXISTS "{MLFLOW_USER}"')
    postgres.sql(PGAADAUTH)
    done = _principal_step(postgres, tmp_path / "absent")
    assert done.returncode != 0 and "password" in done.stderr
    assert postgres.sql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{MLFLOW_USER}'") == "0"
