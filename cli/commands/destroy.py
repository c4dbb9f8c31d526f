"""`platform destroy`: tear a stack down in dependency order, leaving nothing billable behind."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .common import Cloud, CloudOption, EnvOption, JsonOption
from .engine_common import BackendOption, ParallelOption, PassphraseFileOption, YesOption


def register(app: typer.Typer) -> None:
    app.command("destroy", short_help="Tear a stack down, keeping protected data.")(destroy)


def destroy(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    yes: bool = YesOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
    parallel: Optional[int] = ParallelOption,
) -> None:
    """Delete every resource of the stack. Protected resources (prod data) are listed and kept."""
    from .. import display
    from ..engine.progress import ProgressTracker
    from ..errors import EXIT_FAILED, fail
    from ..project import load_config
    from .engine_common import confirm, open_engine, print_summary, run_operation, run_with_progress

    config = load_config(cloud, env)
    if not yes and not sys.stdin.isatty():
        fail("refusing to destroy without confirmation on a non-interactive terminal", "pass --yes")
    engine = open_engine(config, backend, passphrase_file, create=False, parallel=parallel)
    resources = run_operation(config, engine.resources)
    protected = [r for r in resources if r.get("protect")]
    if protected:
        console = display.err()
        console.print(f"[bold]{len(protected)} protected resources are kept (they hold data):[/bold]")
        for resource in protected:
            console.print(f"  {resource.get('type')}  {resource.get('urn', '').rsplit('::', 1)[-1]}")
        console.print("  remove them deliberately with `pulumi state unprotect` and destroy again.")
    if not yes and not confirm(
        f"Type the stack name ({config.stack_name}) to destroy {len(resources) - len(protected)} resources",
        expected=config.stack_name,
    ):
        fail("destroy cancelled: the stack name did not match", exit_code=EXIT_FAILED)
    tracker = ProgressTracker(total=len(resources) - len(protected))
    display.progress(f"Destroying stack {config.stack_name}...")
    run_with_progress(
        config, "destroy", tracker, lambda on_event: engine.destroy(on_event=on_event, exclude_protected=bool(protected))
    )
    summary = tracker.summary()
    if json_output:
        display.print_json({"stack": config.stack_name, "summary": summary,
                            "kept": [r.get("urn") for r in protected]})
    else:
        print_summary(f"stack {config.stack_name} destroyed", summary)
