"""`platform plan`: what a stack would deploy, computed offline (no engine, no credentials)."""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from .common import Cloud, CloudOption, EnvOption, JsonOption, report_placeholders

if TYPE_CHECKING:
    from rich.tree import Tree

    from mlops_platform.planner.cluster_model import ClusterView
    from mlops_platform.planner.harness import ResourceRecord
    from mlops_platform.planner.plan import Plan


class CompareFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


def _base_plan(path: Path, stack: str) -> dict[str, Any]:
    """The --compare plan, checked before any work: readable, a plan, and of this stack."""
    from mlops_platform.planner.compare import PlanFileError, load_plan

    from .. import paths
    from ..errors import fail

    paths.input_file(path, "--compare")
    try:
        document = load_plan(path)
    except PlanFileError as err:
        fail(f"--compare {err}", "give a file written by platform plan --json")
    if document["stack"] != stack:
        fail(f"--compare {path} is a plan of stack {document['stack']}, not {stack}",
             "compare plans of the same stack (--cloud and --env as when it was saved)")
    return document


def register(app: typer.Typer) -> None:
    app.command("plan", short_help="What a stack would deploy, offline: resources, footprint, cost.")(plan)


def plan(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    json_output: bool = JsonOption,
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Also write the JSON plan to this file.", show_default=False),
    compare: Optional[Path] = typer.Option(
        None, "--compare", help="A saved plan (plan --json) of the same stack: show what changed since.", show_default=False
    ),
    output_format: Optional[CompareFormat] = typer.Option(
        None, "--format", help="With --compare: text (default), markdown (a pull-request comment) or json.", show_default=False
    ),
) -> None:
    """Run the program under the Pulumi SDK's mocks and show every resource it would create."""
    from mlops_platform.planner import files

    from .. import display, paths
    from ..engine import parallelism
    from ..errors import fail
    from ..project import load_config

    if output_format is not None and compare is None:
        fail("--format applies to --compare only", "plan --json prints the plan as JSON; add --compare BASE.json to compare")
    try:
        parallel = parallelism.resolve(cloud.value, parallelism.from_environment())
    except ValueError as err:
        fail(str(err), "unset it, or give the operations the engine may run at once")
    config = load_config(cloud, env)
    out_file = paths.output_file(out)
    base = _base_plan(compare, config.stack_name) if compare is not None else None
    display.progress(f"Planning stack {config.stack_name} offline (Pulumi SDK mocks; no engine, no credentials)...")
    started = time.perf_counter()
    from ..planning import offline_plan

    result = offline_plan(config, f"Planning stack {config.stack_name}")
    elapsed = time.perf_counter() - started
    report_missing_charts(result.view)
    report_placeholders(config)
    document = result.to_json()
    if out_file is not None:
        files.write_text(out_file, json.dumps(document, indent=2, default=str) + "\n")
        display.progress(f"Wrote the plan to {out_file}")
    if base is not None:
        from mlops_platform.planner import compare as comparing

        comparison = comparing.compare(base, json.loads(json.dumps(document, default=str)))
        chosen = CompareFormat.json if json_output else output_format or CompareFormat.text
        if chosen is CompareFormat.json:
            display.print_json(comparison.to_json())
        else:
            text = comparing.to_markdown(comparison) if chosen is CompareFormat.markdown else comparing.to_text(comparison)
            sys.stdout.write(text)
            sys.stdout.flush()
    elif json_output:
        display.print_json(document)
    else:
        _print_tree(result, parallel)
    summary = result.summary()
    view = result.view
    display.progress(
        f"{summary['resources']} resources ({summary['helmReleases']} Helm releases, "
        f"{summary['kubernetesObjects']} Kubernetes objects; {view.rendered_count()} objects rendered from "
        f"{len(view.releases)} charts) planned in {elapsed:.2f}s; "
        f"{len(result.rules)} policy rules ({result.config.enforcement}), {len(result.violations)} violations"
    )
    mandatory = result.mandatory_violations()
    if mandatory:
        from ..errors import EXIT_FAILED

        rules = ", ".join(sorted({v.rule for v in mandatory}))
        fail(f"{len(mandatory)} mandatory policy violations: {rules}", "see the policies section of the plan", EXIT_FAILED)


def report_missing_charts(view: ClusterView) -> None:
    """One line when some releases could not be rendered: which, and how to get their charts."""
    if not view.missing:
        return
    from mlops_platform.planner.charts import PULL_HINT

    from .. import display

    listed = ", ".join(f"{m.reference.rsplit('/', 1)[-1]} {m.version}" for m in view.missing)
    display.err().print(
        "[yellow]warning:[/yellow] " + display.literal(
            f"not rendered (chart not in {view.charts_dir}): {listed}; their footprint is "
            f"estimated from values and their pods are not checked (run `{PULL_HINT}`)")
    )


def _print_tree(result: Plan, parallel: int) -> None:
    from rich.markup import escape
    from rich.table import Table
    from rich.tree import Tree

    from .. import display

    run = result.run
    children: dict[str, list] = {}
    for record in run.resources:
        children.setdefault(record.parent, []).append(record)
    urns = {r.urn for r in run.resources}
    roots = [r for r in run.resources if r.parent not in urns]
    rendered = {r.urn: len(r.objects) for r in result.view.releases}

    def label(record: ResourceRecord) -> str:
        detail = ""
        if record.type == "kubernetes:helm.sh/v3:Release":
            detail = (f"  [cyan]{escape(str(record.input('chart')))}@{escape(str(record.input('version')))}[/cyan] -> "
                      f"{escape(str(record.input('namespace')))}")
            count = rendered.get(record.urn)
            detail += f"  [dim]({count} objects)[/dim]" if count is not None else "  [yellow](not rendered)[/yellow]"
        elif record.type.startswith("kubernetes:"):
            meta = record.input("metadata", default={}) or {}
            where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
            detail = f"  [dim]{escape(where + str(meta.get('name', '')))}[/dim]"
        return f"{escape(record.type)}  [bold]{escape(record.name)}[/bold]{detail}"

    tree = Tree(f"[bold]stack {result.config.stack_name}[/bold]")

    def add(node: Tree, record: ResourceRecord) -> None:
        branch = node.add(label(record))
        for kid in children.get(record.urn, []):
            add(branch, kid)

    for record in roots:
        add(tree, record)
    console = display.out()
    console.print(tree)
    totals = result.totals
    table = Table(title="Requests (steady state)", show_edge=False)
    table.add_column("workload")
    table.add_column("cpu", justify="right")
    table.add_column("memory", justify="right")
    for name, cpu, memory in totals.workloads:
        table.add_row(escape(name), f"{cpu}m", f"{round(memory)}Mi")
    incomplete = "" if totals.complete else " (estimated: charts not rendered)"
    table.add_row(f"[bold]total[/bold]{incomplete}", f"[bold]{totals.cpu_millicores / 1000:.2f} CPU[/bold]",
                  f"[bold]{totals.memory_mebibytes / 1024:.2f} GiB[/bold]")
    console.print(table)
    path = result.critical
    from mlops_platform.planner.critical_path import schedule


    bounded = schedule(result.run, parallel)
    at_default = f"; {bounded / 60:.1f} min at --parallel {parallel}" if bounded != path.seconds else ""
    console.print(f"[bold]Estimated first deploy: {path.seconds / 60:.1f} min[/bold]{at_default} "
                  f"(the longest chain of resources that wait for one another, {len(path.steps)} steps):")
    for step in path.steps:
        if step.seconds:
            console.print(f"  {step.seconds // 60:2d}:{step.seconds % 60:02d}  {step.type}  {escape(step.name)}", highlight=False)
    if result.violations:
        console.print(f"[bold]policy violations ({result.config.enforcement})[/bold]")
        for violation in result.violations:
            color = "red" if violation.level == "mandatory" else "yellow"
            name = violation.urn.rsplit("::", 1)[-1] if violation.urn else ""
            console.print(f"  [{color}]{violation.level}[/{color}] {violation.rule} ({escape(name)}): {escape(violation.message)}")
    if result.costs:
        from mlops_platform.planner import costs

        cloud, region = result.config.cloud, result.config.region
        where = f"{costs.priced_region(cloud)} list prices" + (f", applied to {region}" if region != costs.priced_region(cloud) else "")
        bill = Table(title=f"Estimated monthly cost, USD ({costs.hours_note()}; {where})", show_edge=False)
        bill.add_column("item")
        bill.add_column("quantity", justify="right")
        bill.add_column("unit")
        bill.add_column("USD/month", justify="right")
        for line in result.costs:
            price = f"{line.monthly:,.2f}" if line.price_key else "no price"
            bill.add_row(escape(line.item), f"{line.quantity:g}", escape(line.unit), price)
        missing = costs.unpriced(result.costs)
        unpriced = escape(", ".join(missing))
        total_label = "[bold]total[/bold]" + (f" [yellow](incomplete: no price for {unpriced})[/yellow]" if missing else "")
        bill.add_row(total_label, "", "", f"[bold]{costs.total(result.costs):,.2f}[/bold]" + ("+" if missing else ""))
        console.print(bill)
