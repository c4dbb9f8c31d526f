"""Shared fixtures: one offline run per shipped stack, reused by the tests that read it."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from mlops_platform.components import versions
from mlops_platform.components.config import PlatformConfig
from mlops_platform.planner.cluster_model import ClusterView
from mlops_platform.planner.cluster_objects import assemble
from mlops_platform.planner.harness import ProgramRun, plan_platform

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
SCHEMAS = Path(os.environ.get("PLATFORM_SCHEMAS_DIR", ROOT.parent / "shared" / "schemas"))
# The pinned chart archives (test data beside the checkout; see ../shared/charts/SOURCES.md).
CHARTS = Path(os.environ.get("PLATFORM_CHARTS_DIR", ROOT.parent / "shared" / "charts"))

_runs: dict[str, ProgramRun] = {}


@pytest.fixture(autouse=True, scope="session")
def _private_user_folders(tmp_path_factory) -> None:
    """No test reads or writes the user's own caches, state or config: each worker's session gets
    its own XDG folders (and HOME, for anything that falls back to it)."""
    base = tmp_path_factory.mktemp("user")
    saved = {k: os.environ.get(k) for k in ("HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME")}
    for key in saved:
        folder = base / key.lower()
        folder.mkdir()
        os.environ[key] = str(folder)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
_views: dict[str, ClusterView] = {}


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (now): for a server a test starts."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(url: str, process: "subprocess.Popen[bytes]", log: Path, what: str, timeout: float) -> None:
    """Poll `url` until it answers; fail with the end of `log` if `process` exits or time runs out."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)


def stack_config(stack: str) -> PlatformConfig:
    return PlatformConfig.from_stack_file(STACKS / f"Pulumi.{stack}.yaml", stack)


# The stack files the project ships. Named here, not globbed: a user's own stack file in stacks/
# must not change (or break) the test suite.
SHIPPED_STACKS = ("aws-dev", "aws-prod", "azure-dev", "azure-prod", "gcp-dev", "gcp-prod", "local-dev")


def shipped_stacks() -> list[str]:
    return list(SHIPPED_STACKS)


def plan_of(config: PlatformConfig) -> ProgramRun:
    """The mock run of any (e.g. edited) configuration."""
    return plan_platform(config)


def planned(stack: str) -> ProgramRun:
    """The mock run of a shipped stack (computed once per test session)."""
    if stack not in _runs:
        _runs[stack] = plan_of(stack_config(stack))
    return _runs[stack]


def require_charts() -> Path:
    """The chart folder, or a skip naming why; in CI (PLATFORM_REQUIRE_CHARTS=1) a failure."""
    missing = [c.archive for c in versions.CHARTS if not (CHARTS / c.archive).is_file()]
    if missing:
        message = f"charts not found in {CHARTS}: {', '.join(missing)} (set PLATFORM_CHARTS_DIR)"
        if os.environ.get("PLATFORM_REQUIRE_CHARTS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return CHARTS


def viewed(stack: str) -> ClusterView:
    """What the cluster of a shipped stack receives, every chart rendered (computed once)."""
    charts = require_charts()
    if stack not in _views:
        config = stack_config(stack)
        _views[stack] = assemble(planned(stack), config.cluster.kubernetes_version, charts)
    return _views[stack]


@pytest.fixture(scope="session")
def local_view() -> ClusterView:
    return viewed("local-dev")


@pytest.fixture(scope="session")
def local_run() -> ProgramRun:
    return planned("local-dev")


@pytest.fixture(scope="session")
def local_config() -> PlatformConfig:
    return stack_config("local-dev")


@pytest.fixture()
def project(tmp_path, monkeypatch) -> Path:
    """A copy of the Pulumi project (Pulumi.yaml, stacks/, policies/) as the CLI's working project."""
    root = tmp_path / "project"
    (root / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copytree(ROOT / "policies", root / "policies", ignore=shutil.ignore_patterns("__pycache__"))
    for stack in SHIPPED_STACKS:
        shutil.copy(STACKS / f"Pulumi.{stack}.yaml", root / "stacks" / f"Pulumi.{stack}.yaml")
    monkeypatch.setenv("PLATFORM_PROJECT_DIR", str(root))
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def schemas_dir() -> Path:
    if not (SCHEMAS / "validate.py").is_file():
        pytest.skip(f"upstream schema library not found at {SCHEMAS} (set PLATFORM_SCHEMAS_DIR)")
    return SCHEMAS


@pytest.fixture()
def chart_repository(tmp_path):
    """An HTTP chart repository on loopback: an index.yaml over copies of the pinned archives."""
    import helm_python as helm

    folder = tmp_path / "repo"
    folder.mkdir()
    for chart in versions.CHARTS:
        shutil.copy(require_charts() / chart.archive, folder)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    url = f"http://127.0.0.1:{server.server_address[1]}"
    helm.repo_index_generate(folder, base_url=url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url, folder
    server.shutdown()
    server.server_close()


@pytest.fixture()
def moto_endpoint(monkeypatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # The server keeps its accounts in this process: start each test from an empty one.
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield endpoint
    finally:
        server.stop()
