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
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Directory to write manifests/ and helm/ into."),
) -> None:
    """Write DIR/manifests/<namespace>/<kind>-<name>.yaml and DIR/helm/<release>/{chart,values}.yaml."""
    from .. import display
    from ..errors import fail
    from ..project import load_config

    config = load_config(cloud, env)
    if out is None:
        fail("missing option --out", "give the directory to write into")
    if out.exists() and not out.is_dir():
        fail(f"--out {out} exists and is not a directory")
    display.progress(f"Rendering stack {config.stack_name} offline...")
    from ..offline import render as renderer
    from ..offline.plan import build_plan

    result = build_plan(config)
    written = renderer.write(result.run, out)
    manifests = sum(1 for p in written if "manifests" in p.parts)
    print(f"{out}: {manifests} manifests, {len(written) - manifests} Helm files ({(len(written) - manifests) // 2} releases)")
