"""Where the Pulumi project lives, and how a (cloud, env) pair becomes a stack and its config."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from mlops_platform.components import names

from .errors import fail

if TYPE_CHECKING:
    from mlops_platform.components.config import PlatformConfig


CLOUDS = names.CLOUDS
PROJECT_NAME = "mlops-platform"


def _is_project(path: Path) -> bool:
    manifest = path / "Pulumi.yaml"
    if not manifest.is_file():
        return False
    try:
        text = manifest.read_text(encoding="utf-8")
    except OSError:
        return False
    return re.search(rf"^name:\s*{re.escape(PROJECT_NAME)}\s*$", text, re.MULTILINE) is not None


def project_dir() -> Path:
    """The project directory: $PLATFORM_PROJECT_DIR, else the nearest parent of the working
    directory holding this project's Pulumi.yaml, else the source tree this package was installed
    from (an editable install)."""
    override = os.environ.get("PLATFORM_PROJECT_DIR")
    if override:
        path = Path(override).expanduser().resolve()
        if not _is_project(path):
            fail(f"PLATFORM_PROJECT_DIR={override} holds no Pulumi.yaml of project {PROJECT_NAME}")
        return path
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _is_project(candidate):
            return candidate
    source = Path(__file__).resolve().parent.parent
    if _is_project(source):
        return source
    fail(
        f"cannot find the {PROJECT_NAME} project (Pulumi.yaml)",
        "run from the repository, or set PLATFORM_PROJECT_DIR",
    )


def check_cloud(cloud: Any) -> str:
    cloud = getattr(cloud, "value", cloud)  # the Cloud choice typer parsed, or a plain string
    if cloud is None:
        fail("missing option --cloud", f"one of {', '.join(CLOUDS)}")
    if cloud not in CLOUDS:
        fail(f"unknown cloud '{cloud}' for --cloud", f"one of {', '.join(CLOUDS)}")
    return cloud


def check_env(env: str) -> str:
    if not names.ENV_PATTERN.match(env):
        fail(f"invalid --env '{env}'", f"{names.ENV_RULE}, e.g. dev, prod or pr-123")
    return env


def stack_name(cloud: Optional[str], env: str) -> str:
    return f"{check_cloud(cloud)}-{check_env(env)}"


def stack_flags(cloud: str, env: str) -> str:
    """The flags that select a stack, as a hint spells them (`--env dev` is the default, left out)."""
    return f"--cloud {cloud}" + (f" --env {env}" if env != "dev" else "")


def stack_file(project: Path, stack: str) -> Path:
    return project / "stacks" / f"Pulumi.{stack}.yaml"


def shipped_stacks(project: Path, derived: bool = True) -> list[str]:
    """The stacks with a file in stacks/; with derived=False, not the ephemeral ones (cli/ephemeral.py)."""
    from . import ephemeral

    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (project / "stacks").glob("Pulumi.*.yaml")
                  if derived or not ephemeral.is_derived(p))


def stack_text(cloud: str, env: str) -> tuple[str, str]:
    """(the text of the stack file for cloud and env, where it comes from): the file itself, or for an
    ephemeral environment, the cloud's dev file with its env, owner and ttl set. Exits 2 when neither exists."""
    from . import ephemeral

    project = project_dir()
    stack = stack_name(cloud, env)
    path = stack_file(project, stack)
    if path.exists() and not path.is_file():
        fail(f"{display_path(path)}: is a folder, not a stack file", "remove it, or give another --env")
    if path.is_file() and not ephemeral.is_derived(path):
        return _read(path), str(display_path(path))
    base = stack_file(project, f"{cloud}-{names.BASE_ENV}")
    if env == names.BASE_ENV or not base.is_file():
        known = ", ".join(shipped_stacks(project)) or "none"
        fail(f"no stack file {display_path(path)} for stack {stack}" + (f" (nor {display_path(base)} to derive it from)"
             if env != names.BASE_ENV else ""), f"stack files here: {known}")
    return _derived(base, env, {}), f"{display_path(base)} (derived for {env})"


def _derived(base: Path, env: str, engine_keys: dict[str, Any]) -> str:
    """The dev file `base` derived for `env`: checked as a stack file first (the safe loader's bounds),
    then edited in a round trip."""
    from mlops_platform.components.config import ConfigError
    from mlops_platform.components.config.loading import load_document

    from . import ephemeral
    from .stack_edit import EditError

    dev = _read(base)
    source = str(display_path(base))
    try:
        load_document(dev, source)
        return ephemeral.derive(dev, base.name, env, ephemeral.default_owner(), ephemeral.default_ttl(), engine_keys)
    except ConfigError as err:
        fail(str(err))
    except EditError as err:
        fail(f"{source}: {err}")


def _read(path: Path) -> str:
    from mlops_platform.components.config import ConfigError, read_stack_text

    try:
        return read_stack_text(path, str(display_path(path)))
    except ConfigError as err:
        fail(str(err))


def write_derived_stack_file(config: PlatformConfig) -> None:
    """For an ephemeral environment, the stack file Pulumi reads (rewritten while it carries the mark)."""
    from mlops_platform.planner import files

    from . import ephemeral

    project = project_dir()
    path = stack_file(project, config.stack_name)
    if config.env == names.BASE_ENV or (path.is_file() and not ephemeral.is_derived(path)):
        return
    existing = _read(path) if path.is_file() else ""
    kept = ephemeral.engine_keys(existing, str(display_path(path))) if existing else {}
    text = _derived(stack_file(project, f"{config.cloud}-{names.BASE_ENV}"), config.env, kept)
    if text != existing:
        files.write_text(path, text)


def stack_names() -> list[str]:
    """`<cloud>-<env>` of every stack file in the project's stacks/ folder."""
    found = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (project_dir() / "stacks").glob("Pulumi.*.yaml"))
    return [name for name in found if name.split("-", 1)[0] in CLOUDS and "-" in name]


def load_config(cloud: Optional[str], env: str) -> PlatformConfig:
    """Validate the stack file for (cloud, env); any problem exits 2 before anything else runs."""
    from mlops_platform.components.config import ConfigError, PlatformConfig, stack_values_from_text

    stack = stack_name(cloud, env)
    text, source = stack_text(str(getattr(cloud, "value", cloud)), env)
    try:
        config = PlatformConfig.from_values(stack_values_from_text(text, source), source, stack)
    except ConfigError as err:
        fail(str(err))
    from mlops_platform.components import cloud_sdks

    reason = cloud_sdks.missing(config.cloud)
    if reason:
        fail(reason)
    from mlops_platform.components import k8s as kube

    try:
        kube.client_settings()  # the provider's variables, read by the program: wrong ones stop here
    except ValueError as err:
        fail(str(err), "unset it to use the platform's setting, or give a positive number")
    return config


def display_path(path: Path) -> Path:
    """`path` relative to the working directory when it lies below it (for messages)."""
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


def own_ca_only(config: PlatformConfig) -> bool:
    """Whether the stack's HTTPS hosts are served by the platform's own CA, which no client here
    trusts (the local stack with tls.issuer selfSigned): clients then skip verification."""
    return config.cloud == "local" and config.tls.issuer == "selfSigned"


def report_placeholders(config: PlatformConfig, refuse: bool = False) -> list:
    """Warn (stderr) about every documentation placeholder left in the stack file; with `refuse`,
    stop before anything is deployed (exit 2) while one is left."""
    from mlops_platform.components.config import placeholders

    from . import display

    found = placeholders(config)
    path = display_path(stack_file(project_dir(), config.stack_name))
    for key, value, why in found:
        display.err().print(f"[yellow]warning:[/yellow] {display.literal(f'placeholder in {path}: platform:{key} = {value} ({why})')}")
    if found and refuse:
        keys = ", ".join(dict.fromkeys(key for key, _, _ in found))
        fail(f"stack {config.stack_name} still holds {len(found)} placeholders ({keys})",
             f"replace them in {path} before deploying")
    return found
