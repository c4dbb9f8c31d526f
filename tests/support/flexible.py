"""A stand-in for an Azure stack's Flexible Server on a real PostgreSQL (support/tls.py serves it over
TLS): its admin is no superuser (Flexible Server's has CREATEDB and CREATEROLE only), and the
tracking database is what the stack's schema Job leaves (components/addons/mlflow.py): the schema made
by the admin with the pinned MLflow, then MLflow's own login and its rights by the stack's grants
script, which makes the admin a member of that login."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mlops_platform.components.addons.mlflow_grants import SCRIPT

ADMIN = "mlflow"  # the server admin's login in the stack (names.DATABASE_USER)


def as_admin(server: Any, sql: str, database: str = "postgres") -> str:
    done = subprocess.run([str(server.bin / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-f", "-"],
                          input=sql, env={**os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(server.port), "PGUSER": ADMIN},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def tracking_database(server: Any, tmp_path: Path) -> None:
    """What the stack's schema Job leaves: the tracking schema made by the admin, MLflow's own login
    with its rights (the stack's grants script, which makes the admin a member of it)."""
    for database in ("mlflow", "mlflow_auth"):
        server.sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    server.sql("DO $$ BEGIN CREATE ROLE mlflow LOGIN CREATEDB CREATEROLE; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    as_admin(server, "CREATE DATABASE mlflow;\nCREATE DATABASE mlflow_auth;\n")
    upgrade = subprocess.run([sys.executable, "-m", "mlflow", "db", "upgrade", f"postgresql+psycopg2://{ADMIN}@127.0.0.1:{server.port}/mlflow"],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    script = "".join(f"\\set {k} '{v}'\n" for k, v in
                     {"app_role": "mlflow_app", "app_password": "unused", "iam_login": "false", "tracking_db": "mlflow", "auth_db": "mlflow_auth"}.items())
    as_admin(server, script + SCRIPT)
