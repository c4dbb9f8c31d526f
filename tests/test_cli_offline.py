"""`platform plan` and `platform render` through typer's CliRunner."""

from __future__ import annotations

import gc
import json

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.planner import chart_render, harness
from mlops_platform.planner.cluster_objects import assemble


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()




def invoke(runner: CliRunner, *args: str):
    return runner.invoke(app, list(args))


def test_plan_json_lists_the_whole_local_stack(runner, project):
    result = invoke(runner, "plan", "--cloud", "local", "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["stack"] == "local-dev" and plan["cloud"] == "local"
    resources = plan["resources"]
    for resource in resources:
        assert set(resource) >= {"urn", "type", "name", "parent", "provider", "custom", "inputs", "dependencies"}
    charts = {r["inputs"]["chart"] for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release"}
    assert {"./.charts/traefik-41.3.0.tgz", "./.charts/mlflow-1.11.5.tgz", "./.charts/kserve-resources-v0.20.0.tgz"} <= charts
    kind = [r for r in resources if r["type"] == "command:local:Command" and "kind create cluster" in r["inputs"]["create"]]
    assert len(kind) == 1
    deployments = {r["inputs"]["metadata"]["name"] for r in resources if r["type"] == "kubernetes:apps/v1:Deployment"}
    assert {"iris-drift", "iris-outlier"} <= deployments
    isvc = [r for r in resources if r["type"] == "kubernetes:serving.kserve.io/v1beta1:InferenceService"]
    assert len(isvc) == 1 and isvc[0]["inputs"]["spec"]["predictor"]["logger"]["mode"] == "request"
    # The provider reference counts as a dependency, for ordering.
    secret = next(r for r in resources if r["type"] == "kubernetes:core/v1:Secret")
    assert "pulumi:providers:kubernetes" in secret["provider"]
    assert secret["provider"].rsplit("::", 1)[0] in secret["dependencies"]
    requests = plan["summary"]["requests"]
    assert requests["cpuCores"] <= 2 and requests["memoryGiB"] <= 4
    assert "Planning stack local-dev" in result.stderr


def test_plan_json_never_contains_a_secret_value(runner, project):
    result = invoke(runner, "plan", "--cloud", "local", "--json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    kubeconfig = next(r for r in plan["resources"] if r["type"] == "pulumi:providers:kubernetes")["inputs"]["kubeconfig"]
    assert kubeconfig == "[secret]"
    assert "client-key-data" not in result.stdout and "mock" + "0" not in result.stdout


def test_plan_table_shows_tree_and_totals(runner, project):
    result = invoke(runner, "plan", "--cloud", "local")
    assert result.exit_code == 0, result.stderr
    assert "mlops:platform:MlopsPlatform" in result.stdout
    assert "kube-prometheus-stack@88.5.3" in result.stdout
    assert "total" in result.stdout and "CPU" in result.stdout


def test_plan_out_writes_the_json(runner, project, tmp_path):
    (tmp_path / "plans").mkdir()
    target = tmp_path / "plans" / "local.json"
    result = invoke(runner, "plan", "--cloud", "local", "--out", str(target))
    assert result.exit_code == 0
    assert json.loads(target.read_text())["stack"] == "local-dev"
    assert [p.name for p in target.parent.iterdir()] == ["local.json"], "written in place, no temporary file left"


def test_render_writes_manifests_and_helm_files(runner, project, tmp_path):
    out = tmp_path / "rendered"
    result = invoke(runner, "render", "--cloud", "local", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert (out / "manifests" / "models" / "inferenceservice-iris.yaml").is_file()
    assert (out / "manifests" / "_cluster" / "namespace-detectors.yaml").is_file()
    chart = (out / "helm" / "traefik" / "chart.yaml").read_text()
    assert "version: 41.3.0" in chart and "repo: https://traefik.github.io/charts" in chart
    assert "archive: ./.charts/traefik-41.3.0.tgz" in chart and "sha256: " in chart
    assert (out / "helm" / "kube-prometheus-stack" / "values.yaml").is_file()
    written = "".join(p.read_text() for p in out.rglob("*.yaml"))
    assert "[secret]" in written and "client-key-data" not in written


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("plan", "--cloud", "mars"), "'mars' is not one of 'local', 'aws', 'azure', 'gcp'"),
        (("plan",), "Missing option '--cloud' / '-c'. Choose from: local, aws, azure, gcp"),
        (("plan", "--cloud", "local", "--env", "Prod!"), "invalid --env"),
        (("plan", "--cloud", "local", "--bogus"), "No such option: --bogus"),
        (("render", "--cloud", "local"), "missing option --out"),
    ],
)
def test_bad_usage_is_one_line_exit_2(runner, project, args, fragment, tmp_path):
    result = invoke(runner, *args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], result.stderr


@pytest.mark.parametrize(
    "edit, fragment",
    [
        (lambda s: s.replace("nodeCount: 1", "nodeCount: 0"),
         "platform:cluster.nodeCount: must be at least 1 (got 0)"),
        (lambda s: s.replace("platform:cloud: local", "platform:cloud: mars"), "platform:cloud: must be one of"),
        (lambda s: s.replace("nodeCount: 1", "nodeCount: one"), "platform:cluster.nodeCount: must be an integer (got 'one')"),
        (lambda s: s.replace("      storageUri: gs://kfserving-examples/models/sklearn/1.0/model\n", ""),
         "platform:models[0].storageUri: is required"),
        (lambda s: s + "  platform:domian: example.com\n", "platform:domian: unknown key (did you mean 'domain'?)"),
        (lambda s: s.replace("platform:env: dev", "platform:env: dev\n  platform:domain: not_a_domain"),
         "platform:domain: 'not_a_domain' is not a valid DNS domain"),
    ],
)
@pytest.mark.parametrize("command", ["plan", "render"])
def test_invalid_stack_file_exits_2_and_writes_nothing(runner, project, tmp_path, edit, fragment, command):
    stack = project / "stacks" / "Pulumi.local-dev.yaml"
    stack.write_text(edit(stack.read_text()))
    out = tmp_path / "out"
    args = [command, "--cloud", "local", "--out", str(out)]
    result = invoke(runner, *args)
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("error: stacks/Pulumi.local-dev.yaml: ") and fragment in line, line
    assert not out.exists(), "nothing is written for an invalid configuration"


def test_unexpected_errors_are_one_line_without_traceback(runner, project, monkeypatch):
    from mlops_platform.planner import plan as offline_plan

    def boom(config, **kwargs):
        raise RuntimeError("simulated")

    monkeypatch.setattr(offline_plan, "build_plan", boom)
    result = invoke(runner, "plan", "--cloud", "local")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "error: unexpected failure: RuntimeError: simulated" in result.stderr


def test_version_and_help(runner):
    assert invoke(runner, "--version").stdout.startswith("platform 0.1.0")
    help_text = invoke(runner, "--help").stdout
    for command in ("plan", "render"):
        assert command in help_text


def test_the_program_run_and_each_render_pause_the_garbage_collector_and_hand_it_back_on_failure(monkeypatch, planned, stack_config, charts_dir):
    """The pauses halve a cold plan (benchmarks/plan_time.py) for every command that plans (plan,
    render, up's progress, stacks, charts); left off, `platform up` would run a long engine
    operation without a collector."""
    run, charts = planned("local-dev"), charts_dir  # before run_program is replaced
    seen = []

    def failing(*args, **kwargs):
        seen.append(gc.isenabled())
        raise RuntimeError("failed inside")

    monkeypatch.setattr(harness, "run_program", failing)
    monkeypatch.setattr(chart_render, "_render_cached", failing)
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="failed inside"):
        harness.plan_platform(stack_config("local-dev"))
    assert gc.isenabled()
    with pytest.raises(RuntimeError, match="failed inside"):
        assemble(run, "1.36", charts)
    assert seen == [False, False] and gc.isenabled()


def test_plan_and_render_show_each_step_while_they_work(runner, project, tmp_path, monkeypatch, charts_dir):
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(charts_dir))
    for args in (("plan", "--cloud", "local", "--json"), ("render", "--cloud", "local", "--out", str(tmp_path / "o"))):
        result = invoke(runner, *args)
        assert result.exit_code == 0, result.stderr
        steps = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]
        assert steps[0] == "running the program under mocks..."
        rendering = [s for s in steps if s.startswith("rendering ")]
        assert len(rendering) == 10 and rendering[0].endswith("(1/10)...") and rendering[-1].endswith("(10/10)...")
        assert steps[-1].startswith("checking ") and steps[-1].endswith(" objects against the policies...")
