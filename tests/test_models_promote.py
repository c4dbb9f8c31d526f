"""The model loop against a real MLflow: `mlflow server` on loopback (SQLite, a local artifacts
destination, --serve-artifacts, and the oidc-auth app signing in at a real OpenID Connect issuer on
loopback, as the platform deploys it; the user's access token is the bearer token, MLFLOW_TRACKING_TOKEN). The iris example trains and registers against it; `platform models promote`
reads it through the stack's outputs (the engine stand-in hands them out) and rewrites the stack
file; the plan of the result is then checked for what it must deploy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.cli.registry import RegistryError, store_uri
from support import ROOT
from support.oidc import mlflow_environment, start_issuer, stop_issuer, token_for
from support.servers import free_port, http, wait_until_serving

LOCAL_STORE = "s3://mlops-artifacts/mlflow"


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("mlflow")
    issuer = start_issuer({"alice": {"email": "alice@example.org", "groups": ["mlops-users"]},
                           "mallory": {"email": "mallory@example.org", "groups": ["contractors"]}})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = mlflow_environment(issuer, url, root, {})
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--artifacts-destination", (root / "artifacts").as_uri(),
         "--serve-artifacts", "--app-name", "oidc-auth", "--workers", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=(root / "server.log").open("w"), cwd=root,
    )
    token = token_for(issuer, "alice", "mlops-platform", f"{url}/callback")["access_token"]
    outsider = token_for(issuer, "mallory", "mlops-platform", f"{url}/callback")["access_token"]
    client_env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_TOKEN": token}
    clients: list[subprocess.Popen[str]] = []
    try:
        wait_until_serving(f"{url}/health", process, root / "server.log", "mlflow server", timeout=120)
        # The user's first call provisions her in the plugin's user table; two first calls at once
        # race for that row, so one comes before the clients.
        assert http.get(f"{url}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                         headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # The example, as a user runs it: train, log, register, alias; beside it, a version that is no model.
        clients = [subprocess.Popen([sys.executable, *command], env=client_env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
                   for command in (
                       [str(ROOT / "examples" / "iris" / "train.py")],
                       ["-c", f"ODD = {ODD_MLMODELS!r}\n" + _NON_MODEL],
                   )]
        (trained, trained_err), (noted, noted_err) = (client.communicate(timeout=300) for client in clients)
        assert clients[0].returncode == 0, trained_err[-3000:]
        assert clients[1].returncode == 0, noted_err[-2000:]
        yield {"url": url, "token": token, "outsider": outsider, "trained": trained}
    finally:
        for client in clients:
            client.kill()
        process.terminate()
        process.wait(timeout=30)
        stop_issuer(issuer)


# A registered version whose artifacts are no MLflow model (no MLmodel file), and versions whose
# MLmodel files are odd or hostile: what a registry shared with other tools can hold.
ODD_MLMODELS = {
    "odd-flavors": "flavors:\n  onnx_custom: {}\n  keras_only: {}\n",
    "mlmodel-list": "- flavors\n- python_function\n",
    "mlmodel-broken": "flavors: [unclosed\n",
    "mlmodel-python": "flavors: !!python/object/apply:os.system ['echo pwned']\n",
    "mlmodel-flavors-list": "flavors: [python_function]\n",
}
_NON_MODEL = (
    "import mlflow\nfrom mlflow.tracking import MlflowClient\n"
    "mlflow.set_experiment('notes')\n"
    "client = MlflowClient()\n"
    "with mlflow.start_run() as run:\n    mlflow.log_text('not a model', 'notes/readme.txt')\n"
    "    for name, text in ODD.items():\n        mlflow.log_text(text, f'{name}/MLmodel')\n"
    "client.create_registered_model('notes')\n"
    "client.create_model_version('notes', f'{run.info.artifact_uri}/notes', run.info.run_id)\n"
    "for name in ODD:\n    client.create_registered_model(name)\n"
    "    client.create_model_version(name, f'{run.info.artifact_uri}/{name}', run.info.run_id)\n"
)


@pytest.fixture()
def stack(project, mlflow_server, monkeypatch, tmp_path, standin_engine) -> Any:
    """The local stack, deployed as far as the engine stand-in says: its outputs name the MLflow."""

    fake = standin_engine(state=True)
    fake.stacks({"local-dev": {
        "outputs": {"endpoints": {"mlflow": mlflow_server["url"]}, "modelStore": LOCAL_STORE,
                    "credentials": {"sign_in_password": "x"}},
        "secrets": ["credentials"], "resources": []}})
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", mlflow_server["token"])
    return fake


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_promote_by_alias_rewrites_the_stack_file_and_previews(stack, project, mlflow_server):
    stack.events("preview", "preview-same")
    path = project / "stacks" / "Pulumi.local-dev.yaml"
    before = path.read_text()
    result = invoke("models", "promote", "iris", "--alias", "champion")
    assert result.exit_code == 0, result.stderr
    after = path.read_text()
    assert "version 1 as @champion" in mlflow_server["trained"]
    from mlops_platform.components.config import PlatformConfig

    config = PlatformConfig.from_stack_file(path, "local-dev")
    (iris,) = [m for m in config.models if m.name == "iris"]
    assert iris.format == "mlflow" and iris.registry.model_dump() == {"name": "iris", "version": 1, "alias": "champion"}
    # mlflow-artifacts:/<experiment>/models/<model id>/artifacts, under the store MLflow writes to
    assert iris.storage_uri.startswith(f"{LOCAL_STORE}/") and iris.storage_uri.endswith("/artifacts")
    assert "/models/m-" in iris.storage_uri
    assert iris.reference_data == "sklearn:iris" and iris.drift.batch_size == 20, "the entry's other keys are kept"
    comments = [line for line in before.splitlines() if line.lstrip().startswith("#") or " # " in line]
    assert all(line in after for line in comments), "the file's comments are kept"
    assert f"+      storageUri: {iris.storage_uri}" in result.stdout and "-      format: sklearn" in result.stdout
    assert "preview" in [c["args"][0] for c in stack.calls()], "the promotion is previewed"
    again = invoke("models", "promote", "iris", "--version", "1", "--no-preview")
    assert again.exit_code == 0 and "alias" not in path.read_text().split("registry:")[1].split("\n  platform:")[0]


def test_the_promoted_stack_plans_an_mlflow_model_with_its_detectors_and_dashboards(stack, project, schemas_dir, charts_dir):
    assert invoke("models", "promote", "iris", "--alias", "champion", "--no-preview").exit_code == 0
    plan = invoke("plan", "--cloud", "local", "--json")
    assert plan.exit_code == 0, plan.stderr
    document = json.loads(plan.stdout)
    resources = {(r["type"], r["name"]): r for r in document["resources"]}
    isvc = resources[("kubernetes:serving.kserve.io/v1beta1:InferenceService", "mlops-models-iris")]["inputs"]
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": "mlflow"} and model["protocolVersion"] == "v2"
    assert isvc["metadata"]["annotations"]["mlops.dev/registry-version"] == "1"
    drift = resources[("kubernetes:apps/v1:Deployment", "mlops-detectors-iris-drift")]["inputs"]
    assert "--protocol=kfserving.http" in drift["spec"]["template"]["spec"]["containers"][0]["args"], "v2 payloads"
    assert ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "mlops-detectors-iris-rules") in resources
    assert {"mlops-monitoring-mlops-dashboard-models", "mlops-monitoring-mlops-dashboard-drift"} <= {n for _, n in resources}
    monitor = resources[("kubernetes:monitoring.coreos.com/v1:PodMonitor", "mlops-models-iris-monitor")]["inputs"]
    assert monitor["spec"]["podMetricsEndpoints"][0]["relabelings"][0]["replacement"] == "$1:8082", "MLServer's metrics port"
    assert document["policies"]["violations"] == []
    import jsonschema

    schema = json.loads((schemas_dir / "crds" / "serving.kserve.io" / "inferenceservice_v1beta1.json").read_text())
    jsonschema.validate(isvc, schema)


@pytest.mark.parametrize("args, fragment", [
    (("iris", "--version", "9"), "model 'iris' has no version 9 (versions: 1)"),
    (("iris", "--alias", "prod"), "model 'iris' has no alias 'prod' (aliases: champion)"),
    (("wine", "--version", "1"), "no registered model 'wine' in MLflow at http://127.0.0.1:"),
    (("notes", "--version", "1"), "model 'notes' version 1 cannot be served: its flavors are no MLmodel file"),
    (("odd-flavors", "--version", "1"), "model 'odd-flavors' version 1 cannot be served: its flavors are keras_only, onnx_custom"),
    (("mlmodel-list", "--version", "1"), "model 'mlmodel-list' version 1: its MLmodel file is not the mapping MLflow writes"),
    (("mlmodel-flavors-list", "--version", "1"), "model 'mlmodel-flavors-list' version 1: its MLmodel file is not the mapping"),
    (("mlmodel-broken", "--version", "1"), "model 'mlmodel-broken' version 1: its MLmodel file is not valid YAML"),
    (("mlmodel-python", "--version", "1"), "model 'mlmodel-python' version 1: its MLmodel file is not valid YAML"),
    (("iris",), "give exactly one of --version and --alias"),
    (("iris", "--version", "1", "--alias", "champion"), "give exactly one of --version and --alias"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(stack, project, args, fragment):
    path = project / "stacks" / "Pulumi.local-dev.yaml"
    before = path.read_text()
    result = invoke("models", "promote", *args, "--no-preview")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert fragment in line
    assert path.read_text() == before and result.stdout == ""


def test_a_version_that_is_not_a_number_is_one_line_exit_2(stack, project, monkeypatch):
    """A registry (or something answering in its place) that calls a version "latest"."""
    from mlflow.tracking import MlflowClient

    real = MlflowClient.get_model_version_by_alias

    def odd(self, name, alias):
        found = real(self, name, alias)
        found._version = "latest"
        return found

    monkeypatch.setattr(MlflowClient, "get_model_version_by_alias", odd)
    result = invoke("models", "promote", "iris", "--alias", "champion", "--no-preview")
    assert result.exit_code == 2, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "model 'iris': the registry answered version 'latest', not a number" in line


def _closed_port_showing(digits: str) -> int:
    """A loopback port nothing listens on whose number shows `digits` (a status code, say)."""
    import socket

    for port in range(int(digits) * 100, int(digits) * 100 + 100):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port {digits}xx on loopback")


@pytest.mark.parametrize("digits", ["401", "403"])
def test_an_unreachable_mlflow_is_one_line_exit_2(stack, project, digits):
    """Unreachable, whatever the port: 127.0.0.1:40171 once read as a 401 in CI."""
    closed = _closed_port_showing(digits)
    stack.stacks({"local-dev": {"outputs": {"endpoints": {"mlflow": f"http://127.0.0.1:{closed}"}, "modelStore": LOCAL_STORE,
                                            "credentials": {}}, "secrets": ["credentials"], "resources": []}})
    started = time.monotonic()
    result = invoke("models", "promote", "iris", "--alias", "champion", "--no-preview")
    assert result.exit_code == 2 and time.monotonic() - started < 30
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert f"MLflow is unreachable at http://127.0.0.1:{closed}" in line


@pytest.mark.parametrize("status,words", [(401, "refused the sign-in"), (403, "refused the token's user"), (502, "MLflow is unreachable")])
def test_a_proxys_plain_answer_is_read_by_its_status(status, words):
    """A proxy in front of MLflow (oauth2-proxy, Traefik) answers in plain text; MLflow's own client
    turns that into the exception the CLI explains."""
    import requests
    from mlflow.exceptions import MlflowException
    from mlflow.utils.rest_utils import verify_rest_response

    from mlops_platform.cli.registry import _explain

    response = requests.Response()
    response.status_code, response._content = status, b"<html>no</html>"
    with pytest.raises(MlflowException) as raised:
        verify_rest_response(response, "/api/2.0/mlflow/registered-models/alias")
    line = _explain(raised.value, "http://127.0.0.1:40171")
    assert words in line and ("refused" in line) == (status != 502)


def test_without_a_token_or_with_an_outsiders_the_registry_refuses(stack, project, mlflow_server, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    result = invoke("models", "list")
    assert result.exit_code == 2
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "MLFLOW_TRACKING_TOKEN" in line and "platform token" in result.stderr
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", mlflow_server["outsider"])
    before = (project / "stacks" / "Pulumi.local-dev.yaml").read_text()
    result = invoke("models", "promote", "iris", "--alias", "champion", "--no-preview")
    assert result.exit_code == 2 and "error:" in result.stderr and "Traceback" not in result.stderr
    assert (project / "stacks" / "Pulumi.local-dev.yaml").read_text() == before


def test_list_shows_the_stack_beside_the_registry(stack, mlflow_server):
    result = invoke("models", "list", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    registered = {r["name"]: r for r in document["registered"]}
    assert registered["iris"] == {"name": "iris", "versions": [1], "aliases": {"champion": 1}}
    assert set(registered) == {"iris", "notes", *ODD_MLMODELS}
    assert [m["name"] for m in document["configured"]] == ["iris"]


@pytest.mark.parametrize("store", ["s3://mlops-dev-artifacts-a1b2/mlflow", "gs://mlops-dev-artifacts-a1b2/mlflow",
                                   "https://mlopsdevx1.blob.core.windows.net/artifacts/mlflow", LOCAL_STORE])
def test_mlflow_artifacts_map_onto_each_clouds_store(store):
    path = "1/models/m-0a1b/artifacts"
    assert store_uri(f"mlflow-artifacts:/{path}", store) == f"{store}/{path}"
    assert store_uri(f"mlflow-artifacts://mlflow.example:5000/{path}", store + "/") == f"{store}/{path}"
    assert store_uri("gs://elsewhere/model", store) == "gs://elsewhere/model", "a readable URI stays"
    with pytest.raises(RegistryError, match="KServe cannot read"):
        store_uri("file:///tmp/model", store)


def test_promote_without_the_extra_names_it(project, monkeypatch):
    from mlops_platform.components import cloud_sdks

    real = cloud_sdks.found
    monkeypatch.setattr(cloud_sdks, "found", lambda name: False if name == "mlflow" else real(name))
    result = invoke("models", "promote", "iris", "--alias", "champion")
    assert result.exit_code == 2 and "pip install 'mlops-platform[models]'" in result.stderr


def test_gpu_batcher_and_explainer_validate_and_pass_the_policies(schemas_dir, charts_dir):
    """An InferenceService with all three, in a prod stack (mandatory policies)."""
    import jsonschema

    from mlops_platform.components.config import PlatformConfig, read_stack_values
    from mlops_platform.planner.plan import build_plan
    from support import OWN_MODEL, STACKS

    values = read_stack_values(STACKS / "Pulumi.aws-prod.yaml")
    values["cluster"] = {**values["cluster"], "gpu": {"enabled": True}}
    values["models"] = [{**OWN_MODEL, "resources": {"cpu": "500m", "memory": "1Gi", "memoryLimit": "2Gi", "gpu": 1},
                         "batcher": {"maxBatchSize": 16, "maxLatency": 200}, "explainer": {"type": "art"}}]
    plan = build_plan(PlatformConfig.from_values(values, "aws-prod (gpu)", "aws-prod"), charts_dir)
    (isvc,) = [r.inputs for r in plan.run.of_type("kubernetes:serving.kserve.io/v1beta1:InferenceService")]
    schema = json.loads((schemas_dir / "crds" / "serving.kserve.io" / "inferenceservice_v1beta1.json").read_text())
    jsonschema.validate(isvc, schema)
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert predictor["nodeSelector"] == {"mlops.dev/pool": "gpu"}
    assert predictor["tolerations"][0]["key"] == "nvidia.com/gpu" and predictor["batcher"] == {"maxBatchSize": 16, "maxLatency": 200}
    assert isvc["spec"]["explainer"]["art"]["type"] == "SquareAttack"
    assert plan.mandatory_violations() == [] and plan.violations == []
    explainer = [o for o in plan.view.runtime if o.name.endswith("-explainer")]
    assert len(explainer) == 1, "the explainer's pod is modelled: footprint and Pod Security see it"


@pytest.mark.parametrize("stack_name, edit, fragment", [
    ("local-dev", {"resources": {"gpu": 1}}, "models[0].resources.gpu: kind has no GPUs"),
    ("aws-dev", {"resources": {"gpu": 1}}, "models[0].resources.gpu: needs the GPU pool: set cluster.gpu.enabled: true"),
    ("aws-dev", {"explainer": {"type": "alibi"}}, "models[0].explainer.type"),
    ("aws-dev", {"batcher": {"maxBatchSize": 0}}, "models[0].batcher.maxBatchSize: must be at least 1"),
])
def test_serving_options_are_validated(stack_name, edit, fragment):
    from mlops_platform.components.config import ConfigError, PlatformConfig, read_stack_values
    from support import STACKS

    values = read_stack_values(STACKS / f"Pulumi.{stack_name}.yaml")
    values["models"] = [{**values["models"][0], **edit}]
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        PlatformConfig.from_values(values, stack_name, stack_name)
