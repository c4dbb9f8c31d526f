"""The charts a deploy installs, checked and staged before any engine call: each archive of the
stack's Helm releases is checked against its recorded digest (planner/digests.py) and copied into
the project's `.charts/`, which is what every release deploys (Chart.staged). A mismatch, a bad or
missing archive stops the command with one line, exit 2, before Pulumi is started. A chart with no
recorded digest is refused for a prod stack and named in a warning for a dev one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import fail


def stage_for_deploy(config: Any, project: Path) -> list[Path]:
    from mlops_platform.components import versions
    from mlops_platform.planner import charts, digests
    from mlops_platform.planner.harness import plan_platform

    from . import display

    selected = charts.used_by(plan_platform(config))
    unverified = digests.unrecorded(selected)
    if unverified:
        listed = ", ".join(f"{c.short_name} {c.version}" for c in unverified)
        if config.is_prod:
            fail(f"stack {config.stack_name} is prod and {len(unverified)} of its charts have no recorded digest: {listed}",
                 f"record each publisher's sha256 in components/versions.py, or give them in ${digests.DIGESTS_ENV} "
                 "(README: Verified charts)")
        display.err().print("[yellow]warning:[/yellow] " + display.literal(
            f"{len(unverified)} charts are deployed unverified (no recorded digest): {listed} (README: Verified charts)"))
    try:
        return charts.stage(selected, project / versions.STAGED_CHARTS_DIR)
    except charts.ArchiveError as err:
        fail(str(err), f"replace it: {charts.PULL_HINT} --force")
    except OSError as err:
        fail(f"cannot write {project / versions.STAGED_CHARTS_DIR}: {err.strerror}", "the project folder must be writable")
