"""`platform refresh`: reconcile the state with what really exists."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import BackendOption, Cloud, CloudOption, EnvOption, JsonOption, ParallelOption, PassphraseFileOption


def register(app: typer.Typer) -> None:
    app.command("refresh", short_help="Read the deployed resources back into the state.")(refresh)


def refresh(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
    parallel: Optional[int] = ParallelOption,
) -> None:
    """Read every resource back from the cloud and Kubernetes and update the state."""
    from .. import display
    from ..engine.progress import ProgressTracker
    from ..opening import open_engine
    from ..project import load_config
    from ..running import print_summary, run_with_progress

    config = load_config(cloud, env)
    engine = open_engine(config, backend, passphrase_file, create=False, parallel=parallel)
    tracker = ProgressTracker()
    display.progress(f"Refreshing stack {config.stack_name}...")
    run_with_progress(config, "refresh", tracker, engine.refresh)
    summary = tracker.summary()
    if json_output:
        display.print_json({"stack": config.stack_name, "summary": summary})
    else:
        print_summary(f"stack {config.stack_name} refreshed", summary)
