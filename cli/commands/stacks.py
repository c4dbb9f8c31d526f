"""`platform stacks`: the shipped stack files and what the backend knows of each."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import typer

from .common import BackendOption, JsonOption


def register(app: typer.Typer) -> None:
    app.command("stacks", short_help="List the stack files and what the backend has deployed.")(stacks)


def stacks(
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    stale: Optional[str] = typer.Option(
        None, "--stale", help="Only deployed stacks last updated longer ago than this (12h, 7d, 2w), with their monthly cost.",
        show_default=False,
    ),
) -> None:
    """List stacks/Pulumi.<cloud>-<env>.yaml with their last deployment, if any."""
    from .. import display
    from ..engine.workspace import EngineSettings, EngineUnavailable, list_stacks
    from ..errors import EXIT_FAILED, fail
    from ..project import project_dir, shipped_stacks

    older_than = _duration(stale) if stale is not None else None
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
    if older_than is not None:
        if backend_note:
            fail("cannot tell which stacks are stale without the backend", backend_note, EXIT_FAILED)
        now = datetime.now(timezone.utc)
        rows = [dict(row, **_age_and_cost(row, now)) for row in rows if row["deployed"] and _updated(row) is not None
                and now - _updated(row) > older_than]  # type: ignore[operator]
    if json_output:
        display.print_json({"stacks": rows, "backendKnown": backend_note is None})
        return
    from rich.table import Table

    table = Table(show_edge=False)
    columns = ["stack", "stack file", "deployed", "last update", "resources"]
    if older_than is not None:
        columns += ["days since", "ttl", "USD/month"]
    for column in columns:
        table.add_column(column)
    for row in rows:
        if older_than is not None:
            cost = row["monthlyCost"]
            table.add_row(*map(display.literal, (row["stack"], row["stackFile"] or "-", "yes", row["lastUpdate"], row["resources"],
                          f"{row['daysSinceUpdate']:.1f}", row["ttl"] or "-", "-" if cost is None else f"{cost:,.2f}")))
            continue
        deployed_text = "unknown" if backend_note else ("yes" if row["deployed"] else "no")
        table.add_row(*map(display.literal, (row["stack"], row["stackFile"] or "-", deployed_text, row["lastUpdate"] or "-",
                      row["resources"] if row["resources"] is not None else "-")))
    display.out().print(table)


def _duration(text: str) -> timedelta:
    from mlops_platform.components import durations

    from ..errors import fail

    try:
        return durations.parse(text)
    except durations.DurationError as err:
        fail(f"--stale {err}", "e.g. 12h, 7d or 2w")


def _updated(row: dict[str, Any]) -> Optional[datetime]:
    try:
        moment = datetime.fromisoformat(str(row["lastUpdate"]))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _age_and_cost(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """How long ago the stack was updated, its time to live and its monthly cost (from its stack
    file, or its dev file for an ephemeral environment); null where the file cannot say."""
    from mlops_platform.planner import costs
    from mlops_platform.planner.harness import plan_platform

    from ..errors import PlatformExit
    from ..project import load_config

    updated = _updated(row)
    extra: dict[str, Any] = {"daysSinceUpdate": round((now - updated).total_seconds() / 86400, 1) if updated else None,
                             "ttl": None, "monthlyCost": None}
    cloud, _, env = row["stack"].partition("-")
    try:
        config = load_config(cloud, env)
    except PlatformExit:  # no file to derive it from, or an invalid one: the row says what is known
        return extra
    extra["ttl"] = config.ttl or "none"
    if config.cloud != "local":
        extra["monthlyCost"] = costs.total(costs.estimate(plan_platform(config), config))
    return extra
