"""What the engine commands share: options, opening the stack, running an operation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, NoReturn, Optional

import typer

from ..errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, PlatformExit, error_line, fail
from ..project import stack_flags

if TYPE_CHECKING:
    from ..engine.workspace import Engine

BackendOption = typer.Option(
    None, "--backend", help="State backend URL (default: $PULUMI_BACKEND_URL, else a file backend under $XDG_STATE_HOME)."
)
PassphraseFileOption = typer.Option(
    None, "--passphrase-file", help="File holding the stack's secrets passphrase (else $PULUMI_CONFIG_PASSPHRASE)."
)
YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
ParallelOption = typer.Option(
    None, "--parallel", min=1, max=256, envvar="PLATFORM_PARALLEL", show_envvar=False,
    help="Resource operations run at once (default: 16 for a cloud, 4 per CPU core up to 16 for local; $PLATFORM_PARALLEL).",
)


DOCTOR_HINT = "run `platform doctor` to check every prerequisite"


def require_engine() -> None:
    """The Pulumi CLI is installed and recent enough, or one line (exit 1) pointing to doctor."""
    from ..engine.workspace import EngineUnavailable, pulumi_cli

    try:
        pulumi_cli()
    except EngineUnavailable as err:
        fail(str(err), DOCTOR_HINT, EXIT_FAILED)


def open_engine(config: Any, backend: Optional[str], passphrase_file: Optional[Path], create: bool,
                parallel: Optional[int] = None) -> Engine:
    """The stack's engine, or one line and an exit code."""
    engine = _open(config, backend, passphrase_file, create, parallel, missing_ok=False)
    assert engine is not None  # _open fails instead of returning None unless missing_ok
    return engine


def deployed_engine(config: Any, backend: Optional[str], passphrase_file: Optional[Path]) -> Optional[Engine]:
    """The engine of a stack this backend has deployed, or None when it has never deployed it."""
    return _open(config, backend, passphrase_file, create=False, parallel=None, missing_ok=True)


def _open(config: Any, backend: Optional[str], passphrase_file: Optional[Path], create: bool,
          parallel: Optional[int], missing_ok: bool) -> Optional[Engine]:
    from pulumi.automation import errors as auto_errors

    from mlops_platform.planner import files
    from mlops_platform.policies.registry import pack_config

    from .. import paths
    from ..engine import parallelism
    from ..engine.errors import explain
    from ..engine.workspace import Engine, EngineSettings, EngineUnavailable, PassphraseMissing, StackNotDeployed
    from ..project import project_dir

    paths.input_file(passphrase_file, "--passphrase-file")
    project = project_dir()
    settings = EngineSettings(
        project_dir=project,
        stack=config.stack_name,
        cloud=config.cloud,
        backend_url=backend,
        passphrase_file=passphrase_file,
        policy_pack=project / "policies",
        policy_config=pack_config(config),
        parallel=parallelism.resolve(config.cloud, parallel),
    )
    from ..project import write_derived_stack_file

    try:
        # An ephemeral environment's stack file, for Pulumi to read, before the engine first touches the
        # stack: creating it writes the secrets provider's salt into that file (cli/ephemeral.py).
        if create:
            write_derived_stack_file(config)
        engine = Engine(settings, create=create)
        if not create:
            write_derived_stack_file(config)
        return engine
    except EngineUnavailable as err:
        fail(str(err), DOCTOR_HINT, EXIT_FAILED)
    except PassphraseMissing as err:
        fail(str(err), exit_code=EXIT_USAGE)
    except files.FolderError as err:
        fail(str(err), "point the variable at a folder you can write, or pass --backend", EXIT_USAGE)
    except (StackNotDeployed, auto_errors.StackNotFoundError):
        if missing_ok:
            return None
        fail(f"stack {config.stack_name} has not been deployed to this backend",
             f"platform up {stack_flags(config.cloud, config.env)}", EXIT_FAILED)
    except auto_errors.CommandError as err:
        failure = explain(err, config.stack_name, config.cloud, config.env)
        fail(failure.message, failure.hint, EXIT_FAILED)


def run_operation(config: Any, operation: Callable[[], Any], on_failure: Optional[Callable[[], None]] = None) -> Any:
    """Run an engine operation with Ctrl-C handling and one-line failures."""
    from pulumi.automation import errors as auto_errors

    from ..engine.errors import explain
    from ..engine.interrupt import Interrupts

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
    from ..engine.progress import LiveProgress

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
    from .. import display
    from ..engine.progress import split_urn

    console = display.err()
    for failure in tracker.failures:
        kind, name = split_urn(failure.urn)
        console.print(f"[red]failed[/red] {display.literal(f'{kind} {name}: {failure.message}')}")
    for message in tracker.errors:
        console.print(f"[red]error[/red] {display.literal(message)}")


def print_summary(title: str, summary: dict[str, Any]) -> None:
    from rich.table import Table

    from .. import display

    table = Table(title=title, show_edge=False)
    for column in ("created", "updated", "replaced", "deleted", "unchanged", "failed", "duration"):
        table.add_column(column, justify="right")
    table.add_row(*[str(summary[k]) for k in ("created", "updated", "replaced", "deleted", "unchanged", "failed")],
                  f"{summary['durationSeconds']}s")
    display.out().print(table)


def confirm(prompt: str, expected: Optional[str] = None) -> bool:
    """Ask on the terminal; refuse (exit 2) when there is none."""
    if not sys.stdin.isatty():
        fail("refusing to continue without confirmation on a non-interactive terminal", "pass --yes")
    if expected is not None:
        answer = typer.prompt(prompt, default="", show_default=False, err=True)
        return answer.strip() == expected
    return typer.confirm(prompt, default=False, err=True)


def masked_outputs(outputs: dict[str, Any], show_secrets: bool = False) -> dict[str, Any]:
    return {k: (v.value if (show_secrets or not v.secret) else "[secret]") for k, v in outputs.items()}
