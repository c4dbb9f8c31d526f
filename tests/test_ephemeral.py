"""Ephemeral environments (`--env pr-123`): derived from the cloud's dev stack file, written for the
engine before it first touches the stack, and the engine's own keys kept when it is written again.
Through the stand-in `pulumi` (tests/engine/fake_pulumi.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import invoke, one_line_error

# --- ephemeral environments --------------------------------------------------------------------------


def test_an_ephemeral_environment_is_derived_from_dev_and_written_for_the_engine(project, state, fake, monkeypatch, tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple")
    monkeypatch.setenv("GITHUB_ACTOR", "Octo-Cat")
    monkeypatch.delenv("PLATFORM_OWNER", raising=False)
    monkeypatch.delenv("PLATFORM_TTL", raising=False)
    fake.events("preview", "preview-same")
    derived = project / "stacks" / "Pulumi.aws-pr-123.yaml"
    result = invoke("plan", "--cloud", "aws", "--env", "pr-123", "--json")
    assert result.exit_code == 0, result.stderr
    assert not derived.exists(), "plan derives in memory and writes nothing"
    tags = next(r for r in json.loads(result.stdout)["resources"] if r["type"] == "pulumi:providers:aws")["inputs"]["defaultTags"]
    assert json.loads(tags)["tags"] == {"mlops-platform/stack": "aws-pr-123", "mlops-platform/env": "pr-123",
                                        "mlops-platform/owner": "octo-cat", "mlops-platform/ttl": "3d"}
    result = invoke("preview", "--cloud", "aws", "--env", "pr-123", "--passphrase-file", str(secret))
    assert result.exit_code == 0, result.stderr
    args = fake.call("preview")["args"]
    assert args[args.index("--stack") + 1] == "aws-pr-123"
    text = derived.read_text()
    assert "\n# mlops-platform: derived from Pulumi.aws-dev.yaml for the environment pr-123" in text
    assert text.startswith("encryptionsalt: v1:fakesalt-aws-pr-123=="), "the engine's salt, written when it created the stack"
    assert '  platform:env: "pr-123"\n  platform:owner: "octo-cat"\n  platform:ttl: "3d"\n' in text
    dev = (project / "stacks" / "Pulumi.aws-dev.yaml").read_text()
    assert "platform:env: dev" not in text and all(line in text for line in dev.splitlines() if "platform:env:" not in line)
    # dev changes reach it; a file without the mark is the user's and is left alone
    (project / "stacks" / "Pulumi.aws-dev.yaml").write_text(dev.replace("nodeCount: 2", "nodeCount: 3"))
    assert invoke("preview", "--cloud", "aws", "--env", "pr-123", "--passphrase-file", str(secret)).exit_code == 0
    assert "nodeCount: 3" in derived.read_text()
    assert "aws-pr-123" not in invoke("ci", "init", "--provider", "github", "--dry-run").stdout.replace(
        "pr-${{", ""), "an ephemeral environment (marked) is no stack of the repository's workflows"
    derived.write_text(derived.read_text().split("\n", 1)[1].replace("nodeCount: 3", "nodeCount: 4"))
    assert invoke("preview", "--cloud", "aws", "--env", "pr-123", "--passphrase-file", str(secret)).exit_code == 0
    assert "nodeCount: 4" in derived.read_text() and not derived.read_text().startswith("# mlops-platform")


@pytest.mark.parametrize("env, fragment", [
    ("pr--1", "invalid --env 'pr--1'"),
    ("pr-", "invalid --env 'pr-'"),
    ("a" * 21, "invalid --env"),
    ("1pr", "invalid --env '1pr'"),
])
def test_environment_names_are_dns_labels(project, state, fake, env, fragment):
    result = invoke("plan", "--cloud", "aws", "--env", env)
    assert result.exit_code == 2 and fragment in one_line_error(result)


def test_an_ephemeral_environment_needs_a_dev_file(project, state, fake):
    (project / "stacks" / "Pulumi.gcp-dev.yaml").unlink()
    result = invoke("plan", "--cloud", "gcp", "--env", "pr-1")
    assert result.exit_code == 2
    assert "no stack file stacks/Pulumi.gcp-pr-1.yaml for stack gcp-pr-1 (nor stacks/Pulumi.gcp-dev.yaml to derive it from)" in one_line_error(result)


def test_stale_stacks_with_their_cost(project, state, fake, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    fake.stacks({
        "local-dev": {"resources": [], "ageDays": 1},
        "aws-pr-7": {"resources": [{"urn": "u", "type": "aws:eks/cluster:Cluster"}], "ageDays": 9},
        "aws-prod": {"resources": [{"urn": "u", "type": "aws:eks/cluster:Cluster"}], "ageDays": 30},
    })
    (state / "mlops-platform" / "backend").mkdir(parents=True)
    result = invoke("stacks", "--stale", "7d", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["stack"]: r for r in json.loads(result.stdout)["stacks"]}
    assert set(rows) == {"aws-pr-7", "aws-prod"}
    assert rows["aws-pr-7"]["stackFile"] is None and rows["aws-pr-7"]["ttl"] == "3d"
    assert 8.9 <= rows["aws-pr-7"]["daysSinceUpdate"] <= 9.1
    plan = json.loads(invoke("plan", "--cloud", "aws", "--json").stdout)
    assert rows["aws-pr-7"]["monthlyCost"] == plan["summary"]["cost"]["monthly"], "priced as the dev file it derives from"
    assert rows["aws-prod"]["ttl"] == "none" and rows["aws-prod"]["monthlyCost"] > rows["aws-pr-7"]["monthlyCost"]
    table = invoke("stacks", "--stale", "2w")
    assert "aws-prod" in table.stdout and "aws-pr-7" not in table.stdout and "USD/month" in table.stdout
    bad = invoke("stacks", "--stale", "7 days")
    assert bad.exit_code == 2 and "--stale '7 days' is not a duration" in one_line_error(bad)


def _preview(env: str, secret: Path):
    return invoke("preview", "--cloud", "aws", "--env", env, "--passphrase-file", str(secret))


def test_a_new_environment_is_derived_before_the_engine_writes_its_salt_and_keeps_it(project, state, fake, tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple")
    fake.events("preview", "preview-same")
    derived = project / "stacks" / "Pulumi.aws-pr-5.yaml"
    assert _preview("pr-5", secret).exit_code == 0
    from mlops_platform.components.config import read_stack_values

    values = read_stack_values(derived)
    assert values["cloud"] == "aws" and values["env"] == "pr-5", "complete settings, whatever the engine added"
    assert "encryptionsalt: v1:fakesalt-aws-pr-5==" in derived.read_text()
    dev = project / "stacks" / "Pulumi.aws-dev.yaml"
    dev.write_text(dev.read_text().replace("nodeCount: 2", "nodeCount: 3"))
    assert _preview("pr-5", secret).exit_code == 0
    text = derived.read_text()
    assert "nodeCount: 3" in text and text.count("encryptionsalt: v1:fakesalt-aws-pr-5==") == 1, "re-derived, salt kept"
    assert [c["args"][:2] for c in fake.calls()].count(["stack", "init"]) == 1


@pytest.mark.parametrize("env, owner", [("on", "12345"), ("null", "true"), ("yes", "0x1f")])
def test_derived_values_are_strings_whatever_they_look_like(project, state, fake, tmp_path, monkeypatch, env, owner):
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple")
    fake.events("preview", "preview-same")
    monkeypatch.setenv("PLATFORM_OWNER", owner)
    plan = invoke("plan", "--cloud", "aws", "--env", env, "--json")
    assert plan.exit_code == 0, plan.stderr
    assert json.loads(plan.stdout)["stack"] == f"aws-{env}"
    assert _preview(env, secret).exit_code == 0
    from mlops_platform.components.config import read_stack_values

    values = read_stack_values(project / "stacks" / f"Pulumi.aws-{env}.yaml")
    assert (values["env"], values["owner"]) == (env, owner)


DEV_STYLES = {
    "a comment after config:": "config:  # settings\n  platform:cloud: local\n  platform:env: dev  # the base\n"
                               "  platform:cluster:\n    nodeCount: 1\n",
    "flow style": "config: {platform:cloud: local, platform:env: dev, platform:cluster: {nodeCount: 1}}\n",
    "four-space indent": "config:\n    platform:cloud: local\n    platform:env: dev\n    platform:cluster:\n        nodeCount: 1\n",
    "the other spelling of env": "config:\n  platform:cloud: local\n  platform:config:env: dev\n  platform:cluster:\n    nodeCount: 1\n",
}


@pytest.mark.parametrize("style", list(DEV_STYLES))
def test_derivation_works_whatever_the_dev_files_style(project, state, fake, style, monkeypatch):
    monkeypatch.setenv("PLATFORM_OWNER", "ana")
    (project / "stacks" / "Pulumi.local-dev.yaml").write_text(DEV_STYLES[style])
    fake.events("preview", "preview-same")
    result = invoke("preview", "--cloud", "local", "--env", "pr-9")
    assert result.exit_code == 0, result.stderr
    from mlops_platform.components.config import read_stack_values

    values = read_stack_values(project / "stacks" / "Pulumi.local-pr-9.yaml")
    assert values == {"env": "pr-9", "owner": "ana", "ttl": "3d", "cloud": "local", "cluster": {"nodeCount": 1}}
