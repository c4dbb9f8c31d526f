"""`platform backup` (take one now) and `platform backups list` (what the stack's bucket holds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from .common import BackendOption, Cloud, CloudOption, EnvOption, JsonOption, PassphraseFileOption

backups_app = typer.Typer(name="backups", short_help="List the stack's backups.", no_args_is_help=True, add_completion=False,
                          help="The backups kept in the stack's bucket.")


def register(app: typer.Typer) -> None:
    app.command("backup", short_help="Back up MLflow's database and artifacts now.")(backup)
    app.add_typer(backups_app)


def backup(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """Take a consistent backup of what the stack holds: the database (an RDS snapshot, a Cloud
    SQL on-demand backup; on local and Azure a pg_dump, by a Job in the cluster), the artifacts (the
    version of every object in the bucket now; on local and Azure a copy), and a record tying them
    together, kept in the stack's bucket under backups/<id>/. Prints the backup's id."""
    from .. import display
    from ..backup.guard import failures
    from ..backup.target import backup_now, open_target
    from ..project import load_config

    config = load_config(cloud, env)
    with failures():
        target = open_target(config, backend, passphrase_file)
        record, seconds = backup_now(target, display.progress)
    if json_output:
        display.print_json({**record.model_dump(mode="json", by_alias=True), "seconds": seconds})
        return
    display.progress(f"backup {record.id}: {_size(record.size)}, {record.counts.runs} runs, "
                     f"{record.counts.model_versions} model versions, in {sum(seconds.values()):.1f} s")
    print(record.id)


@backups_app.command("list", short_help="The stack's backups, newest first, with size and age.")
def list_backups(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """Every finished backup in the stack's bucket: id, age, size, what the database part is, and
    what MLflow held then."""
    from datetime import datetime, timezone

    from .. import display
    from ..backup.guard import failures
    from ..backup.target import backups, open_target
    from ..project import load_config

    config = load_config(cloud, env)
    with failures():
        target = open_target(config, backend, passphrase_file)
        found = backups(target, display.progress)
    now = datetime.now(timezone.utc)
    rows: list[dict[str, Any]] = [
        {"id": r.id, "created": r.created.isoformat(timespec="seconds"), "ageHours": round((now - r.created).total_seconds() / 3600, 1),
         "bytes": r.size, "database": r.database.kind, "stack": r.stack, "experiments": r.counts.experiments,
         "runs": r.counts.runs, "modelVersions": r.counts.model_versions} for r in found]
    if json_output:
        display.print_json({"stack": config.stack_name, "backups": rows})
        return
    if not rows:
        display.progress(f"no backups of stack {config.stack_name} yet: platform backup --cloud {config.cloud} --env {config.env}")
        return
    from rich.table import Table

    table = Table(box=None)
    for column in ("id", "age", "size", "database", "runs", "model versions"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["id"], _age(float(row["ageHours"])), _size(int(row["bytes"])), str(row["database"]),
                      str(row["runs"]), str(row["modelVersions"]))
    display.out().print(table)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _age(hours: float) -> str:
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"
