"""Options shared by the commands (typed once, validated by cli.project)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlops_platform.components import names

if TYPE_CHECKING:
    from mlops_platform.components.config import PlatformConfig


# typer shows the choices and reports a wrong or missing one.
Cloud = names.Cloud
CloudOption = typer.Option(..., "--cloud", "-c", help="Where the stack runs.", case_sensitive=True, show_default=False)
EnvOption = typer.Option("dev", "--env", "-e", help="Environment; the stack is <cloud>-<env>.")
JsonOption = typer.Option(False, "--json", help="Print JSON on stdout instead of a table.")



def report_placeholders(config: PlatformConfig, refuse: bool = False) -> list:
    """Warn (stderr) about every documentation placeholder left in the stack file; with `refuse`,
    stop before anything is deployed (exit 2) while one is left."""
    from mlops_platform.components.config import placeholders

    from .. import display
    from ..errors import fail
    from ..project import display_path, project_dir, stack_file

    found = placeholders(config)
    path = display_path(stack_file(project_dir(), config.stack_name))
    for key, value, why in found:
        display.err().print(f"[yellow]warning:[/yellow] {display.literal(f'placeholder in {path}: platform:{key} = {value} ({why})')}")
    if found and refuse:
        keys = ", ".join(dict.fromkeys(key for key, _, _ in found))
        fail(f"stack {config.stack_name} still holds {len(found)} placeholders ({keys})",
             f"replace them in {path} before deploying")
    return found
