"""`platform sweep`: what a stack left in its cloud account, found by its tags; `--delete` removes it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .common import BackendOption, Cloud, CloudOption, EnvOption, JsonOption, PassphraseFileOption, YesOption


def register(app: typer.Typer) -> None:
    app.command("sweep", short_help="Find (and --delete) what a destroyed stack left billing.")(sweep)


def sweep(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    delete: bool = typer.Option(False, "--delete", help="Delete what is found: only resources carrying the stack's tags."),
    yes: bool = YesOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """List every resource still in the cloud account that carries the stack's tags, or the tags
    Kubernetes' cloud controllers put on what they create for its cluster, with its monthly cost.
    Exit 0 when nothing is left, 1 when something is."""
    from .. import display
    from ..errors import EXIT_FAILED, fail
    from ..project import load_config

    config = load_config(cloud, env)
    if config.cloud == "local":
        display.progress("nothing to sweep: a local stack lives in Docker, and `kind delete` removes all of it")
        if json_output:
            display.print_json({"cloud": "local", "scope": "Docker", "clean": True, "leftovers": []})
        return
    if delete and not yes and not sys.stdin.isatty():
        fail("refusing to delete without confirmation on a non-interactive terminal", "pass --yes")
    from ..backup.keep import kept_ids
    from ..sweep.outcome import raise_exit, report, run_sweep

    state_ids = _state_ids(config, backend, passphrase_file, required=delete) + kept_ids(config.kept_data)
    result = run_sweep(config, state_ids)
    if delete and result.remaining:
        report(result, json_output=False, to_stderr=True)
        deletable = [item for item in result.remaining if item.deletable]
        from ..confirming import confirm

        if deletable and not yes and not confirm(f"Delete these {len(deletable)} resources of stack {config.stack_name}?"):
            fail("sweep cancelled: nothing deleted", exit_code=EXIT_FAILED)
        result = run_sweep(config, state_ids, delete=True)
    report(result, json_output)
    if not result.clean:
        raise_exit(result)


def _state_ids(config: Any, backend: Optional[str], passphrase_file: Optional[Path], required: bool) -> list[str]:
    """The cloud ids of what the stack's state still holds (protected data, kept on purpose). With
    --delete the state must show the stack destroyed: the sweep never races a live stack."""
    from .. import display
    from ..engine.workspace import EngineUnavailable, pulumi_cli
    from ..errors import EXIT_FAILED, fail
    from ..opening import deployed_engine, require_engine
    from ..running import run_operation

    try:
        pulumi_cli()
    except EngineUnavailable as err:
        if required:
            require_engine()
        display.progress(f"the stack's state is not read ({err}): what it keeps on purpose is listed as left over")
        return []
    engine = deployed_engine(config, backend, passphrase_file)
    if engine is None:
        if required:
            fail(f"stack {config.stack_name} is not in this backend, so the sweep cannot tell that it was destroyed "
                 "(it deletes only what a destroy left)", "give the backend it was deployed with: --backend URL", EXIT_FAILED)
        display.progress(f"stack {config.stack_name} is not in this backend: sweeping read-only, by its tags alone")
        return []
    resources = run_operation(config, engine.resources)
    live = [r for r in resources if not r.get("protect") and not str(r.get("type", "")).startswith("pulumi:providers:")]
    if required and live:
        fail(f"stack {config.stack_name} still has {display.count(len(live), 'resource')}: the sweep deletes only what a destroy left",
             f"platform destroy --cloud {config.cloud} --env {config.env} first", EXIT_FAILED)
    return [str(r.get("id") or "") for r in resources if r.get("protect")]
