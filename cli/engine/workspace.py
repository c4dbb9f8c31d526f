"""The engine adapter: the Pulumi Automation API on this project, kept out of the commands.

- A `LocalWorkspace` on the project directory, stack `<cloud>-<env>` (its config is the stack
  file under stacks/, which Pulumi reads through `stackConfigDir`).
- Backend: `--backend` or `PULUMI_BACKEND_URL`, else a local file backend under the user's XDG
  state directory. Nothing there is created before the inputs were validated.
- Passphrase: `PULUMI_CONFIG_PASSPHRASE`, `PULUMI_CONFIG_PASSPHRASE_FILE` or `--passphrase-file`;
  for local stacks only, a generated one kept with 0600 permissions beside the state.
- The policy pack in policies/ is attached to preview and up.
- The program and the policy pack run with this CLI's own Python (PATH and PULUMI_PYTHON_CMD).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterator, Optional

from mlops_platform.components import versions
from mlops_platform.components.config.secrets import PASSPHRASE, uses_key
from mlops_platform.planner import files

if TYPE_CHECKING:
    from pulumi import automation as auto


PROJECT_NAME = "mlops-platform"
INSTALL_HINT = "curl -fsSL https://get.pulumi.com | sh"


class EngineUnavailable(Exception):
    """The Pulumi CLI is missing or too old; `str()` is one line for the user."""


def state_dir() -> Path:
    """The user's state folder for the platform (planner/files.py: $XDG_STATE_HOME/mlops-platform)."""
    return files.state_dir()


def default_backend_url() -> str:
    return (state_dir() / "backend").resolve().as_uri()


def pulumi_cli() -> tuple[str, str]:
    """(path, version) of the Pulumi CLI on PATH; EngineUnavailable when missing or too old."""
    from semver import VersionInfo

    path = shutil.which("pulumi")
    if path is None:
        raise EngineUnavailable(
            f"the Pulumi CLI is not installed (need >= {versions.PULUMI_CLI_MIN_VERSION}); install it with: {INSTALL_HINT}"
        )
    try:
        raw = subprocess.run([path, "version"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}).stdout.strip()
        found = VersionInfo.parse(raw.lstrip("v"))
    except (OSError, ValueError, subprocess.SubprocessError):
        raise EngineUnavailable(f"cannot read the version of the Pulumi CLI at {path}; reinstall it with: {INSTALL_HINT}") from None
    if found < VersionInfo.parse(versions.PULUMI_CLI_MIN_VERSION):
        raise EngineUnavailable(
            f"the Pulumi CLI at {path} is {found}, older than {versions.PULUMI_CLI_MIN_VERSION}; upgrade it with: {INSTALL_HINT}"
        )
    return path, str(found)


@dataclass
class EngineSettings:
    project_dir: Path
    stack: str
    cloud: str
    backend_url: Optional[str] = None
    passphrase_file: Optional[Path] = None
    policy_pack: Optional[Path] = None
    policy_config: Optional[dict[str, Any]] = None  # policies.registry.pack_config(...) for this stack
    parallel: Optional[int] = None  # resource operations at once (cli/engine/parallelism.py); None: Pulumi's
    extra_env: dict[str, str] = field(default_factory=dict)
    prod: bool = False  # a prod stack: a passphrase file others can read is refused, not only named
    secrets_provider: str = PASSPHRASE  # platform:secretsProvider: the passphrase, or a cloud KMS key's URL


class PassphraseMissing(Exception):
    pass


class PassphraseExposed(PassphraseMissing):
    """A passphrase file other users can read, where that is refused."""


class SecretsProviderMismatch(Exception):
    """The stack's secrets are encrypted by another provider than the one asked for; `hint`: what to do."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


class StackNotDeployed(Exception):
    """A local stack with no generated passphrase was never deployed from this machine."""


def exposed(path: Path) -> bool:
    """Whether users other than the owner may read the file (group or others have read)."""
    return bool(path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH))


def check_passphrase_file(path: Path, given_as: str, refuse: bool) -> None:
    """A passphrase file others can read decrypts every secret of the stack: refused where `refuse`
    (prod stacks, and the file the platform generated itself with 0600), otherwise named in a warning."""
    if not exposed(path):
        return
    message = f"{given_as} {path} can be read by other users (mode {stat.S_IMODE(path.stat().st_mode):o})"
    if refuse:
        raise PassphraseExposed(message)
    from .. import display

    display.err().print("[yellow]warning:[/yellow] " + display.literal(
        f"{message}: chmod 600 it; a prod stack refuses such a file"))


def resolve_passphrase(settings: EngineSettings, create: bool) -> dict[str, str]:
    """Environment for the secrets provider; a local stack may get a generated passphrase. A stack
    whose secrets a KMS key encrypts needs none (the cloud's credentials decrypt)."""
    if uses_key(settings.secrets_provider):
        if settings.passphrase_file is not None:
            raise SecretsProviderMismatch(f"--passphrase-file: stack {settings.stack}'s secrets are encrypted by the key "
                                          f"{settings.secrets_provider} (platform:secretsProvider), not a passphrase",
                                          "leave --passphrase-file out: the cloud's credentials decrypt them")
        return {}
    if settings.passphrase_file is not None:
        if not settings.passphrase_file.is_file():
            state = "is not a file" if settings.passphrase_file.exists() else "does not exist"
            raise PassphraseMissing(f"--passphrase-file {settings.passphrase_file} {state}")
        check_passphrase_file(settings.passphrase_file, "--passphrase-file", settings.prod)
        return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(settings.passphrase_file.resolve())}
    given = os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if given is not None and os.environ.get("PULUMI_CONFIG_PASSPHRASE") is None and Path(given).is_file():
        check_passphrase_file(Path(given), "PULUMI_CONFIG_PASSPHRASE_FILE", settings.prod)
    for name in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        if os.environ.get(name) is not None:
            return {}
    if settings.cloud != "local":
        raise PassphraseMissing(
            "cloud stacks need a passphrase you keep: set PULUMI_CONFIG_PASSPHRASE or pass --passphrase-file"
        )
    path = state_dir() / "passphrases" / f"{settings.stack}.txt"
    if not path.exists():
        if not create:
            raise StackNotDeployed(settings.stack)
        files.usable_folder(path.parent, "XDG_STATE_HOME")  # FolderError: one line naming it
        os.chmod(path.parent, stat.S_IRWXU)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    check_passphrase_file(path, "the generated passphrase", refuse=True)  # written 0600: loosened since
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(path)}


def encrypted_by(stack_file: Path) -> Optional[str]:
    """What encrypts the secrets of a stack, as Pulumi recorded it in the stack file on `stack init`:
    its `secretsprovider` (a KMS key), `passphrase` (only a salt), or None (not created yet)."""
    from ..ephemeral import engine_keys

    if not stack_file.is_file():
        return None
    try:
        text = stack_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # the config loader has read this file already; its errors are reported there
    keys = engine_keys(text, str(stack_file))
    provider = keys.get("secretsprovider")
    if provider and provider not in (PASSPHRASE, "default"):
        return provider
    return PASSPHRASE if keys.get("encryptionsalt") or provider else None


def check_secrets_provider(settings: EngineSettings) -> None:
    """SecretsProviderMismatch when the stack's secrets are encrypted by another provider than the
    stack file now asks for: Pulumi would otherwise keep the old one without a word."""
    found = encrypted_by(settings.project_dir / "stacks" / f"Pulumi.{settings.stack}.yaml")
    if found is not None and found != settings.secrets_provider:
        raise SecretsProviderMismatch(
            f"stack {settings.stack}'s secrets are encrypted by {found} (recorded by Pulumi in its stack file), "
            f"but platform:secretsProvider is {settings.secrets_provider}",
            f"set platform:secretsProvider back, or move the stack first: pulumi stack change-secrets-provider "
            f"--stack {settings.stack} {settings.secrets_provider}")


def engine_env(settings: EngineSettings, create: bool) -> dict[str, str]:
    backend = settings.backend_url or os.environ.get("PULUMI_BACKEND_URL") or default_backend_url()
    if backend.startswith("file://") and create:
        chosen_by = None if settings.backend_url else "PULUMI_BACKEND_URL" if os.environ.get("PULUMI_BACKEND_URL") else "XDG_STATE_HOME"
        files.usable_folder(Path(backend[len("file://"):]), chosen_by)  # FolderError: one line naming it
    interpreter_dir = os.path.dirname(sys.executable)
    return {
        "PULUMI_BACKEND_URL": backend,
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        # The program imports mlops_platform: run it (and the policy pack) with this interpreter.
        "PULUMI_PYTHON_CMD": sys.executable,
        "PATH": interpreter_dir + os.pathsep + os.environ.get("PATH", ""),
        **resolve_passphrase(settings, create),
        **settings.extra_env,
    }


class Engine:
    """One stack of this project, driven through the Automation API."""

    def __init__(self, settings: EngineSettings, create: bool = False):
        from pulumi import automation as auto

        self.settings = settings
        pulumi_cli()  # no CLI, or one too old: EngineUnavailable before anything is written
        check_secrets_provider(settings)
        self.env = engine_env(settings, create)
        # A KMS key is given to `stack init` (the workspace passes it on creation only).
        key = settings.secrets_provider if uses_key(settings.secrets_provider) else None
        self.workspace = auto.LocalWorkspace(work_dir=str(settings.project_dir), env_vars=self.env, secrets_provider=key)
        if create:
            self.stack = auto.Stack.create_or_select(settings.stack, self.workspace)
        else:
            self.stack = auto.Stack.select(settings.stack, self.workspace)

    @contextmanager
    def _policy(self) -> Iterator[dict[str, Any]]:
        """The pack and, for the length of one operation, its per-stack configuration file."""
        pack = self.settings.policy_pack
        if not pack:
            yield {}
            return
        options: dict[str, Any] = {"policy_packs": [str(pack)]}
        if self.settings.policy_config is None:
            yield options
            return
        # Per-stack enforcement and limits, in the pack configuration file format.
        # Ref: https://www.pulumi.com/docs/iac/using-pulumi/crossguard/configuration/
        with tempfile.TemporaryDirectory(prefix="mlops-policy-") as directory:
            path = Path(directory) / "policy-config.json"
            path.write_text(json.dumps(self.settings.policy_config), encoding="utf-8")
            yield {**options, "policy_pack_configs": [str(path)]}

    def preview(self, on_event: Callable, diff: bool = True) -> auto.PreviewResult:
        with self._policy() as policy:
            return self.stack.preview(on_event=on_event, diff=diff, color="never", on_output=_quiet,
                                      parallel=self.settings.parallel, **policy)

    def up(self, on_event: Callable) -> auto.UpResult:
        with self._policy() as policy:
            return self.stack.up(on_event=on_event, color="never", on_output=_quiet, parallel=self.settings.parallel, **policy)

    def destroy(self, on_event: Callable, exclude_protected: bool = False) -> auto.DestroyResult:
        return self.stack.destroy(on_event=on_event, color="never", on_output=_quiet, exclude_protected=exclude_protected,
                                  parallel=self.settings.parallel)

    def refresh(self, on_event: Callable) -> auto.RefreshResult:
        return self.stack.refresh(on_event=on_event, color="never", on_output=_quiet, parallel=self.settings.parallel)

    def outputs(self) -> dict[str, Any]:
        return dict(self.stack.outputs())

    def release(self, urns: Collection[str]) -> None:
        """Take the resources `urns` out of the stack's state, leaving them in the cloud (what
        `pulumi state delete` does; the Automation API offers export and import)."""
        from pulumi.automation import Deployment

        from .state import without

        exported = self.stack.export_stack()
        self.stack.import_stack(Deployment(version=exported.version, deployment=without(exported.deployment or {}, urns)))

    def resources(self) -> list[dict[str, Any]]:
        """The resources in the stack's state, without the stack itself."""
        deployment = self.stack.export_stack().deployment or {}
        return [r for r in deployment.get("resources", []) if r.get("type") != "pulumi:pulumi:Stack"]


def list_stacks(settings: EngineSettings) -> list[Any]:
    """Stacks the backend knows for this project (no stack is created or selected)."""
    from pulumi import automation as auto

    pulumi_cli()
    backend = settings.backend_url or os.environ.get("PULUMI_BACKEND_URL") or default_backend_url()
    if backend.startswith("file://") and not Path(backend[len("file://"):]).exists():
        return []
    env = {"PULUMI_BACKEND_URL": backend, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    workspace = auto.LocalWorkspace(work_dir=str(settings.project_dir), env_vars=env)
    return workspace.list_stacks()


def _quiet(_line: str) -> None:
    """The CLI's own text output is not shown: progress comes from engine events."""
