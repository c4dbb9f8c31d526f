"""`platform plan`: what a stack would deploy, computed offline (no engine, no credentials)."""

from __future__ import annotations

import json
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .common import Cloud, CloudOption, EnvOption, JsonOption


class CompareFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


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
    from ..planning import base_plan
    from ..project import load_config, report_placeholders

    if output_format is not None and compare is None:
        fail("--format applies to --compare only", "plan --json prints the plan as JSON; add --compare BASE.json to compare")
    try:
        parallel = parallelism.resolve(cloud.value, parallelism.from_environment())
    except ValueError as err:
        fail(str(err), "unset it, or give the operations the engine may run at once")
    config = load_config(cloud, env)
    out_file = paths.output_file(out)
    base = base_plan(compare, config.stack_name, "--compare") if compare is not None else None
    display.progress(f"Planning stack {config.stack_name} offline (Pulumi SDK mocks; no engine, no credentials)...")
    started = time.perf_counter()
    from ..planning import offline_plan, report_missing_charts

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
        from ..plan_report import print_plan

        print_plan(result, parallel)
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
