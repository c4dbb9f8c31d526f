"""The `platform` command: one module per command under cli/commands/.

Start-up stays light: command modules import the Pulumi SDK, the program and rich only when
they run, so `platform --help` answers quickly (see benchmarks/cli_startup.py).
"""

from __future__ import annotations

import sys
from typing import Any, Optional, Sequence

import typer
from typer.core import TyperGroup

from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, PlatformExit, debug_enabled, error_line, fail


class PlatformGroup(TyperGroup):
    """Runs every command with one error policy: a single line on stderr and an exit code
    (2 usage or configuration, 1 failure, 130 interrupted), never a traceback unless
    PLATFORM_DEBUG=1. Used by the console script and by typer's CliRunner alike."""

    def main(self, args: Optional[Sequence[str]] = None, prog_name: Optional[str] = None, complete_var: Optional[str] = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        # typer 0.29 vendors click; its exception classes live in typer._click (pinned in pyproject).
        from typer._click import exceptions as click_errors

        try:
            _check_environment()
            result = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                                  windows_expand_args=windows_expand_args, **extra)
            code = result if isinstance(result, int) else 0
        except PlatformExit as exc:
            code = exc.code
        except click_errors.NoArgsIsHelpError as exc:
            print(exc.ctx.get_help() if exc.ctx else "", file=sys.stderr)
            code = EXIT_USAGE
        except click_errors.UsageError as exc:
            hint = f"see {exc.ctx.command_path} --help" if exc.ctx is not None else "see platform --help"
            # typer reports a wrong enum value as a pydantic-style "Value error, ...": the value is what counts.
            print(error_line(exc.format_message().replace("Value error, ", ""), hint), file=sys.stderr)
            code = EXIT_USAGE
        except (typer.Abort, KeyboardInterrupt):
            # Typically at a question, whose line is still open: the error starts a line of its own.
            print("\nerror: interrupted", file=sys.stderr)
            code = EXIT_INTERRUPTED
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks for users
            if debug_enabled():
                raise
            print(
                error_line(f"unexpected failure: {type(exc).__name__}: {exc}", "rerun with PLATFORM_DEBUG=1 for the traceback"),
                file=sys.stderr,
            )
            code = EXIT_FAILED
        if standalone_mode:
            sys.stdout.flush()
            sys.exit(code)
        return code


def _check_environment() -> None:
    """Settings read from the environment that every command may use, checked once, first."""
    import os

    if os.environ.get("PLATFORM_CHART_DIGESTS"):
        from mlops_platform.planner.digests import DigestFileError, overrides

        try:
            overrides()
        except DigestFileError as err:
            fail(str(err), "give a JSON object of chart archive name to sha256 (README: Verified charts)")


app = typer.Typer(
    name="platform",
    cls=PlatformGroup,
    help="Stand up a complete MLOps platform (KServe, MLflow, monitoring, drift detection) with one command.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"platform {version('mlops-platform')}")
        raise typer.Exit(0)


@app.callback()
def root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Stand up a complete MLOps platform with one command."""


def _register() -> None:
    from .commands import (
        backup,
        charts,
        ci,
        destroy,
        doctor,
        images,
        mirror,
        models,
        outputs,
        plan,
        preview,
        refresh,
        render,
        restore,
        sbom,
        stacks,
        sweep,
        token,
        up,
        upgrade,
    )

    for module in (plan, render, up, preview, upgrade, destroy, sweep, backup, restore, refresh, outputs, token, stacks, models, doctor,
                   charts, images, mirror, sbom, ci):
        module.register(app)


_register()


def main() -> None:
    """Console entry point.

    When the command has finished, its output is flushed and the exit code goes straight to the
    OS: tearing down the Pulumi SDKs' module graph at interpreter shutdown costs about 0.8 s on
    every command, and nothing is left to clean up by then (files are written and closed, engine
    subprocesses have exited, temporary folders are removed by their context managers).
    """
    import os

    try:
        app(prog_name="platform")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
