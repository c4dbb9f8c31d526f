"""The images a stack runs, as their sources name them: the references `images lock` resolves and
`mirror push` copies. Rendered with the stack's image mirror left out, so that a stack already
switched to its mirror still names each image where it comes from (the lock is keyed by that)."""

from __future__ import annotations

from typing import Any

from .errors import fail
from .planning import offline_plan


def source_plan(config: Any) -> Any:
    """The stack's offline plan with its image mirror left out (the charts it installs are the
    same); one line and exit 2 when a chart is not in the cache (its images would be missing)."""
    from mlops_platform.components.config.sections import MirrorConfig

    unmirrored = config.model_copy(update={"mirror": MirrorConfig(charts=config.mirror.charts)})
    plan = offline_plan(unmirrored, f"Rendering stack {config.stack_name}")
    if plan.view.partial:
        fail(f"stack {config.stack_name} renders partially (charts not in the cache), so its images are not all known",
             "run `platform charts pull` first")
    return plan


def source_references(plan: Any) -> list[str]:
    """Every image the cluster of `plan` (source_plan's) runs, `registry/repository:tag` as written
    (digests off)."""
    from mlops_platform.planner.images import inventory

    return [image.reference.split("@", 1)[0] for image in inventory(plan.view)[0]]
