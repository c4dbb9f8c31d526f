"""Options shared by the commands (typed once, validated by cli.project)."""

from __future__ import annotations

import typer

from mlops_platform.components import names

# typer shows the choices and reports a wrong or missing one.
Cloud = names.Cloud
CloudOption = typer.Option(..., "--cloud", "-c", help="Where the stack runs.", case_sensitive=True, show_default=False)
EnvOption = typer.Option("dev", "--env", "-e", help="Environment; the stack is <cloud>-<env>.")
JsonOption = typer.Option(False, "--json", help="Print JSON on stdout instead of a table.")
# The engine commands' options.
BackendOption = typer.Option(
    None, "--backend", help="State backend URL (default: $PULUMI_BACKEND_URL, else a file backend under $XDG_STATE_HOME)."
)
PassphraseFileOption = typer.Option(
    None, "--passphrase-file", help="File holding the stack's secrets passphrase (else $PULUMI_CONFIG_PASSPHRASE)."
)
YesOption = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation.")
ParallelOption = typer.Option(
    None, "--parallel", min=1, max=256, envvar="PLATFORM_PARALLEL", show_envvar=False,
    help="Resource operations run at once (default: 16 for a cloud, 4 per CPU core up to 16 for local; $PLATFORM_PARALLEL).",
)
