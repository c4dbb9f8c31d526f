"""`platform upgrade`: what this version of the platform does to a deployment, before it happens.

The deployment is what the stack runs (its `deployment` output and the Helm releases in its state),
or a saved plan (`platform plan --json --out BASE.json` at the version deployed) given with --from.
Each release is rendered for real at both versions and compared object by object; the findings say
what would break a live upgrade (exit 1) or change under it. A Kubernetes minor skipped is refused
before anything renders (exit 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from .common import BackendOption, Cloud, CloudOption, EnvOption, JsonOption, PassphraseFileOption


def register(app: typer.Typer) -> None:
    app.command("upgrade", short_help="What this version does to a deployment: what breaks, what changes.")(upgrade)


def _text(result: Any) -> str:
    lines = [f"stack {result.stack}: Kubernetes {result.kubernetes_from} -> {result.kubernetes_to}"]
    for release in result.releases:
        versions = f"{release.from_version or '(new)'} -> {release.to_version or '(removed)'}"
        lines.append(f"  {release.name} ({release.chart.rsplit('/', 1)[-1]} {versions}): {len(release.added)} added, "
                     f"{len(release.removed)} removed, {len(release.changed)} changed")
    for finding in result.findings:
        mark = "BREAKS" if finding.breaking else "note"
        lines.append(f"{mark} {finding.code} {finding.release}: {finding.subject}: {finding.detail}")
        if finding.how:
            lines.append(f"    how: {finding.how}")
    lines.append(f"{len(result.breaking)} breaking, {len(result.findings) - len(result.breaking)} other findings")
    return "\n".join(lines)


def upgrade(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    base: Optional[Path] = typer.Option(None, "--from", show_default=False,
                                        help="A plan saved with plan --json at the deployed version, instead of the deployed stack."),
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """Compare a deployment (the stack, or a saved plan) with this version of the platform, release by release."""
    from mlops_platform.planner import charts
    from mlops_platform.planner.chart_render import RenderError
    from mlops_platform.planner.harness import plan_platform
    from mlops_platform.planner.upgrade import UpgradeError, assess

    from .. import display
    from ..errors import EXIT_FAILED, fail
    from ..planning import base_plan
    from ..project import load_config

    config = load_config(cloud, env)
    if base is not None:
        document, source = base_plan(base, config.stack_name, "--from"), base.name
    else:
        from ..opening import open_engine
        from ..planning import deployed_plan

        document, source = deployed_plan(config, open_engine(config, backend, passphrase_file, create=False)), "the deployed stack"
    try:
        with display.steps(f"Comparing {source} with this version's stack {config.stack_name}") as step:
            result = assess(document, plan_platform(config), config, on_step=step)
    except UpgradeError as err:
        fail(str(err), "see README, Upgrades")
    except charts.ArchiveError as err:
        fail(str(err), f"replace it: {charts.PULL_HINT} --force")
    except RenderError as err:
        fail(str(err), "the saved plan's values do not render with its chart")
    if json_output:
        display.print_json(result.to_json())
    else:
        print(_text(result))
    if result.breaking:
        fail(f"{len(result.breaking)} findings would break the upgrade: "
             + ", ".join(sorted({f.code for f in result.breaking})), "each says how to proceed", EXIT_FAILED)
