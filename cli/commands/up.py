"""`platform up`: deploy or update a stack, with live progress from engine events."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .common import (
    BackendOption,
    Cloud,
    CloudOption,
    EnvOption,
    JsonOption,
    ParallelOption,
    PassphraseFileOption,
    YesOption,
)


def register(app: typer.Typer) -> None:
    app.command("up", short_help="Deploy or update a stack (previews and asks first).")(up)


def up(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    yes: bool = YesOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
    parallel: Optional[int] = ParallelOption,
    allow_replace: Optional[list[str]] = typer.Option(
        None, "--allow-replace", help="URN of a resource holding data or identity that may be replaced (repeatable).",
        show_default=False),
    skip_backup: bool = typer.Option(
        False, "--skip-backup", help="Migrate MLflow's database without the backup up takes first (you took one yourself)."),
) -> None:
    """Create or update every resource of the stack (the policy pack checks each change).

    A replacement or deletion of what holds data or identity (cluster, database, bucket, keys,
    volume claims, CRDs, the issuer's client) is refused unless its URN is allowed. When the update
    migrates MLflow's database (one way), a backup is taken first (`platform backup`). What
    `destroy --keep-data` kept (platform:keptData) is adopted: the bucket imported, the database
    created from its snapshot or restored from the kept backup after the update."""
    from .. import display, paths
    from ..backup import keep
    from ..confirming import confirm
    from ..engine.diff import DiffCollector, guarded, print_diff
    from ..engine.progress import ProgressTracker
    from ..errors import EXIT_FAILED, fail
    from ..opening import open_engine, require_deploy_tools, require_engine
    from ..planning import check_kubernetes_skew, deployed_record, pending_mlflow_migrations
    from ..project import load_config, report_placeholders
    from ..running import run_operation, run_with_progress

    config = load_config(cloud, env)
    report_placeholders(config, refuse=config.is_prod)
    paths.input_file(passphrase_file, "--passphrase-file")
    require_engine()  # a missing engine is the first thing to fix, with or without --yes
    require_deploy_tools(config)
    if not yes and not sys.stdin.isatty():
        # Checked before the engine is touched: nothing is written.
        fail("refusing to deploy without confirmation on a non-interactive terminal", "pass --yes")
    engine = open_engine(config, backend, passphrase_file, create=True, parallel=parallel)
    record = deployed_record(config, engine)
    check_kubernetes_skew(config, record)
    migrations = [] if skip_backup else pending_mlflow_migrations(config, record)
    # Always previewed: the guard must know every replacement before anything changes.
    display.progress(f"Previewing stack {config.stack_name}...")
    collector = DiffCollector()
    run_operation(config, lambda: engine.preview(on_event=collector))
    refused = guarded(collector, {*config.allow_replace, *(allow_replace or [])})
    if refused or not yes:
        print_diff(collector, config.stack_name, display.err())  # stdout stays for the result
    if refused:
        listed = ", ".join(f"{step.op} {step.name} ({step.critical})" for step in refused)
        fail(f"{len(refused)} step(s) would lose data or identity: {listed[:400]}; nothing was deployed",
             "allow each by URN: --allow-replace " + refused[0].urn + " (or platform:allowReplace in the stack file)")
    if not yes:
        if not confirm(f"Deploy these changes to stack {config.stack_name}?"):
            fail("deployment cancelled", exit_code=EXIT_FAILED)
    if migrations:
        _backup_before_migration(config, engine, migrations)
    # The total is what the program registers: the offline plan of the same program counts it.
    from mlops_platform.planner.harness import plan_platform

    tracker = ProgressTracker(total=len(plan_platform(config).resources))
    display.progress(f"Deploying stack {config.stack_name} (backend {engine.env['PULUMI_BACKEND_URL']})...")
    if config.kept_data is not None:
        keep.adopting(config)
    result = run_with_progress(config, "up", tracker, engine.up)
    if config.kept_data is not None:
        keep.adopted(config, engine)
    _report(config, tracker, result.outputs, json_output)


def _report(config: Any, tracker: Any, outputs: Any, json_output: bool) -> None:
    from .. import display
    from ..running import masked_outputs, print_summary

    summary = tracker.summary()
    if json_output:
        display.print_json({"stack": config.stack_name, "summary": summary, "outputs": masked_outputs(outputs)})
    else:
        print_summary(f"stack {config.stack_name} is up", summary)
        endpoints = masked_outputs(outputs).get("endpoints") or {}
        for name, url in endpoints.items():
            display.out().print(display.literal(f"{name:<16} {url}"))
    if tracker.policies:
        for policy in tracker.policies:
            display.err().print(f"[yellow]policy {policy.level}[/yellow] {display.literal(f'{policy.policy}: {policy.message}')}")


def _backup_before_migration(config: Any, engine: Any, migrations: list[tuple[str, str]]) -> None:
    """After the confirmation, before the engine changes anything: the backup `restore` can bring
    back if the migration goes wrong. A failed backup stops the update (exit 1)."""
    from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused

    from .. import display
    from ..backup.target import backup_now, engine_target
    from ..errors import EXIT_FAILED, EXIT_USAGE, fail

    display.progress(f"MLflow's database will be migrated ({', '.join(rev for rev, _ in migrations)}): backing it up first")
    try:
        target = engine_target(config, engine)
        record, _ = backup_now(target, display.progress)
    except (BackupRefused, BackupFailed) as err:
        fail(f"the backup before MLflow's migration failed: {err}; nothing was deployed",
             "fix that and rerun, or back up yourself and pass --skip-backup",
             EXIT_USAGE if isinstance(err, BackupRefused) else EXIT_FAILED)
    display.progress(f"backup {record.id} taken; `platform restore --from {record.id}` brings it back")
