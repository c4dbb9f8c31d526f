"""`platform images list`: every image a stack's cluster runs, and where each comes from."""

from __future__ import annotations

import typer

from .common import Cloud, CloudOption, EnvOption, JsonOption

images_app = typer.Typer(name="images", short_help="The images a stack runs.", no_args_is_help=True, add_completion=False,
                         help="The container images a stack's cluster runs.")


def register(app: typer.Typer) -> None:
    app.add_typer(images_app)


@images_app.command("list", short_help="Every image the cluster will run, with where it comes from.")
def list_images(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    json_output: bool = JsonOption,
) -> None:
    """Every image of every container the stack's cluster will run, offline: the platform's own,
    each chart's (rendered), the serving runtimes', and what controllers inject (KServe's
    storage-initializer, agent and model server, prometheus-operator's config reloader). A chart
    not in the cache leaves its images out: the list says it is partial."""
    from rich.markup import escape
    from rich.table import Table

    from mlops_platform.planner.images import inventory

    from .. import display
    from ..planning import offline_plan, report_missing_charts
    from ..project import load_config

    config = load_config(cloud, env)
    result = offline_plan(config, f"Rendering stack {config.stack_name}")
    report_missing_charts(result.view)
    images, unknown = inventory(result.view)
    if json_output:
        display.print_json({"stack": config.stack_name, "partial": result.view.partial,
                            "images": [i.to_json() for i in images], "unknownImages": unknown})
        return
    table = Table(box=None)
    for column in ("image", "from", "containers"):
        table.add_column(column)
    for image in images:
        table.add_row(escape(image.reference), escape(", ".join(sorted(image.sources))), str(len(image.used_by)))
    display.out().print(table)
    display.progress(f"{len(images)} images in stack {config.stack_name}"
                     + (" (partial: charts not rendered)" if result.view.partial else "")
                     + (f"; {len(unknown)} containers without an image: {', '.join(unknown[:5])}" if unknown else ""))
