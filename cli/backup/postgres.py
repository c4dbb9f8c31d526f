"""A PostgreSQL database backed up with pg_dump and restored with pg_restore into a new database,
then switched in by name: the live database is renamed aside (kept until the user drops it) and the
restored one takes its name, so MLflow's connection settings stay as they are.

The client tools are PostgreSQL's own (postgresql-client); they talk to the server through libpq's
environment (PGHOST, PGPASSWORD, ...), so no password is ever on a command line.
Ref: https://www.postgresql.org/docs/current/libpq-envars.html
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from mlops_platform.components.data import backup_kit
from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused
from mlops_platform.components.data.backup_kit.record import sha256_file

if TYPE_CHECKING:
    from mlops_platform.components.data.backup_kit.objects import Progress, Store
    from mlops_platform.components.data.backup_kit.record import DatabasePart

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
TIMEOUT = 6 * 3600  # a dump or restore of a large registry takes long; a hung one should not hang forever


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str
    sslmode: str = "prefer"

    def __repr__(self) -> str:  # never the password
        return f"Server({self.user}@{self.host}:{self.port})"

    def environment(self) -> dict[str, str]:
        return {**os.environ, "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
                "PGPASSWORD": self.password, "PGSSLMODE": self.sslmode, "PGCONNECT_TIMEOUT": "15"}


def tool(name: str) -> str:
    """A PostgreSQL client tool: on PATH, else the newest Debian server or client package's."""
    found = shutil.which(name)
    if found:
        return found
    installed = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if installed:
        return installed[-1]
    raise BackupRefused(f"{name} is not installed: a database backup needs PostgreSQL's client tools "
                        "(Debian/Ubuntu: apt-get install postgresql-client; macOS: brew install libpq)")


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise BackupRefused(f"{name!r} is not a database name this platform uses")
    return name


def _run(server: Server, args: list[str], doing: str, extra: Optional[dict[str, str]] = None,
         refusal_exit: Optional[int] = None) -> str:
    """Runs a client tool (or the kit's script) against the server. `refusal_exit`: the exit code by
    which the program says it refused (its last line says why, whole)."""
    try:
        done = subprocess.run(args, env={**server.environment(), **(extra or {})}, capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BackupFailed(f"{doing}: no answer within {TIMEOUT // 3600} hours") from None
    if done.returncode:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        if done.returncode == refusal_exit:
            raise BackupRefused(reason.strip()[:200])
        if "permission denied" in reason or "must be owner" in reason or "password authentication failed" in reason:
            raise BackupRefused(f"{doing}: {reason.strip()[:200]}")
        raise BackupFailed(f"{doing}: {reason.strip()[:200]}")
    return done.stdout


def sql(server: Server, statement: str, database: str = "postgres") -> str:
    return _run(server, [tool("psql"), "-d", database, "-v", "ON_ERROR_STOP=1", "-X", "-Atc", statement],
                f"{statement.split()[0]} on {server.host}").strip()


def schema_revision(server: Server, database: str) -> Optional[str]:
    """The MLflow schema revision the database is at (its alembic_version row)."""
    out = sql(server, "SELECT version_num FROM alembic_version", _check_name(database))
    return out or None


def dump(server: Server, database: str, path: str) -> None:
    """pg_dump's custom format: consistent (one snapshot), compressed, restorable table by table."""
    _run(server, [tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "-d", _check_name(database), "-f", path],
         f"pg_dump of database {database}")


KIT = Path(backup_kit.__file__).resolve().parent  # its scripts ship with it (package data)


def restore_into(server: Server, database: str, path: str) -> None:
    """A new database `database` with the dump's contents and MLflow's login given its rights there
    (where the server has it); refuses one that exists. The kit's script, which the local stack's
    restore Job runs too."""
    from mlops_platform.components.addons.mlflow_grants import TRACKING_GRANTS

    tools = {"PSQL": tool("psql"), "PG_RESTORE": tool("pg_restore")}
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as grants:
        grants.write(TRACKING_GRANTS)
        grants.flush()
        _run(server, ["sh", str(KIT / "restore_database.sh"), _check_name(database), path, grants.name],
             f"restoring into database {database}", extra=tools, refusal_exit=2)


def switch(server: Server, live: str, restored: str, keep_as: str) -> bool:
    """`restored` takes the name `live`; the live database, when there is one, becomes `keep_as`
    (the kit's switch.sql, which the local stack's restore Job runs too). Returns whether a live
    database was kept."""
    variables = [arg for name, value in (("live", live), ("restored", restored), ("keep_as", keep_as))
                 for arg in ("-v", f"{name}={_check_name(value)}")]
    out = _run(server, [tool("psql"), "-d", "postgres", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", *variables,
                        "-f", str(KIT / "switch.sql")], f"switching database {restored} in as {live}")
    return out.strip() == keep_as


@dataclass(frozen=True)
class Dumped:
    """A database backed up by pg_dump into the backup's folder (local, and any server a cloud's
    own backup cannot serve)."""

    server: Server
    name: str

    def take(self, bucket: "Store", folder: str, progress: "Progress") -> "DatabasePart":
        from mlops_platform.components.data.backup_kit.record import DUMP, DatabasePart

        with tempfile.TemporaryDirectory(prefix="mlops-backup-") as work:
            path = os.path.join(work, DUMP)
            progress(f"pg_dump of database {self.name}")
            revision = schema_revision(self.server, self.name)
            dump(self.server, self.name, path)
            digest = sha256_file(path)
            size = os.path.getsize(path)
            progress(f"uploading the dump ({size:,} bytes)")
            bucket.upload(folder + DUMP, path)
        return DatabasePart(kind="pg_dump", ref=folder + DUMP, source=self.name, bytes=size, sha256=digest,
                            schema_revision=revision)

    def restore(self, part: "DatabasePart", bucket: "Store", suffix: str, progress: "Progress") -> str:
        if part.kind != "pg_dump":
            raise BackupRefused(f"the backup's database is an {part.kind}, which this stack's database cannot restore")
        restored = f"{self.name}_restore_{suffix}"
        with tempfile.TemporaryDirectory(prefix="mlops-restore-") as work:
            path = os.path.join(work, "database.dump")
            progress(f"downloading the dump ({part.bytes:,} bytes)")
            bucket.download(part.ref, path)
            if sha256_file(path) != part.sha256:
                raise BackupFailed(f"the dump at {part.ref} does not match its record's checksum: it was changed or cut short")
            progress(f"pg_restore into the new database {restored}")
            restore_into(self.server, restored, path)
        return restored

    def brings_logins(self, part: "DatabasePart") -> bool:
        """Never: a dump restores into a new database on this server, whose logins stay."""
        return False

    def switch(self, restored: str, part: "DatabasePart", suffix: str) -> Optional[str]:
        keep_as = f"{self.name}_before_{suffix}"
        return keep_as if switch(self.server, self.name, restored, keep_as) else None

