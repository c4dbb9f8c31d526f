"""Running an engine operation for a command: Ctrl-C handled (the first stops after in-flight
steps, a second stops waiting), failures explained in one line, progress shown while it works, and
the summary and failures printed after."""

from __future__ import annotations

import sys
from typing import Any, Callable, NoReturn, Optional

from .errors import EXIT_FAILED, EXIT_INTERRUPTED, PlatformExit, error_line, fail
from .project import stack_flags


def run_operation(config: Any, operation: Callable[[], Any], on_failure: Optional[Callable[[], None]] = None) -> Any:
    """Run an engine operation with Ctrl-C handling and one-line failures."""
    from pulumi.automation import errors as auto_errors

    from .engine.errors import explain
    from .engine.interrupt import Interrupts

    flags = stack_flags(config.cloud, config.env)
    interrupts = Interrupts(on_second=lambda: print(error_line(
        f"interrupted again: stopped waiting for stack {config.stack_name}'s engine, which may still be cancelling",
        f"run `platform refresh {flags}` to reconcile the state, then `platform up {flags}` to finish"), file=sys.stderr))
    try:
        with interrupts:
            return operation()
    except KeyboardInterrupt:
        _interrupted(config)
    except auto_errors.CommandError as err:
        if interrupts.requested:
            _interrupted(config)
        if on_failure is not None:
            on_failure()
        failure = explain(err, config.stack_name, config.cloud, config.env)
        fail(failure.message, failure.hint, EXIT_FAILED)


def run_with_progress(config: Any, verb: str, tracker: Any, operation: Callable[..., Any]) -> Any:
    """Run `operation(on_event=tracker)` under the live progress view; on failure, list what failed."""
    from .engine.progress import LiveProgress

    with LiveProgress(tracker, f"{verb} {config.stack_name}"):
        return run_operation(config, lambda: operation(on_event=tracker), on_failure=lambda: print_failures(tracker))


def _interrupted(config: Any) -> NoReturn:
    flags = stack_flags(config.cloud, config.env)
    print(
        error_line(
            f"interrupted: stack {config.stack_name} stopped after its in-flight steps",
            f"run `platform refresh {flags}` to reconcile the state, then `platform up {flags}` to finish",
        ),
        file=sys.stderr,
    )
    raise PlatformExit(EXIT_INTERRUPTED)


def print_failures(tracker: Any) -> None:
    from . import display
    from .engine.progress import split_urn

    console = display.err()
    for failure in tracker.failures:
        kind, name = split_urn(failure.urn)
        console.print(f"[red]failed[/red] {display.literal(f'{kind} {name}: {failure.message}')}")
    for message in tracker.errors:
        console.print(f"[red]error[/red] {display.literal(message)}")


def print_summary(title: str, summary: dict[str, Any]) -> None:
    from rich.table import Table

    from . import display

    table = Table(title=title, show_edge=False)
    for column in ("created", "updated", "replaced", "deleted", "unchanged", "failed", "duration"):
        table.add_column(column, justify="right")
    table.add_row(*[str(summary[k]) for k in ("created", "updated", "replaced", "deleted", "unchanged", "failed")],
                  f"{summary['durationSeconds']}s")
    display.out().print(table)


def masked_outputs(outputs: dict[str, Any], show_secrets: bool = False) -> dict[str, Any]:
    from mlops_platform.components.names import SECRET_MASK

    return {k: (v.value if (show_secrets or not v.secret) else SECRET_MASK) for k, v in outputs.items()}
