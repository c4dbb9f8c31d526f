"""What the commands do with a sweep (`platform sweep`, and `platform destroy` after the engine):
run it, print what it found and did, and exit 1 naming what is left and what it costs."""

from __future__ import annotations

import sys
from typing import Any

from . import SweepError, SweepResult, sweep


def run_sweep(config: Any, state_ids: list[str], delete: bool = False) -> SweepResult:
    """The sweep of the stack's cloud; a cloud that cannot be asked is one line, exit 1."""
    from ..errors import EXIT_FAILED, fail

    try:
        return sweep(config, delete, state_ids)
    except SweepError as err:
        fail(str(err), "nothing was deleted" if delete else None, EXIT_FAILED)


def report(result: SweepResult, json_output: bool, to_stderr: bool = False) -> None:
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
        console.print(f"{display.count(len(kept), 'resource')} {'is' if len(kept) == 1 else 'are'} kept on purpose "
                      "(protected in the stack's state, kept by destroy --keep-data, or a backup's):")
        for item in kept:
            console.print(f"  {item.kind}  {escape(item.name or item.id)}: {escape(item.detail)}")
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


def raise_exit(result: SweepResult) -> None:
    from .. import display
    from ..errors import EXIT_FAILED, PlatformExit, error_line

    left = len(result.remaining)
    hint = ("platform sweep --delete removes those the sweep may delete"
            if any(item.deletable for item in result.remaining)
            else "none of them is Kubernetes' to delete: remove them with `platform destroy`, or by hand")
    print(error_line(f"{display.count(left, 'resource')} of the stack {'is' if left == 1 else 'are'} left in "
                     f"{result.scope} (${result.monthly():,.2f}/month)", hint), file=sys.stderr)
    raise PlatformExit(EXIT_FAILED)
