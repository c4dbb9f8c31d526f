"""`platform restore`: a backup brought back into the stack, MLflow switched to it and checked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    from ..backup import operations

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
    """Restore the database into a new instance (on local and Azure, a new database on the same
    server, by a Job in the cluster), bring the artifacts back to the recorded versions, switch MLflow to the restored
    database, and check MLflow's health and that it holds what the backup recorded. The database it
    replaces is kept (renamed) until you remove it."""
    from mlops_platform.components.data.backup_jobs import IN_CLUSTER_CLOUDS

    from .. import display
    from ..backup import cluster_target
    from ..backup.guard import failures
    from ..backup.target import open_target, require_mlflow
    from ..confirming import confirm
    from ..errors import EXIT_FAILED, fail
    from ..project import load_config

    config = load_config(cloud, env)
    if from_env is not None and config.cloud in IN_CLUSTER_CLOUDS:
        fail(f"--from-env restores another environment's backup from its bucket; a {config.cloud} stack's backups live in its own "
             "cluster, out of another's reach", "leave --from-env out")
    with failures():
        target = open_target(config, backend, passphrase_file)
        if isinstance(target, cluster_target.ClusterTarget):
            require_mlflow(config, target.mlflow.url)
            if not yes and not confirm(f"Replace stack {config.stack_name}'s MLflow data with backup {backup_id}?"):
                fail("restore cancelled: nothing changed", exit_code=EXIT_FAILED)
            report = cluster_target.restore(target, backup_id, force, display.progress)
        else:
            report = _cloud_restore(config, target, backup_id, from_env, force, yes, backend, passphrase_file)
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


def _cloud_restore(config: Any, target: operations.Target, backup_id: str, from_env: Optional[str], force: bool, yes: bool,
                   backend: Optional[str], passphrase_file: Optional[Path]) -> Any:
    """On AWS and GCP: the record is read from here (the stack's bucket, or --from-env's) and shown
    before the confirmation; then the restore runs step by step (cli/backup/operations.py)."""
    from mlops_platform.components.data.backup_kit.catalog import find

    from .. import display
    from ..backup import operations
    from ..backup.target import open_target
    from ..confirming import confirm
    from ..errors import EXIT_FAILED, fail
    from ..project import load_config

    source: Optional[operations.Target] = None
    if from_env is not None:
        if from_env == config.env:
            fail(f"--from-env {from_env} is the environment being restored", "leave --from-env out")
        opened = open_target(load_config(config.cloud, from_env), backend, passphrase_file)
        assert isinstance(opened, operations.Target), "--from-env is refused on local and Azure before here"
        source = opened
    record = find(source.bucket if source is not None else target.bucket, backup_id, (source or target).stack)
    if not yes and not confirm(f"Replace stack {config.stack_name}'s MLflow data with backup {record.id} "
                               f"({record.created:%Y-%m-%d %H:%M} UTC, {record.counts.runs} runs)?"):
        fail("restore cancelled: nothing changed", exit_code=EXIT_FAILED)
    return operations.restore(target, record, display.progress, force=force, source=source)
