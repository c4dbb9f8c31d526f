"""`platform stacks`: the shipped stack files and what the backend knows of each."""

from __future__ import annotations

from typing import Any, Optional

import typer

from .common import JsonOption
from .engine_common import BackendOption


def register(app: typer.Typer) -> None:
    app.command("stacks", short_help="List the stack files and what the backend has deployed.")(stacks)


def stacks(json_output: bool = JsonOption, backend: Optional[str] = BackendOption) -> None:
    """List stacks/Pulumi.<cloud>-<env>.yaml with their last deployment, if any."""
    from .. import display
    from ..engine.workspace import EngineSettings, EngineUnavailable, list_stacks
    from ..project import project_dir, shipped_stacks

    project = project_dir()
    names = shipped_stacks(project)
    deployed: dict[str, object] = {}
    backend_note = None
    try:
        for summary in list_stacks(EngineSettings(project_dir=project, stack="", cloud="", backend_url=backend)):
            deployed[summary.name.rsplit("/", 1)[-1]] = summary
    except EngineUnavailable as err:
        backend_note = str(err)
    except Exception as err:  # noqa: BLE001 - listing is informational; show why it is missing
        backend_note = f"cannot list the backend's stacks: {err}"
    rows: list[dict[str, Any]] = []
    for name in sorted(set(names) | set(deployed)):
        summary = deployed.get(name)
        rows.append(
            {
                "stack": name,
                "stackFile": f"stacks/Pulumi.{name}.yaml" if name in names else None,
                # Unknown (null) when the backend could not be asked, as the table says.
                "deployed": None if backend_note else summary is not None,
                "lastUpdate": str(getattr(summary, "last_update", "") or "") or None,
                "resources": getattr(summary, "resource_count", None),
                "updateInProgress": getattr(summary, "update_in_progress", None),
            }
        )
    if backend_note:
        display.progress(backend_note)
    if json_output:
        display.print_json({"stacks": rows, "backendKnown": backend_note is None})
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for column in ("stack", "stack file", "deployed", "last update", "resources"):
        table.add_column(column)
    for row in rows:
        deployed_text = "unknown" if backend_note else ("yes" if row["deployed"] else "no")
        table.add_row(row["stack"], row["stackFile"] or "-", deployed_text, row["lastUpdate"] or "-",
                      str(row["resources"]) if row["resources"] is not None else "-")
    display.out().print(table)
