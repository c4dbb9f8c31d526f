"""`platform destroy`: drain the cluster, tear the stack down in dependency order, then sweep the
account for anything left billing (cli/engine/drain.py, cli/sweep/)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .common import BackendOption, Cloud, CloudOption, EnvOption, JsonOption, ParallelOption, PassphraseFileOption, YesOption


def register(app: typer.Typer) -> None:
    app.command("destroy", short_help="Tear a stack down, keeping protected data.")(destroy)


def destroy(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    yes: bool = YesOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
    parallel: Optional[int] = ParallelOption,
    drain_timeout: int = typer.Option(600, "--drain-timeout", min=0, help="Seconds to wait for load balancers and disks to be released."),
    no_drain: bool = typer.Option(False, "--no-drain", help="Skip the drain (a cluster that cannot be reached); sweep afterwards."),
    keep_data: bool = typer.Option(
        False, "--keep-data",
        help="Keep the bucket and the database (as a backup; on local, copied to this machine) for the next up to adopt."),
) -> None:
    """Delete every resource of the stack. Protected resources (prod data) are listed and kept.

    On a cloud, it first drains the cluster: LoadBalancer Services, the monitoring operator's
    resources and every claim in the platform's namespaces are deleted, and their load balancers and
    disks confirmed released, before the engine deletes anything. Afterwards it sweeps the account
    for resources still carrying the stack's tags: it ends with "nothing left in ..." or a table of
    what is left with its monthly cost, and exit code 1.

    With --keep-data, it backs the stack up first, keeps the artifact bucket out of
    the teardown (on Azure the storage account and its resource group) and the database as the
    backup (the RDS snapshot; the Cloud SQL backup, kept after its instance; the pg_dump in the kept
    account), and records both in the stack file (platform:keptData): the next `platform up`
    imports the bucket and restores the database. On local, whose data is in the cluster, the
    backup is copied to this machine instead, and the next `up` restores it into the new cluster."""
    from .. import display
    from ..confirming import confirm
    from ..engine.progress import ProgressTracker
    from ..errors import EXIT_FAILED, fail
    from ..opening import open_engine
    from ..project import load_config
    from ..running import run_operation, run_with_progress

    config = load_config(cloud, env)
    if keep_data:
        from ..backup.keep import refuse_unkeepable

        refuse_unkeepable(config)
    if not yes and not sys.stdin.isatty():
        fail("refusing to destroy without confirmation on a non-interactive terminal", "pass --yes")
    engine = open_engine(config, backend, passphrase_file, create=False, parallel=parallel)
    resources = run_operation(config, engine.resources)
    protected = [r for r in resources if r.get("protect")]
    _list_protected(protected)
    if not yes and not confirm(
        f"Type the stack name ({config.stack_name}) to destroy {len(resources) - len(protected)} resources",
        expected=config.stack_name,
    ):
        fail("destroy cancelled: the stack name did not match", exit_code=EXIT_FAILED)
    kept = config.kept_data
    if keep_data:
        from ..backup.keep import keep

        kept, resources = keep(config, engine, resources)
    if config.cloud != "local" and not no_drain:
        _drain(config, engine, drain_timeout)
    tracker = ProgressTracker(total=len(resources) - len(protected))
    display.progress(f"Destroying stack {config.stack_name}...")
    run_with_progress(
        config, "destroy", tracker, lambda on_event: engine.destroy(on_event=on_event, exclude_protected=bool(protected))
    )
    _sweep_and_report(config, tracker.summary(), protected, kept, json_output)


def _sweep_and_report(config: Any, summary: dict[str, Any], protected: list[dict[str, Any]], kept: Any,
                      json_output: bool) -> None:
    """On a cloud, the sweep for what the stack may have left (kept data is expected, not left over);
    then the report, exit 1 when something is left."""
    from .. import display
    from ..running import print_summary

    swept = None
    if config.cloud != "local":
        from ..backup.keep import kept_ids
        from ..sweep.outcome import run_sweep

        display.progress(f"Sweeping the account for what stack {config.stack_name} may have left...")
        # What destroy --keep-data kept is expected, as protected data is.
        swept = run_sweep(config, [str(r.get("id") or "") for r in protected] + kept_ids(kept))
    if json_output:
        display.print_json({"stack": config.stack_name, "summary": summary,
                            "kept": [r.get("urn") for r in protected],
                            "keptData": kept.model_dump(mode="json", by_alias=True, exclude_none=True) if kept is not None else None,
                            "sweep": swept.to_json() if swept is not None else None})
    else:
        print_summary(f"stack {config.stack_name} destroyed", summary)
    if swept is not None:
        from ..sweep.outcome import raise_exit, report

        if not json_output:
            report(swept, json_output=False)
        if not swept.clean:
            raise_exit(swept)


def _list_protected(protected: list[dict[str, Any]]) -> None:
    from .. import display

    if not protected:
        return
    console = display.err()
    console.print(f"[bold]{len(protected)} protected resources are kept (they hold data):[/bold]")
    for resource in protected:
        console.print(f"  {display.literal(resource.get('type'))}  {display.literal(resource.get('urn', '').rsplit('::', 1)[-1])}")
    console.print("  remove them deliberately with `pulumi state unprotect` and destroy again.")


def _drain(config: Any, engine: Any, timeout: int) -> None:
    """Release the cluster's load balancers and disks while it still runs; stop before the engine
    deletes anything if they are not released in time."""
    from .. import display
    from ..engine import drain
    from ..errors import EXIT_FAILED, fail
    from ..running import run_operation

    outputs = run_operation(config, engine.outputs)
    kubeconfig = outputs.get("kubeconfig")
    if kubeconfig is None or not kubeconfig.value:
        display.progress("no kubeconfig in the stack's outputs (its cluster was never created): nothing to drain")
        return
    flags = f"--cloud {config.cloud} --env {config.env}"
    try:
        from ..engine.kube_api import KubeApi

        display.progress(f"Draining the cluster of stack {config.stack_name} (up to {timeout}s)...")
        report = drain.drain(KubeApi(kubeconfig.value), timeout, display.progress)
    except Exception as err:  # noqa: BLE001 - any failure to reach the cluster stops destroy, in one line
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        fail(f"cannot drain the cluster of stack {config.stack_name}: {type(err).__name__}: {reason[:200]}",
             f"check access (platform doctor --cloud {config.cloud}), or pass --no-drain and run platform sweep {flags} after",
             EXIT_FAILED)
    if not report.done:
        fail(f"the drain timed out after {report.seconds:.0f}s; still held: {'; '.join(report.held)}",
             f"nothing was destroyed: run platform destroy {flags} again, or raise --drain-timeout", EXIT_FAILED)
    display.progress(f"drained in {report.seconds:.0f}s: {len(report.deleted)} objects deleted, their cloud resources released")
