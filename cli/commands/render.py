"""`platform render`: write the Kubernetes objects and Helm values a stack would apply."""

from __future__ import annotations

from typing import Optional

import typer

from .common import Cloud, CloudOption, EnvOption


def register(app: typer.Typer) -> None:
    app.command("render", short_help="Write every object a stack would apply, offline.")(render)


def render(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Directory to write manifests/, helm/ and rendered/ into.",
                                      show_default=False),
) -> None:
    """Write every object the stack applies: DIR/manifests/ (ours), DIR/helm/ (values), DIR/rendered/ (each chart, rendered)."""
    from mlops_platform.planner import files
    from mlops_platform.planner import render as renderer

    from .. import display, paths
    from ..errors import fail
    from ..planning import offline_plan, report_missing_charts
    from ..project import load_config

    config = load_config(cloud, env)
    folder = paths.output_folder(out)
    try:
        files.check_replaceable(folder, renderer.OWNED)  # before any work: a refusal writes nothing
    except files.FolderError as err:
        fail(f"--out {out}: {err}", "render replaces manifests/, helm/ and rendered/ in that folder")
    replaced = [f"{name}/" for name in renderer.OWNED if (folder / name).exists()]
    display.progress(f"Rendering stack {config.stack_name} offline...")
    result = offline_plan(config, f"Rendering stack {config.stack_name}")
    report_missing_charts(result.view)
    try:
        written = files.replace_folders(folder, renderer.OWNED, lambda staging: renderer.write(result.run, staging, result.view))
    except files.FolderError as err:
        fail(f"--out {out}: {err}", "nothing was changed there")
    if replaced:
        display.progress(f"Replaced {', '.join(replaced)} in {folder} (render owns them; nothing else there is touched)")
    count = {name: sum(1 for p in written if p.parts[0] == name) for name in renderer.OWNED}
    print(
        f"{folder}: {count['manifests']} manifests, {count['helm'] // 2} Helm releases, "
        f"{count['rendered']} rendered objects ({len(result.view.releases)} releases rendered"
        + (f", {len(result.view.missing)} not rendered" if result.view.missing else "")
        + ")"
    )
