"""Options shared by the commands (typed once, validated by cli.project)."""

from __future__ import annotations

import typer

CloudOption = typer.Option(None, "--cloud", "-c", help="local, aws, azure or gcp.", show_default=False)
EnvOption = typer.Option("dev", "--env", "-e", help="Environment; the stack is <cloud>-<env>.")
JsonOption = typer.Option(False, "--json", help="Print JSON on stdout instead of a table.")

