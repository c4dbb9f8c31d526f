"""Where the Pulumi project lives, and how a (cloud, env) pair becomes a stack and its config."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .errors import fail

if TYPE_CHECKING:
    from mlops_platform.components.config import PlatformConfig


CLOUDS = ("local", "aws", "azure", "gcp")
PROJECT_NAME = "mlops-platform"
_ENV = re.compile(r"^[a-z][a-z0-9]{0,15}$")


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
    if not _ENV.match(env):
        fail(f"invalid --env '{env}'", "lower-case letters and digits, starting with a letter, e.g. dev or prod")
    return env


def stack_name(cloud: Optional[str], env: str) -> str:
    return f"{check_cloud(cloud)}-{check_env(env)}"


def stack_flags(cloud: str, env: str) -> str:
    """The flags that select a stack, as a hint spells them (`--env dev` is the default, left out)."""
    return f"--cloud {cloud}" + (f" --env {env}" if env != "dev" else "")


def stack_file(project: Path, stack: str) -> Path:
    return project / "stacks" / f"Pulumi.{stack}.yaml"


def shipped_stacks(project: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in (project / "stacks").glob("Pulumi.*.yaml"))


def load_config(cloud: Optional[str], env: str) -> PlatformConfig:
    """Validate the stack file for (cloud, env); any problem exits 2 before anything else runs."""
    from mlops_platform.components.config import ConfigError, PlatformConfig

    stack = stack_name(cloud, env)
    project = project_dir()
    path = stack_file(project, stack)
    if not path.is_file():
        known = ", ".join(shipped_stacks(project)) or "none"
        fail(f"no stack file {display_path(path)} for stack {stack}", f"stack files here: {known}")
    try:
        config = PlatformConfig.from_stack_file(display_path(path), stack)
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
