"""The images a stack runs, as their sources name them: the references `images lock` resolves and
`mirror push` copies. Rendered with the stack's image mirror left out, so that a stack already
switched to its mirror still names each image where it comes from (the lock is keyed by that)."""

from __future__ import annotations

from typing import Any

from .errors import fail
from .planning import offline_plan


def source_references(config: Any) -> list[str]:
    """Every image the stack's cluster runs, `registry/repository:tag` as written (digests off);
    one line and exit 2 when a chart is not in the cache (its images would be missing)."""
    from mlops_platform.components.config.sections import MirrorConfig
    from mlops_platform.planner.images import inventory

    unmirrored = config.model_copy(update={"mirror": MirrorConfig(charts=config.mirror.charts)})
    view = offline_plan(unmirrored, f"Rendering stack {config.stack_name}").view
    if view.partial:
        fail(f"stack {config.stack_name} renders partially (charts not in the cache), so its images are not all known",
             "run `platform charts pull` first")
    return [image.reference.split("@", 1)[0] for image in inventory(view)[0]]
