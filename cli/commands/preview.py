"""`platform preview`: the diff against what is deployed, with the policy results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import Cloud, CloudOption, EnvOption, JsonOption, report_placeholders
from .engine_common import BackendOption, ParallelOption, PassphraseFileOption


def register(app: typer.Typer) -> None:
    app.command("preview", short_help="Show what up would change, with the policy results.")(preview)


def preview(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    json_output: bool = JsonOption,
    expect_no_changes: bool = typer.Option(False, "--expect-no-changes", help="Exit 1 when the plan is not empty (for CI)."),
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
    parallel: Optional[int] = ParallelOption,
) -> None:
    """Show what `platform up` would change, resource by resource, grouped by component."""
    from .. import display
    from ..engine.diff import DiffCollector, print_diff
    from ..errors import EXIT_FAILED, fail
    from ..project import load_config
    from .engine_common import open_engine, run_operation

    config = load_config(cloud, env)
    report_placeholders(config, refuse=False)
    engine = open_engine(config, backend, passphrase_file, create=True, parallel=parallel)
    display.progress(f"Previewing stack {config.stack_name} (backend {engine.env['PULUMI_BACKEND_URL']})...")
    collector = DiffCollector()

    def show() -> None:
        if json_output:
            display.print_json(collector.to_json(config.stack_name))
        else:
            print_diff(collector, config.stack_name)

    def on_failure() -> None:
        # A mandatory policy violation fails the preview: show the diff and the violations.
        if collector.mandatory_violations():
            show()
            names = ", ".join(sorted({p.policy for p in collector.mandatory_violations()}))
            fail(f"mandatory policy violations: {names}", "fix the resources or the stack file, then preview again", EXIT_FAILED)

    run_operation(config, lambda: engine.preview(on_event=collector), on_failure=on_failure)
    show()
    if expect_no_changes and collector.has_changes():
        fail(f"stack {config.stack_name} has {len(collector.steps)} pending changes", "run platform up to apply them", EXIT_FAILED)
