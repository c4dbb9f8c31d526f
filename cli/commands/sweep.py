"""`platform sweep`: what a stack left in its cloud account, found by its tags; `--delete` removes it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .common import Cloud, CloudOption, EnvOption, JsonOption
from .engine_common import BackendOption, PassphraseFileOption, YesOption


def register(app: typer.Typer) -> None:
    app.command("sweep", short_help="Find (and --delete) what a destroyed stack left billing.")(sweep)


def sweep(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    delete: bool = typer.Option(False, "--delete", help="Delete what is found: only resources carrying the stack's tags."),
    yes: bool = YesOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """List every resource still in the cloud account that carries the stack's tags, or the tags
    Kubernetes' cloud controllers put on what they create for its cluster, with its monthly cost.
    Exit 0 when nothing is left, 1 when something is."""
    from .. import display
    from ..errors import EXIT_FAILED, fail
    from ..project import load_config

    config = load_config(cloud, env)
    if config.cloud == "local":
        display.progress("nothing to sweep: a local stack lives in Docker, and `kind delete` removes all of it")
        if json_output:
            display.print_json({"cloud": "local", "scope": "Docker", "clean": True, "leftovers": []})
        return
    if delete and not yes and not sys.stdin.isatty():
        fail("refusing to delete without confirmation on a non-interactive terminal", "pass --yes")
    state_ids = _state_ids(config, backend, passphrase_file, required=delete)
    result = run_sweep(config, state_ids)
    if delete and result.remaining:
        report(result, json_output=False, to_stderr=True)
        deletable = [item for item in result.remaining if item.deletable]
        from .engine_common import confirm

        if deletable and not yes and not confirm(f"Delete these {len(deletable)} resources of stack {config.stack_name}?"):
            fail("sweep cancelled: nothing deleted", exit_code=EXIT_FAILED)
        result = run_sweep(config, state_ids, delete=True)
    report(result, json_output)
    if not result.clean:
        raise_exit(result)


def run_sweep(config: Any, state_ids: list[str], delete: bool = False) -> Any:  # -> SweepResult
    from ..errors import EXIT_FAILED, fail
    from ..sweep import SweepError

    try:
        if config.cloud == "aws":
            from ..sweep import aws as aws_sweep

            return aws_sweep.sweep(config.stack_name, config.env, config.region, delete, state_ids)
        if config.cloud == "azure":
            from ..sweep import azure as azure_sweep

            return azure_sweep.sweep(config, delete, state_ids)
        from ..sweep import gcp as gcp_sweep

        return gcp_sweep.sweep(config, delete, state_ids)
    except SweepError as err:
        fail(str(err), "nothing was deleted" if delete else None, EXIT_FAILED)


def _state_ids(config: Any, backend: Optional[str], passphrase_file: Optional[Path], required: bool) -> list[str]:
    """The cloud ids of what the stack's state still holds (protected data, kept on purpose). With
    --delete the state must show the stack destroyed: the sweep never races a live stack."""
    from .. import display
    from ..engine.workspace import EngineUnavailable, pulumi_cli
    from ..errors import EXIT_FAILED, fail
    from .engine_common import deployed_engine, require_engine, run_operation

    try:
        pulumi_cli()
    except EngineUnavailable as err:
        if required:
            require_engine()
        display.progress(f"the stack's state is not read ({err}): what it keeps on purpose is listed as left over")
        return []
    engine = deployed_engine(config, backend, passphrase_file)
    if engine is None:
        if required:
            fail(f"stack {config.stack_name} is not in this backend, so the sweep cannot tell that it was destroyed "
                 "(it deletes only what a destroy left)", "give the backend it was deployed with: --backend URL", EXIT_FAILED)
        display.progress(f"stack {config.stack_name} is not in this backend: sweeping read-only, by its tags alone")
        return []
    resources = run_operation(config, engine.resources)
    live = [r for r in resources if not r.get("protect") and not str(r.get("type", "")).startswith("pulumi:providers:")]
    if required and live:
        fail(f"stack {config.stack_name} still has {display.count(len(live), 'resource')}: the sweep deletes only what a destroy left",
             f"platform destroy --cloud {config.cloud} --env {config.env} first", EXIT_FAILED)
    return [str(r.get("id") or "") for r in resources if r.get("protect")]


def report(result: Any, json_output: bool, to_stderr: bool = False) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .. import display

    if json_output:
        display.print_json(result.to_json())
        return
    console = display.err() if to_stderr else display.out()
    for item_id in result.deleted:
        console.print(f"deleted {escape(item_id)}")
    for item_id, reason in result.failed:
        console.print(f"[red]could not delete[/red] {escape(item_id)}: {escape(reason)}")
    kept = [item for item in result.leftovers if item.kept]
    if kept:
        console.print(f"{display.count(len(kept), 'protected resource')} {'is' if len(kept) == 1 else 'are'} kept on purpose "
                      "(still in the stack's state):")
        for item in kept:
            console.print(f"  {item.kind}  {escape(item.name or item.id)}")
    if result.clean:
        console.print(f"nothing left in {escape(result.scope)}")
        return
    table = Table(title=f"left in {result.scope}", show_edge=False)
    for column in ("kind", "name", "id", "where", "detail", "USD/month"):
        table.add_column(column, justify="right" if column == "USD/month" else "left")
    for item in result.remaining:
        table.add_row(item.kind, escape(item.name), escape(item.id), item.location, escape(item.detail),
                      "no price" if item.monthly is None else f"{item.monthly:,.2f}")
    unpriced = any(item.monthly is None for item in result.remaining)
    table.add_row("[bold]total[/bold]", "", "", "", "", f"[bold]{result.monthly():,.2f}{'+' if unpriced else ''}[/bold]")
    console.print(table)
    if any(not item.deletable for item in result.remaining):
        console.print("Resources marked by the stack tag but not made by Kubernetes are never deleted by the sweep: "
                      "delete them with `platform destroy`, or by hand.")


def raise_exit(result: Any) -> None:
    from .. import display
    from ..errors import EXIT_FAILED, PlatformExit, error_line

    left = len(result.remaining)
    hint = ("platform sweep --delete removes those the sweep may delete"
            if any(item.deletable for item in result.remaining)
            else "none of them is Kubernetes' to delete: remove them with `platform destroy`, or by hand")
    print(error_line(f"{display.count(left, 'resource')} of the stack {'is' if left == 1 else 'are'} left in "
                     f"{result.scope} (${result.monthly():,.2f}/month)", hint), file=sys.stderr)
    raise PlatformExit(EXIT_FAILED)
