"""`platform restore`: a backup brought back into the stack, MLflow switched to it and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import BackendOption, Cloud, CloudOption, EnvOption, JsonOption, PassphraseFileOption, YesOption


def register(app: typer.Typer) -> None:
    app.command("restore", short_help="Restore a backup: database, artifacts, MLflow switched.")(restore)


def restore(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    backup_id: str = typer.Option(..., "--from", show_default=False,
                                  help="The backup's id (platform backups list), or `latest`: the stack's newest."),
    from_env: Optional[str] = typer.Option(None, "--from-env", show_default=False,
                                           help="Restore a backup of this cloud's other environment (kept in its bucket)."),
    force: bool = typer.Option(False, "--force", help="Restore a backup taken of another stack."),
    yes: bool = YesOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """Restore the database into a new instance, bring the artifacts back to the recorded versions,
    switch MLflow to the restored database, and check MLflow's health and that it holds what the
    backup recorded. The database it replaces is kept (renamed) until you remove it."""
    from .. import display
    from ..backup import operations
    from ..backup.guard import failures
    from ..backup.target import open_target
    from ..confirming import confirm
    from ..errors import EXIT_FAILED, fail
    from ..project import load_config

    config = load_config(cloud, env)
    with failures():
        target = open_target(config, backend, passphrase_file)
        source = None
        if from_env is not None:
            if from_env == config.env:
                fail(f"--from-env {from_env} is the environment being restored", "leave --from-env out")
            source = open_target(load_config(cloud, from_env), backend, passphrase_file)
        record = operations.find(source.bucket if source is not None else target.bucket, backup_id,
                                 (source or target).stack)
        if not yes and not confirm(f"Replace stack {config.stack_name}'s MLflow data with backup {record.id} "
                                   f"({record.created:%Y-%m-%d %H:%M} UTC, {record.counts.runs} runs)?"):
            fail("restore cancelled: nothing changed", exit_code=EXIT_FAILED)
        report = operations.restore(target, record, display.progress, force=force, source=source)
    summary = {
        "backup": report.record.id, "restoredDatabase": report.restored_database, "keptDatabase": report.kept_database,
        "artifacts": {"restored": report.artifacts.restored, "removed": report.artifacts.removed,
                      "unchanged": report.artifacts.unchanged},
        "counts": report.counts.model_dump(by_alias=True), "seconds": report.seconds,
    }
    if json_output:
        display.print_json(summary)
        return
    display.progress(f"restored {report.record.id} in {sum(report.seconds.values()):.1f} s: MLflow holds "
                     f"{report.counts.experiments} experiments, {report.counts.runs} runs, {report.counts.model_versions} model versions")
    if report.kept_database:
        display.progress(f"the database it replaced is kept as {report.kept_database}: remove it once you no longer need it")
