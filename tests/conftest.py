"""Shared fixtures. Cached per test session: the shipped stacks' configs, their offline runs
(`planned`) and what their clusters receive with every chart rendered (`viewed`). Per test: a copy
of the project, the stand-in Pulumi CLI, a chart repository and moto on loopback.

Plain constants and helpers (paths, the shipped stacks, free ports) are in tests/support/.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from mlops_platform.components import versions
from mlops_platform.components.config import PlatformConfig, read_stack_values
from mlops_platform.planner.cluster_model import ClusterView
from mlops_platform.planner.cluster_objects import assemble
from mlops_platform.planner.harness import ProgramRun, plan_platform
from support import AWS_BUCKET, AWS_INSTANCE, CHARTS, OWN_MODEL, ROOT, SCHEMAS, SHIPPED_STACKS, STACKS, WITH_MODEL
from support import engine as standin
from support.gcp_world import gcp, restored_instance  # noqa: F401 - fixtures, visible to every test
from support.servers import free_port, missing, serving

# The fixtures that start a real service on loopback: a test using one (directly or through another
# fixture) is in the `services` layer (pyproject.toml's markers).
SERVICE_FIXTURES = frozenset({"moto_endpoint", "mlflow_server", "mlflow_with_runs", "chart_repository", "oci_registry", "registry", "oidc_issuer",
                              "mlflow_oidc", "postgres", "tls_postgres", "azure_postgres"})

# Fixtures shared by some modules only, kept beside their helpers.
pytest_plugins = ["support.azure_stack", "support.local_stack"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


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


def _load_stack(stack: str) -> PlatformConfig:
    """A shipped stack's configuration; `<prod stack>+model`: that stack serving support.OWN_MODEL."""
    if stack.endswith(WITH_MODEL):
        base = stack[: -len(WITH_MODEL)]
        values = read_stack_values(STACKS / f"Pulumi.{base}.yaml")
        return PlatformConfig.from_values({**values, "models": [OWN_MODEL]}, f"{base} (serving {OWN_MODEL['storageUri']})", base)
    return PlatformConfig.from_stack_file(STACKS / f"Pulumi.{stack}.yaml", stack)


@pytest.fixture(scope="session")
def stack_config() -> Callable[[str], PlatformConfig]:
    """stack_config("aws-dev"): a shipped stack's configuration, parsed from its file."""
    return _load_stack


@pytest.fixture(scope="session")
def charts_dir() -> Path:
    """The pinned chart archives, or a skip naming why; in CI (PLATFORM_REQUIRE_CHARTS=1) a failure."""
    absent = [c.archive for c in versions.CHARTS if not (CHARTS / c.archive).is_file()]
    if absent:
        missing(f"charts not found in {CHARTS}: {', '.join(absent)} (set PLATFORM_CHARTS_DIR)", "PLATFORM_REQUIRE_CHARTS")
    return CHARTS


@functools.lru_cache(maxsize=None)
def _planned(stack: str) -> ProgramRun:
    return plan_platform(_load_stack(stack))


@pytest.fixture(scope="session")
def planned() -> Callable[[str], ProgramRun]:
    """planned("aws-dev"): the offline run of a shipped stack, computed once per session."""
    return _planned


@pytest.fixture(scope="session")
def viewed(charts_dir) -> Callable[[str], ClusterView]:
    """viewed("aws-dev"): what a shipped stack's cluster receives, every chart rendered (once)."""

    @functools.lru_cache(maxsize=None)
    def view(stack: str) -> ClusterView:
        return assemble(_planned(stack), _load_stack(stack).cluster.kubernetes_version, charts_dir)

    return view


@pytest.fixture(scope="session")
def releases(planned, viewed) -> Callable[[str], Iterator[tuple[Any, Any]]]:
    """releases(stack): (release record, its render) for every release of a shipped stack."""

    def pairs(stack: str) -> Iterator[tuple[Any, Any]]:
        by_urn = {r.urn: r for r in viewed(stack).releases}
        for record in planned(stack).helm_releases():
            yield record, by_urn[record.urn]

    return pairs


@pytest.fixture(scope="session")
def local_view(viewed) -> ClusterView:
    return viewed("local-dev")


@pytest.fixture(scope="session")
def local_run(planned) -> ProgramRun:
    return planned("local-dev")


@pytest.fixture(scope="session")
def local_config(stack_config) -> PlatformConfig:
    return stack_config("local-dev")


@pytest.fixture()
def standin_engine(tmp_path, monkeypatch) -> Callable[..., standin.Fake]:
    """standin_engine(state=False): the stand-in `pulumi` first on PATH (tests/support/engine.py);
    with `state`, the local backend and passphrase of a stack that `up` has deployed."""
    return functools.partial(standin.install, tmp_path, monkeypatch)


@pytest.fixture()
def state(tmp_path, monkeypatch) -> Path:
    """A private XDG state folder (the local backend and passphrases go under it), and no backend
    or passphrase from the environment."""
    home = tmp_path / "xdg-state"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    for name in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture()
def fake(standin_engine) -> standin.Fake:
    """The stand-in `pulumi` on PATH, with no state set up."""
    return standin_engine()


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
def registry(tmp_path) -> Iterator[str]:
    """A real OCI registry on loopback, empty (distribution, Debian's docker-registry; .ci/run
    installs it): its `host:port`."""
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        missing("no OCI registry on PATH: install Debian's docker-registry (.ci/run does)", "PLATFORM_REQUIRE_OCI_REGISTRY")
    port = free_port()
    config = tmp_path / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {tmp_path / 'blobs'}\n"
                      f"http:\n  addr: 127.0.0.1:{port}\n")
    with serving([binary, "serve", str(config)], f"http://127.0.0.1:{port}/v2/", tmp_path / "registry.log", "the registry",
                 timeout=30, stop_within=10):
        yield f"127.0.0.1:{port}"


@pytest.fixture()
def oci_registry(registry, charts_dir) -> str:
    """The loopback registry holding the pinned archives, pushed with Helm's own SDK: as an internal
    mirror would."""
    import helm_python as helm

    from mlops_platform.planner import charts

    mirror = f"oci://{registry}/mlops-charts"
    for chart in versions.CHARTS:
        helm.push(charts.archive_path(chart, charts_dir), mirror, plain_http=True)
    return mirror


@pytest.fixture()
def chart_cache(tmp_path, charts_dir) -> Path:
    """A chart cache of this test's own: a copy of every pinned archive, to break one of them."""
    folder = tmp_path / "charts"
    folder.mkdir()
    for chart in versions.CHARTS:
        shutil.copy(charts_dir / chart.archive, folder)
    return folder


@pytest.fixture()
def chart_repository(tmp_path, charts_dir):
    """An HTTP chart repository on loopback: an index.yaml over copies of the pinned archives."""
    import helm_python as helm

    folder = tmp_path / "repo"
    folder.mkdir()
    for chart in versions.CHARTS:
        shutil.copy(charts_dir / chart.archive, folder)

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


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL on loopback for this worker's session (tests/support/postgres.py), or a skip
    naming why; in CI (PLATFORM_REQUIRE_POSTGRES=1) a failure. Each test creates its own database."""
    from support.postgres import require_postgres_bin, start_postgres

    require_postgres_bin()
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def previous_mlflow_python() -> Path:
    """The Python of a venv with the previous shipped MLflow release (tests/mlflow_previous/), or a
    skip naming why; in CI (PLATFORM_REQUIRE_MLFLOW_PREVIOUS=1) a failure."""
    given = os.environ.get("PLATFORM_MLFLOW_PREVIOUS_PYTHON", "")
    if not given or not Path(given).is_file():
        missing(f"the previous MLflow's venv is not set up (PLATFORM_MLFLOW_PREVIOUS_PYTHON={given!r}; see .ci/run)",
                "PLATFORM_REQUIRE_MLFLOW_PREVIOUS")
    return Path(given)


@pytest.fixture(scope="session")
def mlflow_with_runs(tmp_path_factory) -> Iterator[str]:
    """A real `mlflow server` on loopback holding 2 experiments (with Default), 3 runs and one registered
    model version: what a backup counts. Its URL."""
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--default-artifact-root", str(root / "a"), "--workers", "1"]
    with serving(command, f"{url}/health", root / "server.log", "mlflow server", timeout=120, cwd=root):
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=url, registry_uri=url)
        experiment = client.create_experiment("team")
        runs = [client.create_run(experiment).info.run_id for _ in range(3)]
        client.create_registered_model("m")
        client.create_model_version("m", "s3://x/m", runs[0])
        yield url


@pytest.fixture()
def aws_stack(moto_endpoint, project, standin_engine, mlflow_with_runs, monkeypatch) -> dict[str, Any]:
    """A deployed AWS dev stack: its bucket (versioned, three artifacts) and RDS instance in moto, its
    outputs (with MLflow at mlflow_with_runs) in the stand-in engine. {"s3", "rds", "fake"}"""
    import boto3

    s3 = boto3.client("s3")
    rds = boto3.client("rds")
    s3.create_bucket(Bucket=AWS_BUCKET)
    s3.put_bucket_versioning(Bucket=AWS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    for n in range(3):
        s3.put_object(Bucket=AWS_BUCKET, Key=f"mlflow/1/run{n}/artifacts/model.bin", Body=f"model {n}".encode())
    rds.create_db_instance(DBInstanceIdentifier=AWS_INSTANCE, Engine="postgres", DBInstanceClass="db.t4g.micro", AllocatedStorage=20,
                           MasterUsername="mlflow", MasterUserPassword="not-used-here-1", EnableIAMDatabaseAuthentication=True)
    fake = standin_engine(state=True)
    fake.stacks({"aws-dev": {"outputs": {"endpoints": {"mlflow": mlflow_with_runs},
                                     "data": {"store": "s3", "bucket": AWS_BUCKET, "region": "us-east-1",
                                              "database": {"instance": AWS_INSTANCE, "host": "h", "port": 5432, "name": "mlflow",
                                                           "iam_login": "mlops-dev-mlflow"}}},
                         "secrets": [], "resources": []}})
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "unused-by-this-server")
    return {"s3": s3, "rds": rds, "fake": fake}


@pytest.fixture()
def replay() -> Iterator[Any]:
    """replay(routes): a loopback server answering with responses written from a REST reference
    (tests/support/replay.py); stopped after the test."""
    from support.replay import Replay

    servers: list[Replay] = []

    def start(routes: dict[tuple[str, str], Any]) -> Replay:
        servers.append(Replay(routes))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
