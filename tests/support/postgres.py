"""A real PostgreSQL (Debian's `postgresql` package) on loopback for a test session: initdb into a
fresh folder, `postgres` on a free port, trust authentication for loopback only. As root, the server
runs as the package's `postgres` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .servers import free_port, missing


def postgres_bin() -> Optional[Path]:
    """The newest installed server's bin folder (/usr/lib/postgresql/<major>/bin), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def require_postgres_bin() -> Path:
    """postgres_bin(), or a skip naming why; in CI (PLATFORM_REQUIRE_POSTGRES=1) a failure."""
    found = postgres_bin()
    if found is None:
        missing("PostgreSQL is not installed (Debian: apt-get install postgresql)", "PLATFORM_REQUIRE_POSTGRES")
    return found


@dataclass
class Postgres:
    bin: Path
    port: int
    data: Path
    user: Optional[str]  # the OS user the server runs as (None: this process's)

    def url(self, database: str) -> str:
        # psycopg2 named: SQLAlchemy 2.1 takes a bare postgresql:// for psycopg 3, which MLflow does not bring.
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, statement: str, database: str = "postgres", user: str = "postgres") -> subprocess.CompletedProcess[str]:
        """`statement` run by psql as `user` (trust authentication: no password), whatever its outcome."""
        return subprocess.run([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", database,
                               "-X", "-v", "ON_ERROR_STOP=1", "-Atc", statement], capture_output=True, text=True, timeout=60)

    def sql(self, statement: str, database: str = "postgres") -> str:
        done = self.psql(statement, database)
        if done.returncode:
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        self.sql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def require_password(self, role: str) -> None:
        """Loopback logins as `role` must give its password (SCRAM): the trust rule stays for the rest."""
        hba = self.data / "pg_hba.conf"
        rule = f"host all \"{role}\" 127.0.0.1/32 scram-sha-256\n"
        if rule not in hba.read_text():
            hba.write_text(rule + hba.read_text())
        self.sql("SELECT pg_reload_conf()")

    @property
    def log(self) -> Path:
        return self.data.parent / "server.log"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.data.parent, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.bin / tool), *args], capture_output=True, text=True, timeout=120,
                              user=self.user, cwd=self.data.parent)


def start_postgres(*settings: str) -> Postgres:
    """The server, with `settings` ("name=value") given on its command line."""
    bin_dir = postgres_bin()
    assert bin_dir is not None
    user = "postgres" if os.geteuid() == 0 else None
    # Not under pytest's tmp folder: as root that is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="pg-test-"))
    if user:
        shutil.chown(root, user)
    server = Postgres(bin_dir, free_port(), root / "data", user)
    init = server._run("initdb", "-D", str(server.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8")
    if init.returncode:
        raise RuntimeError(f"initdb failed: {init.stderr[-1500:]}")
    started = server._run("pg_ctl", "-D", str(server.data), "-l", str(root / "server.log"), "-w", "-t", "60", "-o",
                          f"-c listen_addresses=127.0.0.1 -c port={server.port} -c unix_socket_directories={root} "
                          "-c fsync=off -c full_page_writes=off" + "".join(f" -c {setting}" for setting in settings), "start")
    if started.returncode:
        raise RuntimeError(f"postgres did not start: {started.stderr[-800:]} {(root / 'server.log').read_text()[-1500:]}")
    deadline = time.monotonic() + 30
    while True:
        try:
            server.sql("SELECT 1")
            return server
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
