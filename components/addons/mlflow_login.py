"""MLflow's database login: a password of its own (mlflow_grants.APP_ROLE), or, where the data layer
gives a login by cloud identity (Database.iam_login: Cloud SQL's IAM user of MLflow's service
account, RDS's user that MLflow's IRSA role may log in as, Flexible Server's Entra user of MLflow's
managed identity), a token that its pod makes and no password at all.

With a token login:
- A native sidecar (an init container that keeps running, Kubernetes >= 1.29) runs
  scripts/db_login_token.py in the MLflow image: it writes libpq's password file (PGPASSFILE) with a
  fresh token every REFRESH_SECONDS, in a memory-backed emptyDir the server reads. Its startup
  probe holds the server back until the first token is there.
- The server and its sign-in plugin connect through libpq with the login Secret's empty password;
  libpq then reads the file at each new connection, so a token is never older than its life.
- Their sessions run as APP_ROLE (PGOPTIONS `-c role=...`): the IAM user is a member of it and holds
  no rights or objects of its own, so what the plugin creates stays APP_ROLE's, which the schema
  Job's grants can manage (the master may not alter what another login owns).
On Azure the schema Job first makes that Entra user (job_login), as the server's Entra admin.
Ref: https://cloud.google.com/sql/docs/postgres/iam-logins#log-in-manually
Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.html
Ref: https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/
Ref: https://www.postgresql.org/docs/current/libpq-envars.html (PGPASSFILE, PGOPTIONS)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources as package_files
from typing import Any, Optional

import pulumi

from .. import k8s as kube
from .. import names, versions
from ..data.outputs import Database, WorkloadAccess
from ..image_source import ImageSource
from . import database_ca
from .mlflow_grants import APP_ROLE, piped_psql

LOGIN_DIR = "/var/run/mlflow-db-login"
PGPASS_FILE = f"{LOGIN_DIR}/pgpass"
VOLUME = "db-login"
SIDECAR = "db-login-token"
SCRIPT = "db_login_token.py"
# libpq's startup options for MLflow's sessions: they act as APP_ROLE, which the IAM user is a member of.
SESSION_OPTIONS = f"-c role={APP_ROLE}"
# How often each kind of token is made again: a Google access token lives an hour, an RDS auth token
# 15 minutes, an Entra ID token an hour or more; either way a failed refresh leaves most of its life
# for the retries.
REFRESH_SECONDS = {"cloudsql": 600, "rds": 300, "entra": 600}
# The schema Job's steps that make MLflow's Entra user (job_login): a token, then the role.
ENTRA_TOKEN_STEP = "entra-admin-token"
ENTRA_PRINCIPAL_STEP = "entra-principal"
# As the server's Entra admin, in the `postgres` database (psql variables login_role, login_oid): MLflow's
# managed identity's role, mapped to it by object id, unless it is there. The grants then make it a
# member of APP_ROLE (mlflow_grants.SCRIPT).
# Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-manage-azure-ad-users
ENTRA_PRINCIPAL = r"""
SELECT format('SELECT * FROM pgaadauth_create_principal_with_oid(%L, %L, %L, false, false)', :'login_role', :'login_oid', 'service')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'login_role') \gexec
"""


@dataclass(frozen=True)
class PodLogin:
    """The server pod's parts for a token login (none for a password login)."""

    init_containers: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobLogin:
    """The schema Job's parts for making MLflow's Entra user (none elsewhere): its steps before the
    grants, their volume, and the identity the pod runs as, the server's Entra admin (`admin`: the
    annotations of its service account, names.MLFLOW_DB_ADMIN, and its pods' labels)."""

    init_containers: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    admin: Optional[WorkloadAccess] = None

    @property
    def service_account(self) -> Optional[str]:
        return names.MLFLOW_DB_ADMIN if self.admin is not None else None

    @property
    def pod_labels(self) -> dict[str, str]:
        return dict(self.admin.pod_labels) if self.admin is not None else {}


@functools.cache
def login_token_script() -> str:
    """The token script's text (read once: the server's sidecar and, on Azure, the schema Job run it)."""
    return package_files.files(__package__).joinpath("scripts", SCRIPT).read_text(encoding="utf-8")


def _login_volume() -> dict[str, Any]:
    """The password file's volume: in memory, one token's size."""
    return {"name": VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}


def secret_data(db: Database, app_password: Optional[pulumi.Output[str]]) -> dict[str, Any]:
    """The login Secret the chart reads (username, password): the IAM user with an empty password,
    which sends libpq to the password file, or APP_ROLE with its own."""
    if db.iam_login is not None:
        return {"username": db.iam_login.user, "password": ""}
    assert app_password is not None, "a password login needs its password"
    return {"username": APP_ROLE, "password": pulumi.Output.secret(app_password)}


def _token_env(db: Database, kind: str, user: pulumi.Input[str], region: Optional[str] = None) -> list[dict[str, Any]]:
    """The token script's settings: which token, for which line of the password file."""
    return [
        {"name": "PGPASSFILE", "value": PGPASS_FILE},
        {"name": "DB_LOGIN_HOST", "value": db.host},
        {"name": "DB_LOGIN_PORT", "value": str(db.port)},
        {"name": "DB_LOGIN_USER", "value": user},
        {"name": "DB_LOGIN_TOKEN", "value": kind},
        *([{"name": "DB_LOGIN_REGION", "value": region}] if region else []),
    ]


def pod_login(db: Database, images: ImageSource, run_as_user: int) -> PodLogin:
    login = db.iam_login
    if login is None:
        return PodLogin()
    sidecar = {
        "name": SIDECAR,
        "image": images.ref(versions.MLFLOW_IMAGE),
        # Kept running beside the server, started before it (a native sidecar).
        "restartPolicy": "Always",
        "command": ["python", "-c", login_token_script()],
        "env": [*_token_env(db, login.token, login.user, login.region),
                {"name": "TOKEN_REFRESH_SECONDS", "value": str(REFRESH_SECONDS[login.token])}],
        "startupProbe": {"exec": {"command": ["test", "-s", PGPASS_FILE]}, "periodSeconds": 2, "failureThreshold": 60},
        "resources": kube.resources("10m", "48Mi", "128Mi"),
        "securityContext": kube.container_security(run_as_user=run_as_user),
        "volumeMounts": [{"name": VOLUME, "mountPath": LOGIN_DIR}],
    }
    return PodLogin(
        init_containers=[sidecar],
        volumes=[_login_volume()],
        mounts=[{"name": VOLUME, "mountPath": LOGIN_DIR, "readOnly": True}],
        env={"PGPASSFILE": PGPASS_FILE, "PGOPTIONS": SESSION_OPTIONS},
    )


def grants_env(db: Database) -> list[dict[str, Any]]:
    """What the schema Job's grants read besides the password: whether MLflow logs in as an IAM user,
    and which (mlflow_grants.SCRIPT makes it a member of APP_ROLE)."""
    if db.iam_login is None:
        return [{"name": "IAM_LOGIN", "value": "false"}, {"name": "LOGIN_ROLE", "value": ""}]
    return [{"name": "IAM_LOGIN", "value": "true"}, {"name": "LOGIN_ROLE", "value": db.iam_login.user}]


def job_login(db: Database, images: ImageSource, trust: database_ca.PodTrust, run_as_user: int) -> JobLogin:
    """On Azure, the schema Job's steps before its grants: the token script writes the password file
    once with the server's Entra admin's token (the Job's own identity), then psql, as that admin,
    makes MLflow's Entra user (ENTRA_PRINCIPAL). Both run as `run_as_user`, psql's: libpq reads
    only a password file that no one else may read, so it must be the reader's own."""
    login = db.iam_login
    if login is None or login.entra is None:
        return JobLogin()
    principal = login.entra
    mount = {"name": VOLUME, "mountPath": LOGIN_DIR}
    token = {
        "name": ENTRA_TOKEN_STEP,
        "image": images.ref(versions.MLFLOW_IMAGE),
        "command": ["python", "-c", login_token_script()],
        "env": [*_token_env(db, "entra", principal.admin_user), {"name": "DB_LOGIN_ONCE", "value": "true"}],
        "resources": kube.resources("10m", "48Mi", "128Mi"),
        "securityContext": kube.container_security(run_as_user=run_as_user),
        "volumeMounts": [mount],
    }
    create = {
        "name": ENTRA_PRINCIPAL_STEP,
        "image": images.ref(versions.POSTGRES),
        "command": ["/bin/sh", "-c", piped_psql("PRINCIPAL", {"login_role": '"$LOGIN_ROLE"', "login_oid": '"$LOGIN_OID"'})],
        "env": [{"name": "PGHOST", "value": db.host}, {"name": "PGPORT", "value": str(db.port)},
                {"name": "PGDATABASE", "value": "postgres"}, {"name": "PGUSER", "value": principal.admin_user},
                {"name": "PGPASSFILE", "value": PGPASS_FILE},
                *({"name": k, "value": v} for k, v in trust.env.items()),
                {"name": "LOGIN_ROLE", "value": login.user},
                {"name": "LOGIN_OID", "value": principal.object_id},
                {"name": "PRINCIPAL", "value": ENTRA_PRINCIPAL}],
        "resources": kube.resources("20m", "32Mi", "128Mi"),
        "securityContext": kube.container_security(run_as_user=run_as_user),
        "volumeMounts": [{**mount, "readOnly": True}, *trust.mounts],
    }
    return JobLogin(init_containers=[token, create], volumes=[_login_volume()], admin=principal.admin_access)
