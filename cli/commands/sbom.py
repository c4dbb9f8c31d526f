"""`platform sbom`: a stack's software bill of materials, CycloneDX JSON."""

from __future__ import annotations

from typing import Optional

import typer

from .common import Cloud, CloudOption, EnvOption


def register(app: typer.Typer) -> None:
    app.command("sbom", short_help="A stack's bill of materials: charts, images, Python packages.")(sbom)


def sbom(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    out: Optional[str] = typer.Option(None, "--out", "-o", show_default=False,
                                      help="Write it to this file (whole or not at all) instead of stdout."),
) -> None:
    """Write the stack's software bill of materials, CycloneDX 1.6 JSON: the Helm charts it installs
    (with the SHA-256 of each cached archive), every image its cluster runs (as `images list`), and
    the platform's own Python dependencies as installed. Offline."""
    from mlops_platform.components.cloud_sdks import found
    from mlops_platform.planner import files

    from .. import display, paths
    from ..errors import fail
    from ..planning import offline_plan, report_missing_charts
    from ..project import load_config

    config = load_config(cloud, env)
    if not found("cyclonedx"):
        fail("an SBOM needs cyclonedx-python-lib, an optional extra: pip install 'mlops-platform[sbom]'")
    target = paths.output_file(out, "--out")
    from mlops_platform.planner import sbom as bill

    result = offline_plan(config, f"Rendering stack {config.stack_name}")
    report_missing_charts(result.view)
    document = bill.to_json(bill.build(config.stack_name, result.view))
    if target is None:
        print(document)
        return
    files.write_text(target, document + "\n")
    display.progress(f"wrote the SBOM of stack {config.stack_name} to {target}")
