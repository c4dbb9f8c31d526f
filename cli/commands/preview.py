"""`platform preview`: the diff against what is deployed, with the policy results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import BackendOption, Cloud, CloudOption, EnvOption, JsonOption, ParallelOption, PassphraseFileOption


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
    from ..errors import EXIT_FAILED, fail
    from ..previewing import preview_stack
    from ..project import load_config

    config = load_config(cloud, env)
    collector = preview_stack(config, backend, passphrase_file, parallel, json_output)
    if expect_no_changes and collector.has_changes():
        fail(f"stack {config.stack_name} has {len(collector.steps)} pending changes", "run platform up to apply them", EXIT_FAILED)
