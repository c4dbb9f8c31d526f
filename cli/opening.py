"""Opening a stack's engine for a command: the Pulumi CLI checked, the stack's settings (backend,
passphrase, policy pack and its config, parallelism) resolved, and every way it can fail one line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .errors import EXIT_FAILED, EXIT_USAGE, fail
from .project import stack_flags

if TYPE_CHECKING:
    from .engine.workspace import Engine

DOCTOR_HINT = "run `platform doctor` to check every prerequisite"


def require_engine() -> None:
    """The Pulumi CLI is installed and recent enough, or one line (exit 1) pointing to doctor."""
    from .engine.workspace import EngineUnavailable, pulumi_cli

    try:
        pulumi_cli()
    except EngineUnavailable as err:
        fail(str(err), DOCTOR_HINT, EXIT_FAILED)


# The tools a deploy runs itself, beside the engine, by cloud: Azure's database restart for pgaudit
# (components/data/azure.py) is an `az` command the engine runs on this machine.
DEPLOY_TOOLS = {"azure": ("az", "the Azure CLI, which up runs to restart the database server for pgaudit",
                          "install it (https://learn.microsoft.com/cli/azure/install-azure-cli) and `az login`")}


def require_deploy_tools(config: Any) -> None:
    """A deploy's own tools are on PATH, or one line (exit 1) before anything is touched."""
    import shutil

    needed = DEPLOY_TOOLS.get(config.cloud)
    if needed is not None and shutil.which(needed[0]) is None:
        tool, what, remedy = needed
        fail(f"`{tool}` is not on PATH: {what}; nothing was deployed", f"{remedy}; {DOCTOR_HINT}", EXIT_FAILED)


def open_engine(config: Any, backend: Optional[str], passphrase_file: Optional[Path], create: bool,
                parallel: Optional[int] = None) -> Engine:
    """The stack's engine, or one line and an exit code."""
    engine = _open(config, backend, passphrase_file, create, parallel, missing_ok=False)
    assert engine is not None  # _open fails instead of returning None unless missing_ok
    return engine


def deployed_engine(config: Any, backend: Optional[str], passphrase_file: Optional[Path]) -> Optional[Engine]:
    """The engine of a stack this backend has deployed, or None when it has never deployed it."""
    return _open(config, backend, passphrase_file, create=False, parallel=None, missing_ok=True)


def _open(config: Any, backend: Optional[str], passphrase_file: Optional[Path], create: bool,
          parallel: Optional[int], missing_ok: bool) -> Optional[Engine]:
    from pulumi.automation import errors as auto_errors

    from mlops_platform.planner import files
    from mlops_platform.policies.registry import pack_config

    from . import paths
    from .engine import parallelism
    from .engine.errors import explain
    from .engine.workspace import (
        Engine,
        EngineSettings,
        EngineUnavailable,
        PassphraseMissing,
        SecretsProviderMismatch,
        StackNotDeployed,
    )
    from .project import project_dir

    paths.input_file(passphrase_file, "--passphrase-file")
    project = project_dir()
    settings = EngineSettings(
        project_dir=project,
        stack=config.stack_name,
        cloud=config.cloud,
        backend_url=backend,
        passphrase_file=passphrase_file,
        policy_pack=project / "policies",
        policy_config=pack_config(config),
        parallel=parallelism.resolve(config.cloud, parallel),
        prod=config.is_prod,
        secrets_provider=config.secrets_provider,
    )
    from .project import write_derived_stack_file

    try:
        # An ephemeral environment's stack file, for Pulumi to read, before the engine first touches the
        # stack: creating it writes the secrets provider's salt into that file (cli/ephemeral.py).
        if create:
            # What the releases deploy, checked and staged first: a bad chart stops before the engine starts
            # (and nothing is staged when there is no engine to run).
            from .engine.workspace import pulumi_cli
            from .staging import stage_for_deploy

            pulumi_cli()
            stage_for_deploy(config, project)
            write_derived_stack_file(config)
        engine = Engine(settings, create=create)
        if not create:
            write_derived_stack_file(config)
        return engine
    except EngineUnavailable as err:
        fail(str(err), DOCTOR_HINT, EXIT_FAILED)
    except PassphraseMissing as err:
        from .engine.workspace import PassphraseExposed

        fail(str(err), "chmod 600 it (it decrypts every secret of the stack)" if isinstance(err, PassphraseExposed) else None,
             exit_code=EXIT_USAGE)
    except SecretsProviderMismatch as err:
        fail(str(err), err.hint, exit_code=EXIT_USAGE)
    except files.FolderError as err:
        fail(str(err), "point the variable at a folder you can write, or pass --backend", EXIT_USAGE)
    except (StackNotDeployed, auto_errors.StackNotFoundError):
        if missing_ok:
            return None
        fail(f"stack {config.stack_name} has not been deployed to this backend",
             f"platform up {stack_flags(config.cloud, config.env)}", EXIT_FAILED)
    except auto_errors.CommandError as err:
        failure = explain(err, config.stack_name, config.cloud, config.env)
        fail(failure.message, failure.hint, EXIT_FAILED)
