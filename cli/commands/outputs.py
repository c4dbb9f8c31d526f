"""`platform outputs`: the deployed stack's endpoints (secrets masked unless asked for)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import BackendOption, Cloud, CloudOption, EnvOption, JsonOption, PassphraseFileOption


def register(app: typer.Typer) -> None:
    app.command("outputs", short_help="Print a stack's endpoints and (masked) logins.")(outputs)


def outputs(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    json_output: bool = JsonOption,
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Print secret outputs (kubeconfig, passwords) in clear."),
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """Print the stack outputs: endpoints, and (masked) the kubeconfig and generated credentials."""
    from .. import display
    from ..opening import open_engine
    from ..project import load_config
    from ..running import masked_outputs, run_operation

    config = load_config(cloud, env)
    engine = open_engine(config, backend, passphrase_file, create=False)
    values = masked_outputs(run_operation(config, engine.outputs), show_secrets)
    if json_output:
        display.print_json({"stack": config.stack_name, "outputs": values})
        return
    from rich.table import Table

    table = Table(title=f"stack {config.stack_name}", show_edge=False)
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key, value in values.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                table.add_row(display.literal(f"{key}.{sub}"), display.literal(item))
        else:
            table.add_row(display.literal(key), display.literal(value))
    display.out().print(table)
