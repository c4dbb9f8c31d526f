"""`platform models list | promote`: from the stack's MLflow registry to a served model, through the
stack file (a promotion is a reviewable change of that file, then a preview: never a live edit)."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from .common import BackendOption, Cloud, EnvOption, JsonOption, PassphraseFileOption

models_app = typer.Typer(
    name="models",
    short_help="Promote MLflow registry versions to served models; list both.",
    help="The stack's models next to its MLflow registry: promote a registered version into the stack file.",
    no_args_is_help=True,
    add_completion=False,
)
# A cloud is required everywhere else; here `local` is the default, as for a data scientist's first try.
LocalCloudOption = typer.Option(Cloud.local, "--cloud", "-c", help="Where the stack runs.", case_sensitive=True)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app)


def _require_client() -> None:
    from mlops_platform.components.cloud_sdks import found

    from ..errors import fail

    if not found("mlflow"):
        fail("platform models needs the MLflow client, an optional extra: pip install 'mlops-platform[models]'")


def _registry(config: Any, backend: Optional[str], passphrase_file: Optional[Path]) -> tuple[Any, str]:
    """The registry of the deployed stack (its MLflow URL from the stack outputs, the caller's token
    from MLFLOW_TRACKING_TOKEN) and the stack's model store URI."""
    from ..errors import EXIT_USAGE, fail
    from ..opening import open_engine, require_engine
    from ..project import own_ca_only
    from ..registry import Registry, signed_in
    from ..running import run_operation

    require_engine()
    engine = open_engine(config, backend, passphrase_file, create=False)
    outputs = run_operation(config, engine.outputs)
    endpoints = outputs.get("endpoints")
    store = outputs.get("modelStore")
    url = (endpoints.value or {}).get("mlflow") if endpoints else None
    if not url or store is None:
        fail(f"stack {config.stack_name} has no MLflow registry in its outputs (is mlflow.enabled, and is it up?)",
             f"platform up --cloud {config.cloud} --env {config.env}", EXIT_USAGE)
    signed_in(config, url)
    return Registry(url, insecure=own_ca_only(config)), str(store.value)


@models_app.command("list", short_help="The stack's models next to the registry's versions and aliases.")
def list_models(
    cloud: Cloud = LocalCloudOption,
    env: str = EnvOption,
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """Each model of the stack file (format, storage URI, the registry version it came from) beside
    every model registered in the stack's MLflow."""
    from .. import display
    from ..errors import EXIT_USAGE, fail
    from ..project import load_config
    from ..registry import RegistryError

    config = load_config(cloud, env)
    _require_client()
    registry, _ = _registry(config, backend, passphrase_file)
    try:
        registered = registry.registered()
    except RegistryError as err:
        fail(str(err), exit_code=EXIT_USAGE)
    configured: list[dict[str, Any]] = [
        {"name": m.name, "format": m.format, "storageUri": m.storage_uri,
         "registry": m.registry.model_dump(exclude_none=True) if m.registry else None} for m in config.models]
    if json_output:
        display.print_json({"stack": config.stack_name, "configured": configured, "registered": registered})
        return
    from rich.table import Table

    table = Table(title=f"models of stack {config.stack_name}", show_edge=False)
    for column in ("model", "format", "from registry", "registry versions", "aliases"):
        table.add_column(column)
    by_name = {r["name"]: r for r in registered}
    for model in configured:
        source = model["registry"]
        reg = by_name.get(source["name"] if source else model["name"])
        table.add_row(*map(display.literal, (model["name"], model["format"], f"{source['name']} v{source['version']}" if source else "-",
                      ", ".join(map(str, reg["versions"])) if reg else "-",
                      ", ".join(f"{a}=v{v}" for a, v in reg["aliases"].items()) if reg else "-")))
    for reg in registered:
        if not any((m["registry"] or {}).get("name", m["name"]) == reg["name"] for m in configured):
            table.add_row(f"[dim]{display.literal(reg['name'])}[/dim]", "-", "not served", ", ".join(map(str, reg["versions"])),
                          display.literal(", ".join(f"{a}=v{v}" for a, v in reg["aliases"].items())))
    display.out().print(table)


@models_app.command("promote", short_help="Put a registry version into the stack file, then preview.")
def promote(
    model: str = typer.Argument(..., help="The registered model's name (the served model takes it too)."),
    version: Optional[int] = typer.Option(None, "--version", min=1, help="The registry version."),
    alias: Optional[str] = typer.Option(None, "--alias", help="Or a registry alias, e.g. champion."),
    cloud: Cloud = LocalCloudOption,
    env: str = EnvOption,
    preview: bool = typer.Option(True, "--preview/--no-preview", help="Run platform preview after the change."),
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """Resolve MODEL --version N (or --alias A) in the stack's MLflow registry, map its artifacts to the
    object-store URI KServe reads, and write the model into the stack file (format mlflow, storageUri,
    and registry name/version), keeping the file's comments and order. Prints the change, then the
    preview. Nothing is deployed: `platform up` does that."""
    from mlops_platform.planner import files

    from .. import display
    from ..errors import EXIT_USAGE, fail
    from ..project import display_path, load_config, project_dir, stack_file
    from ..registry import SERVABLE_FLAVOR, RegistryError, store_uri
    from ..stack_edit import set_model

    if (version is None) == (alias is None):
        fail("give exactly one of --version and --alias", f"e.g. platform models promote {model} --alias champion")
    config = load_config(cloud, env)
    path = stack_file(project_dir(), config.stack_name)
    from .. import ephemeral

    if not path.is_file() or ephemeral.is_derived(path):
        fail(f"stack {config.stack_name} derives from the dev stack file; promote into that one",
             f"platform models promote {model} ... --cloud {config.cloud}")
    _require_client()
    registry, model_store = _registry(config, backend, passphrase_file)
    try:
        resolved = registry.resolve(model, version, alias)
        uri = store_uri(resolved.artifact_uri, model_store)
    except RegistryError as err:
        fail(str(err), exit_code=EXIT_USAGE)
    if SERVABLE_FLAVOR not in resolved.flavors:
        found = ", ".join(resolved.flavors) or "no MLmodel file"
        fail(f"model '{model}' version {resolved.version} cannot be served: its flavors are {found}",
             "KServe's MLServer runtime serves MLflow models with the python_function flavor (mlflow.<flavor>.log_model adds it)")
    before = path.read_text(encoding="utf-8")
    values = {"format": "mlflow", "storageUri": uri,
              "registry": {"name": resolved.name, "version": resolved.version, "alias": resolved.alias}}
    # A model new to the stack has no reference data: its detectors wait until it is given.
    after = set_model(before, model, values, {"drift": {"enabled": False}, "outlier": {"enabled": False}})
    from mlops_platform.components.config import ConfigError, PlatformConfig, stack_values_from_text

    shown = str(display_path(path))
    try:
        PlatformConfig.from_values(stack_values_from_text(after, shown), shown, config.stack_name)
    except ConfigError as err:
        fail(f"the promotion would make the stack file invalid: {err}", "nothing was written")
    if after == before:
        display.progress(f"{shown} already serves {model} version {resolved.version}: nothing to change")
        return
    files.write_text(path, after)
    sys.stdout.writelines(difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"a/{shown}", f"b/{shown}"))
    sys.stdout.flush()
    display.progress(f"promoted {model} version {resolved.version}" + (f" (alias {alias})" if alias else "") +
                     f" into {shown}: {uri}")
    if preview:
        from ..previewing import preview_stack

        display.progress("Previewing the change (nothing is deployed until platform up)...")
        preview_stack(load_config(cloud, env), backend, passphrase_file)
