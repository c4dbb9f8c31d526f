"""`platform plan --compare`: pairs of real plans of aws-dev, each head a deliberate change, and the
exact resource, cost, footprint and policy deltas it must report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components import prices
from mlops_platform.components.config import PlatformConfig, read_stack_values
from mlops_platform.planner.compare import compare, flatten, to_markdown, to_text
from mlops_platform.planner.plan import build_plan
from mlops_platform.planner.urns import component_of
from support import STACKS

HOURS = prices.table()["hours_per_month"]


def price(key: str) -> float:
    return float(prices.table()["clouds"]["aws"]["items"][key]["price"])


class Plans:
    """Plans of aws-dev as `plan --json` writes them: the shipped stack (base, planned once) and
    edits of it (head), each a fresh document."""

    def __init__(self, charts_dir: Path, stack_config: Callable[[str], PlatformConfig]):
        self._charts = charts_dir
        self._base = json.dumps(self._document(stack_config("aws-dev")))

    def _document(self, config: PlatformConfig) -> dict[str, Any]:
        return json.loads(json.dumps(build_plan(config, self._charts).to_json(), default=str))

    def base(self) -> dict[str, Any]:
        return json.loads(self._base)

    def head(self, **changes: Any) -> dict[str, Any]:
        values = read_stack_values(STACKS / "Pulumi.aws-dev.yaml")
        for key, value in changes.items():
            values[key] = value(values.get(key)) if callable(value) else value
        return self._document(PlatformConfig.from_values(values, "aws-dev (edited)", "aws-dev"))


@pytest.fixture(scope="module")
def plans(charts_dir, stack_config) -> Plans:
    return Plans(charts_dir, stack_config)


def test_an_unchanged_plan_compares_empty(plans):
    result = compare(plans.base(), plans.base())
    assert result.resources == [] and result.cost.change == 0 and result.cpu.change == 0
    assert result.unchanged and "no changes" in to_text(result)


def test_add_a_model(plans):
    wine = {"name": "wine", "format": "sklearn", "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
            "referenceData": "sklearn:iris"}
    after = plans.head(models=lambda models: [*models, wine])
    result = compare(plans.base(), after)
    created = {(r.type, r.name) for r in result.resources if r.op == "create"}
    # The dashboards' model selector lists the new model: their ConfigMaps (immutable) are replaced.
    replaced = {(r.name, c.forces_replacement) for r in result.resources if r.op == "replace" for c in r.changes}
    assert replaced == {("mlops-monitoring-mlops-dashboard-models", "data"), ("mlops-monitoring-mlops-dashboard-drift", "data")}
    assert {r.op for r in result.resources} == {"create", "replace"}, "nothing else existing changes"
    assert '"panels"' not in to_text(result) and "<text, " in to_text(result), "a file's contents are summarised, not dumped"
    assert ("kubernetes:serving.kserve.io/v1beta1:InferenceService", "mlops-models-wine") in created
    assert {n for _, n in created} == {
        # The model's own route (its token check) and its certificate for wine-models.<domain>.
        "mlops-models-wine", "mlops-models-wine-monitor", "mlops-models-wine-route", "mlops-models-wine-cert",
        *(f"mlops-detectors-wine-{s}" for s in (
            "drift", "outlier", "fit", "drift-svc", "outlier-svc", "rules", "drift-monitor", "outlier-monitor",
            "route", "strip", "mirror"))}
    assert {r.component for r in result.resources} == {"Detectors", "ModelServing", "Monitoring"}
    assert result.cost.change == 0, "no node is added: the bill is the same"
    assert set(result.workloads) == {"models/wine-predictor", "detectors/wine-drift", "detectors/wine-outlier"}
    assert all(before is None for before, _ in result.workloads.values())
    added_cpu = sum(after[0] for _, after in result.workloads.values())
    added_mib = sum(after[1] for _, after in result.workloads.values())
    assert result.cpu.change == pytest.approx(added_cpu / 1000, abs=0.002)
    assert result.memory.change == pytest.approx(added_mib / 1024, abs=0.002)
    iris = {w["name"]: w for w in plans.base()["summary"]["requests"]["workloads"]}
    wine_predictor = result.workloads["models/wine-predictor"][1]
    assert f"{wine_predictor[0]}m" == iris["models/iris-predictor"]["cpu"], "same defaults as iris"


def test_switch_the_node_type(plans):
    after = plans.head(cluster=lambda c: {**c, "instanceType": "m6i.xlarge"})
    result = compare(plans.base(), after)
    (nodes,) = result.resources
    assert (nodes.op, nodes.type, nodes.name) == ("replace", "aws:eks/nodeGroup:NodeGroup", "mlops-cluster-nodes")
    (change,) = nodes.changes
    assert (change.path, change.before, change.after, change.forces_replacement) == (
        "instanceTypes[0]", "m6i.large", "m6i.xlarge", "instanceTypes")
    expected = round(2 * (price("ec2_m6i.xlarge_hour") - price("ec2_m6i.large_hour")) * HOURS, 2)
    assert result.cost.change == pytest.approx(expected) == pytest.approx(140.16)
    assert {k: v.change for k, v in result.cost_by_component.items()} == {"cluster": pytest.approx(expected)}
    assert result.cpu.change == 0 and result.workloads == {}


def test_enable_a_gpu_pool(plans):
    after = plans.head(cluster=lambda c: {**c, "gpu": {"enabled": True}})
    result = compare(plans.base(), after)
    assert [(r.op, r.name) for r in result.resources] == [("create", "mlops-cluster-gpu-nodes")]
    disk = plans.base()["summary"]["cost"]["lines"]
    node_disk_gb = next(line for line in disk if line["item"] == "node root volumes gp3")["quantity"] / 2
    expected = round(price("ec2_g4dn.xlarge_hour") * HOURS + node_disk_gb * price("ebs_gp3_gb_month"), 2)
    assert result.cost.change == pytest.approx(expected) == pytest.approx(387.98)
    assert result.new_violations == [], "a GPU pool the stack enables is within policy"


def test_break_a_policy(plans):
    after = plans.head(policy={"limits": {"maxNodes": 1}})
    result = compare(plans.base(), after)
    assert result.resources == [] and result.cost.change == 0
    (violation,) = result.new_violations
    assert violation["rule"] == "cost-node-count-within-limit" and violation["enforcementLevel"] == "advisory"
    assert result.head_mandatory == []
    undone = compare(after, plans.base())
    assert undone.resolved_violations == [violation] and undone.new_violations == []


def test_remove_a_component(plans):
    after = plans.head(monitoring={"enabled": False}, detectors={"enabled": False})
    result = compare(plans.base(), after)
    removed = {r.component for r in result.resources if r.op == "delete"}
    assert removed == {"Monitoring", "Detectors", "Mlflow", "ModelServing"}
    for component, only in (("Mlflow", "mlops-mlflow-monitor"), ("ModelServing", "mlops-models-iris-monitor")):
        gone = [r.name for r in result.resources if r.component == component and r.op == "delete"]
        assert gone == [only], f"only {component}'s monitor goes with monitoring"
    assert ("delete", "mlops-monitoring-release") in {(r.op, r.name) for r in result.resources}
    (changed,) = [r for r in result.resources if r.op == "update"]
    assert changed.name == "mlops-models-iris" and all(c.path.startswith("spec.predictor.logger") for c in changed.changes)
    assert result.cost.change == pytest.approx(-5 * price("ebs_gp3_gb_month"))
    assert {k: v.change for k, v in result.cost_by_component.items()} == {"monitoring": pytest.approx(-0.40)}
    gone = [name for name, (_, now) in result.workloads.items() if now is None]
    assert gone and all(name.startswith(("monitoring/", "detectors/")) for name in gone)
    # With no detectors to log to, KServe injects no agent beside the model server.
    assert result.workloads["models/iris-predictor"] == ((200, 356), (100, 256))
    delta_cpu = sum((now or (0, 0))[0] - (before or (0, 0))[0] for before, now in result.workloads.values())
    assert result.cpu.change == pytest.approx(delta_cpu / 1000, abs=0.002) == pytest.approx(-0.53)


def test_replacement_rules():
    from mlops_platform.planner.replacements import forcing

    assert forcing("kubernetes:core/v1:ConfigMap", "data.fit.py") == "data"
    assert forcing("kubernetes:apps/v1:Deployment", "spec.template.spec.containers[0].image") is None
    assert forcing("kubernetes:apps/v1:Deployment", "spec.selector.matchLabels.app") == "spec.selector"
    assert forcing("kubernetes:apps/v1:StatefulSet", "spec.volumeClaimTemplates[0].spec.resources.requests.storage")
    assert forcing("kubernetes:apps/v1:StatefulSet", "spec.replicas") is None
    assert forcing("kubernetes:core/v1:PersistentVolumeClaim", "spec.resources.requests.storage") is None
    assert forcing("kubernetes:core/v1:PersistentVolumeClaim", "spec.storageClassName") == "spec.storageClassName"
    assert forcing("kubernetes:helm.sh/v3:Release", "values.replicas") is None
    assert forcing("azure-native:containerservice:AgentPool", "location") == "location"
    assert forcing("aws:rds/instance:Instance", "instanceClass") is None
    assert forcing("aws:rds/instance:Instance", "storageEncrypted") == "storageEncrypted"
    assert forcing("random:index/randomPassword:RandomPassword", "length", {"replaceOnChanges": ["length"]}) == "length"


def test_paths_and_components():
    assert dict(flatten({"a": {"b": [1, {"c": 2}]}, "d": {}, "e": []})) == {"a.b[0]": 1, "a.b[1].c": 2, "d": {}, "e": []}
    urn = "urn:pulumi:aws-dev::mlops-platform::mlops:platform:MlopsPlatform$mlops:addons:Mlflow$kubernetes:core/v1:Secret::x"
    assert component_of(urn) == "Mlflow"
    assert component_of("urn:pulumi:s::p::pulumi:providers:aws::default") == "stack"


def test_markdown_puts_totals_first_and_folds_the_rest(plans):
    after = plans.head(cluster=lambda c: {**c, "instanceType": "m6i.xlarge"})
    text = to_markdown(compare(plans.base(), after))
    lines = text.splitlines()
    assert lines[0] == "<!-- mlops-platform plan comparison: aws-dev -->"
    assert lines[1].startswith("### `platform plan` · aws-dev")
    summary = text.split("<details>", 1)[0]
    assert "| monthly cost (USD) | 311.37 | 451.53 | +$140.16 |" in summary
    assert "0 to add, 0 to change, 1 to replace, 0 to remove" in summary
    assert "instanceTypes[0]: m6i.large -> m6i.xlarge  (forces replacement: instanceTypes)" in text
    assert text.count("<details>") == text.count("</details>") >= 2


# --- the command -----------------------------------------------------------------------------------


def test_the_cli_compares_against_a_saved_plan(project, tmp_path):
    runner = CliRunner()
    saved = runner.invoke(app, ["plan", "--cloud", "aws", "--json"])
    assert saved.exit_code == 0
    (tmp_path / "base.json").write_text(saved.stdout)
    stack = project / "stacks" / "Pulumi.aws-dev.yaml"
    text = stack.read_text().replace("instanceType: m6i.large", "instanceType: m6i.xlarge")
    text += ("    - name: wine\n      format: sklearn\n"
             "      storageUri: gs://kfserving-examples/models/sklearn/1.0/model\n      referenceData: sklearn:iris\n")
    stack.write_text(text)
    result = runner.invoke(app, ["plan", "--cloud", "aws", "--compare", str(tmp_path / "base.json"), "--format", "markdown"])
    assert result.exit_code == 0, result.stderr
    assert "| monthly cost (USD) | 311.37 | 451.53 | +$140.16 |" in result.stdout
    assert "15 to add, 0 to change, 3 to replace, 0 to remove" in result.stdout
    as_json = runner.invoke(app, ["plan", "--cloud", "aws", "--compare", str(tmp_path / "base.json"), "--format", "json"])
    data = json.loads(as_json.stdout)
    assert data["counts"] == {"create": 15, "update": 0, "replace": 3, "delete": 0}
    assert data["cost"]["change"] == pytest.approx(140.16)


def test_a_mandatory_violation_in_the_head_exits_1_after_the_comparison(project, tmp_path):
    runner = CliRunner()
    saved = runner.invoke(app, ["plan", "--cloud", "aws", "--env", "prod", "--json"])
    (tmp_path / "base.json").write_text(saved.stdout)
    stack = project / "stacks" / "Pulumi.aws-prod.yaml"
    stack.write_text(stack.read_text() + "  platform:policy:\n    limits:\n      maxNodes: 1\n")
    result = runner.invoke(app, ["plan", "--cloud", "aws", "--env", "prod", "--compare", str(tmp_path / "base.json"),
                                 "--format", "markdown"])
    assert result.exit_code == 1
    assert "mandatory policy violations" in result.stdout and "`cost-node-count-within-limit`" in result.stdout


@pytest.mark.parametrize("setup, fragment", [
    (None, "does not exist"),
    ("text", "is not JSON (line 1"),
    ("list", "is not a plan: it has no stack, resources, summary, policies"),
    ("other", "is a plan of stack aws-prod, not aws-dev"),
    ("dir", "is a directory"),
])
def test_bad_base_plans_exit_2_before_planning(project, tmp_path, setup, fragment):
    path = tmp_path / "base.json"
    if setup == "text":
        path.write_text("not json")
    elif setup == "list":
        path.write_text("[]")
    elif setup == "other":
        path.write_text(json.dumps({"stack": "aws-prod", "resources": [], "summary": {}, "policies": {}}))
    elif setup == "dir":
        path.mkdir()
    result = CliRunner().invoke(app, ["plan", "--cloud", "aws", "--compare", str(path)])
    assert result.exit_code == 2 and result.stdout == ""
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert fragment in line and "--compare" in line
    assert "Planning stack" not in result.stderr, "nothing ran before the check"


def test_a_change_to_a_jobs_pod_template_is_a_replacement(plans):
    """A Job's template cannot change after creation (the API server refuses it): a changed detector
    fitting Job (here: another drift p-value, which changes its environment) is replaced."""
    edited = plans.head(models=lambda models: [{**models[0], "drift": {**models[0].get("drift", {}), "pValue": 0.01}}])
    result = compare(plans.base(), edited)
    jobs = [r for r in result.resources if r.type == "kubernetes:batch/v1:Job"]
    assert jobs, [(r.op, r.type, r.name) for r in result.resources]
    for job in jobs:
        assert job.op in ("replace", "create", "delete"), (job.name, job.op)
    replaced = [j for j in jobs if j.op == "replace"]
    assert replaced and all(any(c.forces_replacement == "spec.template" for c in j.changes) for j in replaced)
    same_name = plans.base()
    fit = next(r for r in same_name["resources"] if r["type"] == "kubernetes:batch/v1:Job" and "fit" in r["name"])
    changed = json.loads(json.dumps(same_name))
    target = next(r for r in changed["resources"] if r["urn"] == fit["urn"])
    target["inputs"]["spec"]["template"]["spec"]["containers"][0]["image"] = "amazon/aws-cli:2.99.0"
    (diff,) = [r for r in compare(same_name, changed).resources if r.urn == fit["urn"]]
    assert diff.op == "replace" and diff.changes[0].forces_replacement == "spec.template"
