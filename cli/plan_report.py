"""`platform plan`'s report for people: the resource tree, the requests, the first deploy's
critical path, the policy violations and the monthly cost, each a block of its own on stdout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from . import display

if TYPE_CHECKING:
    from rich.console import Console

    from mlops_platform.planner.harness import ResourceRecord
    from mlops_platform.planner.plan import Plan


def print_plan(result: Plan, parallel: int) -> None:
    console = display.out()
    console.print(_tree(result))
    console.print(_requests(result))
    _print_critical_path(console, result, parallel)
    _print_violations(console, result)
    console.print(_guards(result))
    if result.costs:
        console.print(_bill(result))
    from mlops_platform.planner.recovery import recovery

    console.print(display.literal(recovery(result.config).line()))


def _label(record: ResourceRecord, rendered: dict[str, int]) -> str:
    detail = ""
    if record.type == "kubernetes:helm.sh/v3:Release":
        from mlops_platform.planner.charts import by_reference

        chart = by_reference(str(record.input("chart")))
        name = chart.short_name if chart is not None else str(record.input("chart"))
        detail = (f"  [cyan]{escape(name)}@{escape(str(record.input('version')))}[/cyan] -> "
                  f"{escape(str(record.input('namespace')))}")
        count = rendered.get(record.urn)
        detail += f"  [dim]({count} objects)[/dim]" if count is not None else "  [yellow](not rendered)[/yellow]"
    elif record.type.startswith("kubernetes:"):
        meta = record.input("metadata", default={}) or {}
        where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
        detail = f"  [dim]{escape(where + str(meta.get('name', '')))}[/dim]"
    return f"{escape(record.type)}  [bold]{escape(record.name)}[/bold]{detail}"


def _tree(result: Plan) -> Tree:
    """Every resource under its parent; a Helm release with the count of objects it renders."""
    resources = result.run.resources
    children: dict[str, list[ResourceRecord]] = {}
    for record in resources:
        children.setdefault(record.parent, []).append(record)
    urns = {r.urn for r in resources}
    rendered = {r.urn: len(r.objects) for r in result.view.releases}
    tree = Tree(f"[bold]stack {escape(result.config.stack_name)}[/bold]")

    def add(node: Tree, record: ResourceRecord) -> None:
        branch = node.add(_label(record, rendered))
        for kid in children.get(record.urn, []):
            add(branch, kid)

    for record in resources:
        if record.parent not in urns:
            add(tree, record)
    return tree


def _requests(result: Plan) -> Table:
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
    return table


def _print_critical_path(console: Console, result: Plan, parallel: int) -> None:
    from mlops_platform.planner.critical_path import schedule

    path = result.critical
    bounded = schedule(result.run, parallel)
    at_default = f"; {bounded / 60:.1f} min at --parallel {parallel}" if bounded != path.seconds else ""
    console.print(f"[bold]Estimated first deploy: {path.seconds / 60:.1f} min[/bold]{at_default} "
                  f"(the longest chain of resources that wait for one another, {len(path.steps)} steps):")
    for step in path.steps:
        if step.seconds:
            console.print(f"  {step.seconds // 60:2d}:{step.seconds % 60:02d}  {step.type}  {escape(step.name)}", highlight=False)


def _print_violations(console: Console, result: Plan) -> None:
    if not result.violations:
        return
    console.print(f"[bold]policy violations ({result.config.enforcement})[/bold]")
    for violation in result.violations:
        color = "red" if violation.level == "mandatory" else "yellow"
        name = violation.urn.rsplit("::", 1)[-1] if violation.urn else ""
        console.print(f"  [{color}]{violation.level}[/{color}] {violation.rule} ({escape(name)}): {escape(violation.message)}")


_GUARD_STYLE = {"on": "green", "built in": "green", "off": "red", "not required": "yellow"}


def _guards(result: Plan) -> Table:
    table = Table(title="safeguards (as the policy pack found them)", title_justify="left")
    for column in ("safeguard", "state", "how"):
        table.add_column(column)
    for guard in result.guards():
        style = _GUARD_STYLE[guard.state]
        table.add_row(guard.name, f"[{style}]{guard.state}[/{style}]", escape(guard.detail))
    return table


def _bill(result: Plan) -> Table:
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
    if result.usage:
        bill.add_row("[italic]by volume, not in the total: the audit trail's logs[/italic]", "", "", "")
    for rate in result.usage:
        price = f"${rate.price:g}/{rate.unit.split(' ')[0]}" if rate.price is not None else "no price"
        bill.add_row(escape(rate.item), "", escape(rate.unit), price)
    return bill
