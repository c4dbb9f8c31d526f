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


def _rehearsal(config: Any, document: Any, result: Any) -> Any:
    """The rehearsal's plan, from its environment's offline plan (derived like any `--env pr-…`)."""
    from mlops_platform.planner.harness import plan_platform
    from mlops_platform.planner.rehearsal import plan_rehearsal, rehearsal_env

    from ..project import load_config

    rehearsal_config = load_config(config.cloud, rehearsal_env(config.env))
    return plan_rehearsal(config, rehearsal_config, plan_platform(rehearsal_config), document.get("deployment") or {}, result)


def upgrade(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    base: Optional[Path] = typer.Option(None, "--from", show_default=False,
                                        help="A plan saved with plan --json at the deployed version, instead of the deployed stack."),
    rehearse: bool = typer.Option(False, "--rehearse", help="Plan a rehearsal in an ephemeral environment (with --dry-run)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --rehearse: print the rehearsal's steps, commands and times."),
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """Compare a deployment (the stack, or a saved plan) with this version of the platform, release by release.

    With --rehearse --dry-run, also the plan of a rehearsal: an environment rh-<env> stood up at the
    deployed release, the stack's latest backup restored into it, this release applied, its health
    checked, the environment torn down; each step's command and estimated time."""
    from mlops_platform.planner import charts
    from mlops_platform.planner.chart_render import RenderError
    from mlops_platform.planner.harness import plan_platform
    from mlops_platform.planner.upgrade import UpgradeError, assess

    from .. import display
    from ..errors import EXIT_FAILED, fail
    from ..planning import base_plan
    from ..project import load_config

    config = load_config(cloud, env)
    if dry_run and not rehearse:
        fail("--dry-run goes with --rehearse (upgrade itself changes nothing)", "add --rehearse, or leave --dry-run out")
    if rehearse and not dry_run:
        fail("a rehearsal deploys an environment into the cloud account, which this release does not run by itself yet",
             "--rehearse --dry-run prints its steps with their commands: run them in order")
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
    rehearsal = _rehearsal(config, document, result) if rehearse else None
    if json_output:
        display.print_json({**result.to_json(), **({"rehearsal": rehearsal.to_json()} if rehearsal else {})})
    else:
        print(_text(result) + ("\n" + "\n".join(rehearsal.lines()) if rehearsal else ""))
    if result.breaking:
        fail(f"{len(result.breaking)} findings would break the upgrade: "
             + ", ".join(sorted({f.code for f in result.breaking})), "each says how to proceed", EXIT_FAILED)
