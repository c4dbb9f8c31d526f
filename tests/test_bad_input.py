"""Every input a user can get wrong ends in one line on stderr, exit code 2 and nothing written.

Each case here was found by feeding the CLI broken input as a new user would; before its fix it
ended in "unexpected failure: <Python exception>" (exit 1), minutes of work, gigabytes of memory or
an error line megabytes long.
"""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app

MAX_LINE = 300


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def refused(result, *fragments: str, within: float | None = None, started: float | None = None) -> str:
    """The result is one error line of at most MAX_LINE characters, exit 2, nothing on stdout."""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.stderr[-2000:])
    assert result.stdout == "", result.stdout[:500]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[:2000]
    assert "unexpected failure" not in lines[0]
    assert len(lines[0]) <= MAX_LINE, f"{len(lines[0])} characters"
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    if within is not None and started is not None:
        assert time.monotonic() - started < within, f"took {time.monotonic() - started:.2f}s"
    return lines[0]


# --- stack files ----------------------------------------------------------------------------------


def _bomb() -> str:
    """About 430 bytes that stand for 9^8 (43 million) strings once the aliases are expanded."""
    lines = ["config:", "  platform:cloud: local", "  platform:env: bad", "  platform:x: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    previous = "a"
    for anchor in "bcdefgh":
        lines.append(f"  platform:{anchor}: &{anchor} [" + ",".join(["*" + previous] * 9) + "]")
        previous = anchor
    return "\n".join(lines) + "\n"


HEAD = "config:\n  platform:cloud: local\n  platform:env: bad\n"
STACK_FILES = {
    "utf-16": (HEAD.encode("utf-16"), "is UTF-16 text"),
    "utf-32": (HEAD.encode("utf-32"), "is UTF-32 text"),
    "latin-1": ((HEAD + "  platform:owner: jos\xe9\n").encode("latin-1"), "is not UTF-8 text (line 4)"),
    "complex key": ((HEAD + "  ? [a, b]\n  : 1\n").encode(), "line 4: a key must be a plain value"),
    "alias as a key": ((HEAD + "  platform:owner: &k x\n  *k : 1\n").encode(), "a key must be a plain value"),
    "20,000 deep": ((HEAD + "  platform:models: " + "[" * 20000 + "]" * 20000 + "\n").encode(), "nested more than 40 levels"),
    "alias bomb": (_bomb().encode(), "expands to more than 20,000 values"),
    "recursive alias": ((HEAD + "  platform:models: &a [*a]\n").encode(), "refers to a value that encloses it"),
    "one key, two spellings": ((HEAD + "  platform:cluster: {nodeCount: 1}\n  platform:config:cluster: {nodeCount: 2}\n").encode(),
                               "platform:config:cluster: given twice (also as platform:cluster)"),
    "a python tag": ((HEAD + "  platform:owner: !!python/object/apply:os.system [id]\n").encode(), "not valid YAML"),
    "a megabyte of value": ((HEAD + "  platform:owner: " + "x" * 900_000 + "\n").encode(), "platform:owner"),
    "a long key": ((HEAD + "  platform:" + "k" * 1000 + ": 1\n").encode(), "unknown key"),
    "a huge list": ((HEAD + "  platform:models: [" + ",".join(["1"] * 25_000) + "]\n").encode(), "more than 20,000 values"),
    "two megabytes": ((HEAD + "# " + "x" * 2_100_000 + "\n").encode(), "larger than 1024 KiB"),
    "a folder": (None, "is a folder, not a stack file"),
}


@pytest.mark.parametrize("case", list(STACK_FILES))
def test_a_broken_stack_file_is_one_short_line_at_once(project, case):
    content, fragment = STACK_FILES[case]
    path = project / "stacks" / "Pulumi.local-bad.yaml"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    before = sorted(p.name for p in (project / "stacks").iterdir())
    started = time.monotonic()
    result = invoke("plan", "--cloud", "local", "--env", "bad")
    # A bound against a hang or a runaway parse (a megabyte value), not a benchmark: wide enough for a
    # loaded 2-core CI machine, where 1 s was missed once (1.55 s) with other test runs beside it.
    line = refused(result, fragment, within=5.0, started=started)
    assert "stacks/Pulumi.local-bad.yaml" in line
    assert sorted(p.name for p in (project / "stacks").iterdir()) == before, "nothing written"


# --- impossible values ----------------------------------------------------------------------------

AWS = "config:\n  platform:cloud: aws\n  platform:env: bad\n  platform:region: us-east-1\n  platform:domain: ml.example.org\n"
IMPOSSIBLE = {
    "no CPU": (HEAD + "  platform:models:\n    - {name: m, format: sklearn, storageUri: 's3://b/m', drift: {enabled: false},"
               " outlier: {enabled: false}, resources: {cpu: '0'}}\n",
               "platform:models[0].resources.cpu: '0' is outside 1m..1920"),
    "more CPU than any machine": (HEAD + "  platform:models:\n    - {name: m, format: sklearn, storageUri: 's3://b/m',"
                                  " drift: {enabled: false}, outlier: {enabled: false}, resources: {cpu: '100000000'}}\n",
                                  "platform:models[0].resources.cpu: '100000000' is outside 1m..1920"),
    "no memory": (HEAD + "  platform:models:\n    - {name: m, format: sklearn, storageUri: 's3://b/m', drift: {enabled: false},"
                  " outlier: {enabled: false}, resources: {memory: 0Mi}}\n",
                  "platform:models[0].resources.memory: '0Mi' is outside 1Mi..32Ti"),
    "a memory limit beyond any machine": (HEAD + "  platform:models:\n    - {name: m, format: sklearn, storageUri: 's3://b/m',"
                                          " drift: {enabled: false}, outlier: {enabled: false}, resources: {memoryLimit: 40Ti}}\n",
                                          "platform:models[0].resources.memoryLimit: '40Ti' is outside 1Mi..32Ti"),
    "retention of zero": (HEAD + "  platform:monitoring: {retention: 0h}\n", "platform:monitoring.retention: '0h' is zero"),
    "retention beyond 100 years": (HEAD + "  platform:monitoring: {retention: 5300w}\n",
                                   "platform:monitoring.retention: '5300w' is longer than 100 years"),
    "a ttl of zero": (HEAD + "  platform:ttl: 0d\n", "platform:ttl: '0d' is zero"),
    "an unknown Kubernetes minor": (AWS + "  platform:cluster: {kubernetesVersion: '1.99', privateEndpoint: true}\n",
                                    "platform:cluster.kubernetesVersion: '1.99' is not a supported Kubernetes minor version (1.34, 1.35, 1.36)"),
    "a local stack on another minor": (HEAD + "  platform:cluster: {kubernetesVersion: '1.35'}\n",
                                       "platform:cluster.kubernetesVersion: kind runs kindest/node:v1.36.1"),
    "a zone outside the region": (AWS + "  platform:cluster: {privateEndpoint: true}\n"
                                  "  platform:aws: {availabilityZones: [eu-west-1a, eu-west-1b]}\n",
                                  "platform:aws.availabilityZones: zone 'eu-west-1a' is not in region 'us-east-1'"),
    "a GCP zone outside the region": ("config:\n  platform:cloud: gcp\n  platform:env: bad\n  platform:region: us-central1\n"
                                      "  platform:domain: ml.example.org\n  platform:cluster: {privateEndpoint: true}\n"
                                      "  platform:gcp: {project: my-project-1, zones: [europe-west1-b]}\n",
                                      "platform:gcp.zones: zone 'europe-west1-b' is not in region 'us-central1'"),
    "maxNodes below nodeCount": (HEAD + "  platform:cluster: {nodeCount: 3, maxNodes: 2}\n",
                                 "platform:cluster: maxNodes 2 is below nodeCount 3"),
    "cert-manager switched off": (HEAD + "  platform:certManager: {enabled: false}\n",
                                  "platform:certManager: removed: cert-manager is always installed"),
    "Traefik switched off": (HEAD + "  platform:traefik: {enabled: false, replicas: 2}\n",
                             "platform:traefik.enabled: removed: Traefik is always installed"),
    "forceDestroy on azure": ("config:\n  platform:cloud: azure\n  platform:env: bad\n  platform:region: eastus\n"
                              "  platform:domain: ml.example.org\n  platform:cluster: {privateEndpoint: true}\n"
                              "  platform:objectStore: {forceDestroy: false}\n",
                              "platform:objectStore.forceDestroy: has no effect on azure"),
    "detectors without monitoring": (HEAD + "  platform:monitoring: {enabled: false}\n",
                                     "platform:monitoring.enabled: false, but detectors is on and needs it"),
}


@pytest.mark.parametrize("case", list(IMPOSSIBLE))
def test_an_impossible_value_names_its_key_and_range(project, case):
    text, fragment = IMPOSSIBLE[case]
    cloud = text.split("platform:cloud: ", 1)[1].split("\n", 1)[0]
    (project / "stacks" / f"Pulumi.{cloud}-bad.yaml").write_text(text)
    refused(invoke("plan", "--cloud", cloud, "--env", "bad"), fragment)


@pytest.mark.parametrize("value, fragment", [("0h", "'0h' is zero"), ("7 days", "'7 days' is not a duration"),
                                             ("99999999w", "is not a duration"), ("6000w", "longer than 100 years")])
def test_stale_takes_the_same_durations_as_the_stack_file(project, value, fragment):
    refused(invoke("stacks", "--stale", value), "--stale", fragment)


# --- plan --compare, --format, PLATFORM_PARALLEL -------------------------------------------------


def _saved_plan(project) -> dict:
    result = invoke("plan", "--cloud", "local", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _break(document: dict, case: str):
    if case == "null urn":
        document["resources"][0]["urn"] = None
    elif case == "resources not a list":
        document["resources"] = 5
    elif case == "a resource that is a string":
        document["resources"][3] = "x"
    elif case == "inputs not a mapping":
        document["resources"][2]["inputs"] = [1]
    elif case == "cpu not a number":
        document["summary"]["requests"]["cpuCores"] = "x"
    elif case == "a workload without units":
        document["summary"]["requests"]["workloads"][0]["cpu"] = "lots"
    elif case == "a cost line without a price":
        document["summary"]["cost"] = {"lines": [{"monthly": "abc"}]}
    elif case == "violations not a list":
        document["policies"]["violations"] = {"a": 1}
    elif case == "100,000 deep":
        return "[" * 100_000 + "]" * 100_000
    elif case == "deep inputs":
        nested: dict = {}
        for _ in range(150):
            nested = {"a": nested}
        document["resources"][0]["inputs"] = nested
    return json.dumps(document)


COMPARE_CASES = {"null urn": "resources[0].urn is not a non-empty string", "resources not a list": "resources is not a list",
                 "a resource that is a string": "resources[3] is not a mapping", "inputs not a mapping": "resources[2] has inputs",
                 "cpu not a number": "cpuCores and memoryGiB as numbers", "a workload without units": "workloads holds an entry",
                 "a cost line without a price": "without a monthly number", "violations not a list": "policies.violations",
                 "100,000 deep": "nested too deeply", "deep inputs": "nested more than 100 levels"}


def test_compare_refuses_json_that_is_not_a_plan(project, tmp_path):
    saved = _saved_plan(project)
    for case, fragment in COMPARE_CASES.items():
        path = tmp_path / f"{case}.json"
        path.write_text(_break(json.loads(json.dumps(saved)), case))
        started = time.monotonic()
        line = refused(invoke("plan", "--cloud", "local", "--compare", str(path)), f"--compare {path}", fragment)
        assert "Planning" not in line and time.monotonic() - started < 2, case


def test_format_is_refused_without_compare(project):
    refused(invoke("plan", "--cloud", "local", "--format", "markdown"), "--format applies to --compare only")


def test_platform_parallel_sets_the_plans_estimate_and_a_bad_value_is_refused(project):
    four = invoke("plan", "--cloud", "aws", env={"PLATFORM_PARALLEL": "4"})
    sixteen = invoke("plan", "--cloud", "aws", env={"PLATFORM_PARALLEL": "16"})
    assert four.exit_code == 0 and sixteen.exit_code == 0, four.stderr
    plan = json.loads(invoke("plan", "--cloud", "aws", "--json").stdout)["criticalPath"]
    at_four = plan["byParallel"]["4"]
    assert f"{at_four / 60:.1f} min at --parallel 4" in four.stdout
    assert "at --parallel" not in sixteen.stdout, "at 16 the estimate is the unbounded one (README)"
    for value in ("0", "x", "257", "-3"):
        refused(invoke("plan", "--cloud", "aws", env={"PLATFORM_PARALLEL": value}), "$PLATFORM_PARALLEL=")
