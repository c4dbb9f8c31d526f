"""Previewing a stack for a command (`platform preview`, and `platform models promote` after it
writes the stack file): the engine's diff, grouped by component, with the policy results; a
mandatory violation shows the diff, then fails in one line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .errors import EXIT_FAILED, fail

if TYPE_CHECKING:
    from mlops_platform.components.config import PlatformConfig

    from .engine.diff import DiffCollector


def preview_stack(
    config: PlatformConfig,
    backend: Optional[str],
    passphrase_file: Optional[Path],
    parallel: Optional[int] = None,
    json_output: bool = False,
) -> DiffCollector:
    """Preview the stack and print its diff (JSON with `json_output`) on stdout; return it."""
    from . import display
    from .engine.diff import DiffCollector, print_diff
    from .opening import open_engine
    from .planning import check_kubernetes_skew, deployed_record
    from .project import report_placeholders
    from .running import run_operation

    report_placeholders(config, refuse=False)
    engine = open_engine(config, backend, passphrase_file, create=True, parallel=parallel)
    check_kubernetes_skew(config, deployed_record(config, engine))
    display.progress(f"Previewing stack {config.stack_name} (backend {engine.env['PULUMI_BACKEND_URL']})...")
    collector = DiffCollector()

    def show() -> None:
        if json_output:
            display.print_json(collector.to_json(config.stack_name))
        else:
            print_diff(collector, config.stack_name)

    def on_failure() -> None:
        # A mandatory policy violation fails the preview: show the diff and the violations.
        if collector.mandatory_violations():
            show()
            names = ", ".join(sorted({p.policy for p in collector.mandatory_violations()}))
            fail(f"mandatory policy violations: {names}", "fix the resources or the stack file, then preview again", EXIT_FAILED)

    run_operation(config, lambda: engine.preview(on_event=collector), on_failure=on_failure)
    show()
    return collector
