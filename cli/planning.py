"""The offline plan as the commands run it: a chart archive that cannot be used, or a chart that
refuses to render, is one line and exit 2 naming the archive, before anything is written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import fail

if TYPE_CHECKING:
    from mlops_platform.components.config import PlatformConfig
    from mlops_platform.planner.plan import Plan


def offline_plan(config: PlatformConfig, title: str) -> Plan:
    """The plan, with its steps shown under `title` on stderr while it works."""
    from mlops_platform.planner import charts
    from mlops_platform.planner.chart_render import RenderError
    from mlops_platform.planner.plan import build_plan

    from . import display

    try:
        with display.steps(title) as step:
            return build_plan(config, on_step=step)
    except charts.ArchiveError as err:
        fail(str(err), f"replace it: {charts.PULL_HINT} --force")
    except RenderError as err:
        fail(str(err), f"if the archive was changed, replace it: {charts.PULL_HINT} --force")
