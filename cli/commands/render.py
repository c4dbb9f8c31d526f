"""`platform render`: write the Kubernetes objects and Helm values a stack would apply."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import CloudOption, EnvOption


def register(app: typer.Typer) -> None:
    app.command("render")(render)


def render(
    cloud: Optional[str] = CloudOption,
    env: str = EnvOption,
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory to write manifests/, helm/ and rendered/ into."),
) -> None:
    """Write every object the stack applies: DIR/manifests/ (ours), DIR/helm/ (values), DIR/rendered/ (each chart, rendered)."""
    from .. import display
    from ..errors import fail
    from ..project import load_config
    from .plan import report_missing_charts

    config = load_config(cloud, env)
    if out is None:
        fail("missing option --out", "give the directory to write into")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a directory")
    display.progress(f"Rendering stack {config.stack_name} offline...")
    from ..offline import render as renderer
    from ..offline.plan import build_plan

    result = build_plan(config)
    report_missing_charts(result.view)
    written = renderer.write(result.run, out, result.view)
    count = {folder: sum(1 for p in written if p.relative_to(out).parts[0] == folder) for folder in renderer.OWNED}
    print(
        f"{out}: {count['manifests']} manifests, {count['helm'] // 2} Helm releases, "
        f"{count['rendered']} rendered objects ({len(result.view.releases)} releases rendered"
        + (f", {len(result.view.missing)} not rendered" if result.view.missing else "")
        + ")"
    )
