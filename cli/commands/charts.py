"""`platform charts pull | list`: the local cache of the pinned Helm charts that plan and render read."""

from __future__ import annotations

from typing import Optional

import typer

from .common import Cloud, EnvOption, JsonOption

charts_app = typer.Typer(
    name="charts",
    short_help="Pull and list the pinned Helm charts plan and render use.",
    help="The pinned Helm charts in the local cache, which plan and render use to render every release.",
    no_args_is_help=True,
    add_completion=False,
)
CloudFilter = typer.Option(None, "--cloud", "-c", help="Only the charts this stack installs.", show_default=False)


def register(app: typer.Typer) -> None:
    app.add_typer(charts_app)


def _selected(cloud: Optional[Cloud], env: str) -> tuple[list, Optional[str]]:
    """The charts to pull (a stack's, or all) and the stack file's chart mirror (`mirror.charts`)."""
    from mlops_platform.components import versions

    if cloud is None:
        return list(versions.CHARTS), None
    from mlops_platform.planner import charts
    from mlops_platform.planner.harness import plan_platform

    from ..project import load_config

    config = load_config(cloud, env)
    return charts.used_by(plan_platform(config)), config.mirror.charts


@charts_app.command("pull", short_help="Download the pinned charts into the local cache.")
def pull(
    cloud: Optional[Cloud] = CloudFilter,
    env: str = EnvOption,
    mirror: Optional[str] = typer.Option(
        None, "--mirror", help="Pull every chart from this repository instead: an http(s) chart repository holding them "
        "all by name, or an oci:// registry path (an internal mirror; only one on this machine may be plain HTTP).", show_default=False
    ),
    force: bool = typer.Option(False, "--force", help="Download again even when the archive is already cached."),
    json_output: bool = JsonOption,
) -> None:
    """Download exactly the pinned chart versions into the local chart cache; with --cloud, from the
    stack file's `mirror.charts` when it sets one (air-gapped installs)."""
    import os

    from mlops_platform.planner import charts, files

    from .. import display
    from ..errors import EXIT_FAILED, fail

    if mirror is not None and not mirror.startswith(("https://", "http://", "oci://")):
        fail(f"--mirror {mirror!r} is not a chart repository URL", "give an https://, http:// or oci:// URL")
    if mirror is not None and charts.plain_http_elsewhere(mirror):
        fail(f"--mirror {mirror} is plain HTTP to another machine: charts come over TLS only",
             "give its https:// address (or an oci:// one); plain HTTP is for a mirror on this machine")
    selected, stack_mirror = _selected(cloud, env)
    mirror = mirror if mirror is not None else stack_mirror  # --mirror wins over the stack file's
    folder = charts.charts_dir()
    variable = charts.CHARTS_DIR_ENV if os.environ.get(charts.CHARTS_DIR_ENV) else "XDG_CACHE_HOME"
    try:
        files.usable_folder(folder, variable)
    except files.FolderError as err:
        fail(str(err), f"point {variable} at a folder you can write")
    try:
        pulled = charts.pull(
            selected, folder, mirror=mirror, force=force,
            on_chart=lambda chart, source: display.progress(f"Pulling {chart.short_name} {chart.version} from {source}..."),
        )
    except charts.PullError as err:
        fail(str(err), f"check the repository, or pull from a mirror with --mirror; cache: {folder}", EXIT_FAILED)
    except OSError as err:
        fail(f"cannot write the chart cache {folder}: {err.strerror}", f"set {charts.CHARTS_DIR_ENV} to a writable folder",
             EXIT_FAILED)
    from mlops_platform.planner import digests

    rows = [{"chart": p.chart.short_name, "version": p.chart.version, "source": p.source, "path": str(p.path),
             "status": "cached" if p.already_present else "pulled", "sha256": digests.sha256_of(p.path),
             "digest": "verified" if digests.expected(p.chart) else "unrecorded"} for p in pulled]
    if json_output:
        display.print_json({"chartsDir": str(folder), "charts": rows})
        return
    _table(rows, ("chart", "version", "status", "path"))
    display.progress(f"{sum(r['status'] == 'pulled' for r in rows)} pulled, {sum(r['status'] == 'cached' for r in rows)} "
                     f"already cached in {folder}")


@charts_app.command("list", short_help="Show each pinned chart and whether it is cached.")
def list_charts(json_output: bool = JsonOption) -> None:
    """Every pinned chart, where it comes from, and whether the local cache holds it."""
    from mlops_platform.components import versions
    from mlops_platform.planner import charts

    from .. import display

    folder = charts.charts_dir()
    from mlops_platform.planner import digests

    rows = []
    for chart in versions.CHARTS:
        path = charts.archive_path(chart, folder)
        found = path.is_file()
        bad = charts.problem(chart, path) if found else None
        rows.append({"chart": chart.short_name, "version": chart.version, "source": charts.source_of(chart),
                     "cached": found and bad is None, "problem": bad, "path": str(path),
                     "digest": "recorded" if digests.expected(chart) else "unrecorded"})
    if json_output:
        display.print_json({"chartsDir": str(folder), "charts": rows})
        return
    _table([{**r, "cached": "yes" if r["cached"] else f"bad: {r['problem']}" if r["problem"] else "no"} for r in rows],
           ("chart", "version", "cached", "source"))
    absent = sum(1 for r in rows if not r["cached"] and not r["problem"])
    broken = sum(1 for r in rows if r["problem"])
    if absent:
        display.progress(f"{absent} charts are not in {folder}: run `{charts.PULL_HINT}`")
    if broken:
        display.progress(f"{broken} cached archives cannot be used: `{charts.PULL_HINT}` replaces them")


def _table(rows: list[dict], columns: tuple[str, ...]) -> None:
    from rich.table import Table

    from .. import display

    table = Table(show_edge=False)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*[display.literal(row[c]) for c in columns])
    display.out().print(table)
