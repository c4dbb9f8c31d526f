"""Rendered output against the upstream schemas (../shared/schemas, see its SOURCES.md).

- Every Kubernetes object we author: core kinds strictly with kubernetes-validate, custom
  resources against the pinned CRD schemas (unknown fields are errors, as with
  `kubectl apply --validate=strict`); a document without a schema fails too.
- Every Helm values file against the pinned chart's values.schema.json and default values: no
  schema errors and no unknown keys (Helm silently ignores a key a chart does not have).
  Keys under subcharts, whose defaults the library does not hold, must be listed below with
  the subchart version they were read from.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_platform.planner import render
from support import SHIPPED_STACKS

# Library chart name for each chart reference we install.
LIBRARY_CHART = {
    "cert-manager": "cert-manager",
    "traefik": "traefik",
    "kube-prometheus-stack": "kube-prometheus-stack",
    "mlflow": "mlflow",
    "kserve-resources": "kserve-resources",
    "kserve-runtime-configs": "kserve-runtime-configs",
}
# kserve-crd only installs CRDs and takes no values.
VALUELESS_CHARTS = {"kserve-crd"}
# Charts the library holds no values for (the sign-in charts): our keys are checked against the
# chart's own default values, from its archive in ../shared/charts.
OWN_VALUES_CHARTS = {"dex", "oauth2-proxy"}
# Keys a chart reads but leaves out of its defaults (documented in a comment of its values.yaml).
DOCUMENTED_KEYS = {
    # oauth2-proxy 10.7.0 values.yaml: "# existingSecret: secret"; templates/_helpers.tpl reads it.
    "oauth2-proxy": {"config.existingSecret"},
}
# Subchart keys we set, read from the subchart's own values.yaml at the version the parent pins.
SUBCHART_KEYS = {
    # kube-prometheus-stack 88.5.3 -> grafana 12.11.1 (grafana-community/helm-charts charts/grafana)
    "$.grafana.resources",
    "$.grafana.sidecar.resources",
    "$.grafana.testFramework",
    "$.grafana.envValueFrom",  # values.yaml: envValueFrom: {}
    "$.grafana.extraSecretMounts",  # extraSecretMounts: []
    "$.grafana.rbac.namespaced",  # rbac.namespaced: false
    "$.grafana.rbac.useExistingRole",  # commented in values.yaml ("# useExistingRole:"), read by templates/role.yaml
    "$.grafana.sidecar.dashboards.resource",  # sidecar.dashboards.resource: both
    "$.grafana.sidecar.datasources.resource",  # sidecar.datasources.resource: both
    '$.grafana["grafana.ini"]',  # grafana.ini: (server, auth.generic_oauth, ... sections)
    "$.grafana.image",  # image: {registry, repository, tag, sha} (components/chart_images.py sets its digest)
    "$.grafana.sidecar.image",  # sidecar.image: {registry, repository, tag, sha}
    # kube-prometheus-stack 88.5.3 -> kube-state-metrics 8.4.0 (prometheus-community/helm-charts)
    "$.kube-state-metrics.resources",
    "$.kube-state-metrics.image",  # image: {registry, repository, tag, sha}
}


# Kubernetes objects a chart passes through with toYaml: its defaults list only some of their fields;
# and mlflow's extraArgs and extraEnvVars, open maps of `mlflow server` flags and environment
# variables (empty by default, so no keys to know).
# tests/test_chart_render.py proves that every key we set below them changes the rendered output.
PASSED_THROUGH = re.compile(
    r"^\$\.(kserve\.servingruntime\.[a-z_]+\.securityContext\.seccompProfile"
    r"|podSecurityContext\.(runAsNonRoot|seccompProfile)|securityContext\.seccompProfile"
    r"|extraArgs\.[a-z][A-Za-z]*|extraEnvVars\.[A-Z][A-Z0-9_]*)$"
)


@pytest.fixture(scope="module")
def validator(schemas_dir: Path) -> list[str]:
    return [sys.executable, str(schemas_dir / "validate.py")]


def _run(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_rendered_manifests_validate_against_upstream_schemas(stack, validator, tmp_path, planned):
    run = planned(stack)
    render.write(run, tmp_path)
    manifests = sorted((tmp_path / "manifests").rglob("*.yaml"))
    assert len(manifests) == len(run.kubernetes_objects())
    result = _run([*validator, "--fail-on-no-schema", "--max-doc-errors", "5", str(tmp_path / "manifests")])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    match = re.search(r"# (\d+) documents: (\d+) OK, (\d+) INVALID, (\d+) NO-SCHEMA", output)
    assert match, output
    summary = match.group(0)
    total, ok, invalid, missing = map(int, match.groups())
    assert (total, invalid, missing) == (len(manifests), 0, 0), summary
    assert ok == total


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_helm_values_have_no_unknown_keys(stack, validator, tmp_path, planned):
    run = planned(stack)
    for name, chart, values in render.releases(run):
        if chart["chart"] in VALUELESS_CHARTS:
            assert values == {}, f"{name}: kserve-crd takes no values"
            continue
        if chart["chart"] in OWN_VALUES_CHARTS:
            continue  # test_sign_in_chart_values_are_the_charts_own_keys
        library = LIBRARY_CHART[chart["chart"]]
        path = tmp_path / f"{name}.yaml"
        import yaml

        path.write_text(yaml.safe_dump(values), encoding="utf-8")
        result = _run([*validator, "--values", library, chart["version"], str(path)])
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{name}: {output}"
        assert "RESULT     OK" in output, output
        unknown = [k for k in re.findall(r"WARN\s+unknown key: (\S+)", output) if not PASSED_THROUGH.match(k)]
        assert not unknown, f"{name}: keys the chart does not have: {unknown}"
        subchart = set(re.findall(r"WARN\s+unknown key \(subchart\): (\S+)", output))
        assert subchart <= SUBCHART_KEYS, f"{name}: unlisted subchart keys {subchart - SUBCHART_KEYS}"


def test_schema_library_is_required_in_ci(schemas_dir):
    """CI sets PLATFORM_REQUIRE_SCHEMAS=1, so a missing library fails instead of skipping."""
    assert (schemas_dir / "crds" / "serving.kserve.io" / "inferenceservice_v1beta1.json").is_file()


if os.environ.get("PLATFORM_REQUIRE_SCHEMAS") == "1":

    def test_schema_library_present():
        from support import SCHEMAS

        assert (SCHEMAS / "validate.py").is_file(), f"schema library missing at {SCHEMAS}"


def test_the_validator_rejects_what_the_api_server_would(validator, tmp_path, local_run):
    """The check above can fail: a typo in a rendered custom resource and in a core object is caught."""
    import yaml

    isvc = next(r for r in local_run.kubernetes_objects() if r.input("kind") == "InferenceService")
    broken = render.manifest(isvc)
    broken["spec"]["predictor"]["loger"] = broken["spec"]["predictor"].pop("logger")
    deployment = next(r for r in local_run.kubernetes_objects() if r.input("kind") == "Deployment")
    broken_core = render.manifest(deployment)
    broken_core["spec"]["replica"] = 2
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump_all([broken, broken_core]), encoding="utf-8")
    result = _run([*validator, str(tmp_path / "broken.yaml")])
    assert result.returncode == 1
    assert "2 INVALID" in result.stdout + result.stderr


def unknown_keys(values: dict, defaults: object, path: tuple = ()) -> list[str]:
    """Keys of `values` a chart's defaults do not have. Below a default that is an empty map (a
    Kubernetes object or free-form map the chart passes through), any key is the chart's."""
    out = []
    for key, value in values.items():
        if not isinstance(defaults, dict) or key not in defaults:
            out.append(".".join(map(str, (*path, key))))
        elif isinstance(value, dict) and isinstance(defaults[key], dict) and defaults[key]:
            out += unknown_keys(value, defaults[key], (*path, key))
    return out


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_sign_in_chart_values_are_the_charts_own_keys(stack, planned, charts_dir, stack_config):
    from mlops_platform.components import versions
    from mlops_platform.planner import chart_render

    checked = 0
    for name, chart, values in render.releases(planned(stack)):
        if chart["chart"] not in OWN_VALUES_CHARTS:
            continue
        pinned = next(c for c in versions.CHARTS if c.chart_ref == chart["chart"])
        defaults = chart_render.load_chart(charts_dir / pinned.archive).values
        unknown = set(unknown_keys(values, defaults)) - DOCUMENTED_KEYS.get(chart["chart"], set())
        assert unknown == set(), f"{name}: keys the chart does not have"
        checked += 1
    bundled = stack_config(stack).identity.kind == "dex"
    assert checked == (3 if bundled else 2), "both oauth2-proxy releases, and Dex where it is the issuer"


def test_the_own_keys_check_finds_a_misspelt_key():
    defaults = {"config": {"clientID": "x", "upstreams": []}, "extraArgs": {}, "resources": {}}
    assert unknown_keys({"config": {"clientId": "x"}, "extraArgs": {"any": 1}, "resources": {"limits": {}}}, defaults) == [
        "config.clientId"]
