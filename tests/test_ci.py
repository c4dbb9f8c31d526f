"""CI/CD: the workflows `platform ci init` writes and the project's own, validated against GitHub's
workflow schema (SchemaStore, ../shared/schemas/github) and checked for their hardening."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.cli.ci import actions, github
from mlops_platform.components import versions
from support import ROOT

SHA_PIN = re.compile(r"^uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40})  # (v\d+\.\d+\.\d+)$")
CLOUD_KEY_INPUTS = {"aws-access-key-id", "aws-secret-access-key", "aws-session-token", "client-secret", "creds",
                    "credentials_json", "credentials"}


def load(text: str) -> dict[str, Any]:
    """A workflow as GitHub reads it: YAML 1.1 loaders read a bare `on` key as True; map it back."""
    document = yaml.safe_load(text)
    if True in document:
        document["on"] = document.pop(True)
    return document


@pytest.fixture(scope="module")
def workflow_schema(schemas_dir):
    import jsonschema

    schema = json.loads((schemas_dir / "github" / "github-workflow.json").read_text())
    return jsonschema.Draft7Validator(schema)


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    stacks = [("local", "dev"), ("aws", "dev"), ("aws", "prod"), ("azure", "dev"), ("azure", "prod"),
              ("gcp", "dev"), ("gcp", "prod")]
    return github.workflows(stacks, ["aws", "azure", "gcp"])


def own_workflows() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / ".github" / "workflows").glob("*.yml"))}


def steps(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, job in document["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


# --- schema --------------------------------------------------------------------------------------


def test_generated_workflows_are_valid(generated, workflow_schema):
    assert set(generated) == {"platform-plan.yml", "platform-preview.yml", "platform-deploy.yml",
                              "platform-drift.yml", "platform-pr-env.yml", "platform-images-lock.yml",
                              "platform-mlflow-image.yml"}
    for name, text in generated.items():
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in workflow_schema.iter_errors(load(text))]
        assert not errors, f"{name}: {errors}"


def test_the_projects_own_workflow_is_valid(workflow_schema):
    files = own_workflows()
    assert "ci.yml" in files
    for name, text in files.items():
        errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in workflow_schema.iter_errors(load(text))]
        assert not errors, f"{name}: {errors}"


def test_the_schema_catches_a_broken_workflow(generated, workflow_schema):
    """The check above can fail: a job without runs-on, an unknown key."""
    document = load(generated["platform-plan.yml"])
    del document["jobs"]["plan"]["runs-on"]
    document["jobs"]["comment"]["timeout"] = 5
    assert len(list(workflow_schema.iter_errors(document))) >= 2


# --- hardening -----------------------------------------------------------------------------------


def all_workflows(generated) -> dict[str, str]:
    return {**generated, **{f"own/{k}": v for k, v in own_workflows().items()}}


def test_least_privilege_timeouts_and_concurrency(generated):
    for name, text in all_workflows(generated).items():
        document = load(text)
        assert document["permissions"] == {}, f"{name}: workflow-wide permissions must be empty"
        for job_name, job in document["jobs"].items():
            where = f"{name}:{job_name}"
            assert "permissions" in job and "timeout-minutes" in job, where
            granted = {k for k, v in job["permissions"].items() if v == "write"}
            logs_in = any("uses" in s and s["uses"].split("@")[0] in (actions.AWS_CREDENTIALS.repo, actions.AZURE_LOGIN.repo,
                                                                       actions.GCP_AUTH.repo) for s in job.get("steps", []))
            assert ("id-token" in granted) == logs_in, f"{where}: id-token only where a cloud login uses it"
            # Only the image lock's job pushes (a branch, for a pull request) and only the MLflow image's
            # writes packages; neither runs a pull request's code.
            allowed = ({"id-token", "pull-requests", "issues"} | ({"contents"} if name.endswith("platform-images-lock.yml") else set())
                       | ({"packages"} if name.endswith("platform-mlflow-image.yml") else set()))
            assert granted <= allowed, where
            if any("platform up" in s.get("run", "") or "platform destroy" in s.get("run", "") for s in job.get("steps", [])):
                group = job["concurrency"]["group"]
                assert group.startswith("platform-") and job["concurrency"]["cancel-in-progress"] is False, where
            for step in job.get("steps", []):
                if step.get("uses", "").startswith(actions.CHECKOUT.repo):
                    assert step["with"]["persist-credentials"] is False, where


def test_no_long_lived_keys_and_no_expressions_in_scripts(generated):
    for name, text in all_workflows(generated).items():
        assert set(re.findall(r"secrets\.(\w+)", text)) <= {"PULUMI_CONFIG_PASSPHRASE"}, name
        for job_name, step in steps(load(text)):
            assert not CLOUD_KEY_INPUTS & set(step.get("with") or {}), f"{name}:{job_name}: {step.get('with')}"
            # Values reach a script through env:, never spliced into it (script injection).
            assert "${{" not in step.get("run", ""), f"{name}:{job_name}: expression inside a script"


def test_cloud_logins_are_oidc(generated):
    preview = load(generated["platform-preview.yml"])
    by_cloud = {job["env"]["CLOUD"]: job for job in preview["jobs"].values()}
    assert set(by_cloud) == {"aws", "azure", "gcp"}
    logins = {cloud: [s for s in job["steps"] if "uses" in s and "/auth@" in s["uses"] or "login@" in s.get("uses", "")
                      or "credentials@" in s.get("uses", "")] for cloud, job in by_cloud.items()}
    assert logins["aws"][0]["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert set(logins["azure"][0]["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert set(logins["gcp"][0]["with"]) == {"workload_identity_provider", "service_account"}


def test_the_hardening_check_catches_a_tag_and_a_key(generated):
    bad = generated["platform-deploy.yml"].replace(f"uses: {actions.CHECKOUT.ref}  # {actions.CHECKOUT.version}",
                                                   "uses: actions/checkout@v4", 1)
    assert not all(SHA_PIN.match(line.strip().removeprefix("- ")) for line in bad.splitlines()
                   if line.strip().removeprefix("- ").startswith("uses:"))


def test_what_each_workflow_runs(generated):
    plan = load(generated["platform-plan.yml"])
    assert plan["on"] == {"pull_request": {}}
    stacks = [m["stack"] for m in plan["jobs"]["plan"]["strategy"]["matrix"]["include"]]
    assert stacks == ["local-dev", "aws-dev", "aws-prod", "azure-dev", "azure-prod", "gcp-dev", "gcp-prod"]
    script = plan["jobs"]["plan"]["steps"][4]["run"]
    assert '--compare "$RUNNER_TEMP/base.json" --format markdown' in script
    assert "secrets" not in generated["platform-plan.yml"] and "id-token" not in generated["platform-plan.yml"]
    deploy = load(generated["platform-deploy.yml"])["jobs"]
    assert deploy["up-aws-prod"]["needs"] == ["up-aws-dev"] and deploy["up-aws-prod"]["environment"] == "aws-prod"
    assert "needs" not in deploy["up-aws-dev"]
    drift = load(generated["platform-drift.yml"])
    assert drift["on"]["schedule"] and "--expect-no-changes" in drift["jobs"]["drift"]["steps"][-1]["run"]
    assert drift["jobs"]["report"]["if"] == "failure()"
    pr = load(generated["platform-pr-env.yml"])["jobs"]
    assert pr["up"]["env"]["STACK_ENV"] == "pr-${{ github.event.pull_request.number }}"
    assert "platform destroy" in pr["down"]["steps"][-1]["run"] and "--yes" in pr["down"]["steps"][-1]["run"]
    assert "'preview-env'" in pr["up"]["if"]
    lock = load(generated["platform-images-lock.yml"])
    assert set(lock["on"]) == {"schedule", "workflow_dispatch"}, "never on a pull request's code"
    job = lock["jobs"]["lock"]
    assert "environment" not in job and "secrets." not in generated["platform-images-lock.yml"]
    script = job["steps"][-1]["run"]
    assert job["steps"][-1]["env"]["PLATFORM_IMAGES_LOCK"] == "components/images.lock.json", "the checkout's lock"
    assert "platform images lock" in script and "-- components/images.lock.json" in script and "gh pr create" in script
    image = load(generated["platform-mlflow-image.yml"])
    assert set(image["on"]) == {"push", "workflow_dispatch"} and image["on"]["push"]["paths"] == ["images/mlflow/**"]
    build = image["jobs"]["build"]
    assert build["permissions"] == {"contents": "read", "packages": "write"} and "environment" not in build
    assert "docker build --pull" in build["steps"][-1]["run"] and build["steps"][-1]["env"]["TAG"] == "3.15.1"


def test_the_pulumi_cli_they_install_is_the_sdks_release():
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"pulumi=={versions.PULUMI_CLI_VERSION}" in pins


# --- the project's own CI ------------------------------------------------------------------------


def test_the_project_ci_runs_lint_types_and_the_readme_tests():
    document = load(own_workflows()["ci.yml"])
    runs = "\n".join(s.get("run", "") for _, s in steps(document))
    ci_run = (ROOT / ".ci" / "run").read_text()
    for command in ("ruff check .", "python tools/typecheck.py"):
        assert command in runs and command in ci_run
    assert "pip install -e '.[test]' && python -m pytest" in runs
    assert document["jobs"]["test"]["strategy"]["matrix"]["python"] == ["3.11", "3.13"]
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["mypy"]["check_untyped_defs"] is True and "select" in config["tool"]["ruff"]["lint"]


# --- the command ---------------------------------------------------------------------------------


def test_dry_run_prints_and_writes_nothing(project):
    result = CliRunner().invoke(app, ["ci", "init", "--provider", "github", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("# --- platform-") == 7
    assert not (project / ".github").exists()


def test_init_writes_refuses_to_clobber_and_forces(project):
    result = CliRunner().invoke(app, ["ci", "init", "--provider", "github", "--clouds", "aws"])
    assert result.exit_code == 0, result.output
    folder = project / ".github" / "workflows"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["platform-plan.yml", "platform-preview.yml", "platform-deploy.yml", "platform-drift.yml", "platform-pr-env.yml",
         "platform-images-lock.yml", "platform-mlflow-image.yml"])
    deploy = load((folder / "platform-deploy.yml").read_text())
    assert set(deploy["jobs"]) == {"up-aws-dev", "up-aws-prod"}
    again = CliRunner().invoke(app, ["ci", "init", "--provider", "github", "--clouds", "aws"])
    assert again.exit_code == 0, "identical files are no clash"
    (folder / "platform-plan.yml").write_text("# edited\n")
    clash = CliRunner().invoke(app, ["ci", "init", "--provider", "github", "--clouds", "aws"])
    assert clash.exit_code == 2 and "platform-plan.yml exists and differs" in clash.stderr
    assert (folder / "platform-plan.yml").read_text() == "# edited\n"
    forced = CliRunner().invoke(app, ["ci", "init", "--provider", "github", "--clouds", "aws", "--force"])
    assert forced.exit_code == 0 and (folder / "platform-plan.yml").read_text().startswith("# Written by")


@pytest.mark.parametrize("args, fragment", [
    (["--provider", "gitlab"], "'gitlab' is not one of 'github'"),
    (["--provider", "github", "--clouds", "aws,mars"], "--clouds aws,mars: mars is not one of aws, azure, gcp"),
    (["--provider", "github", "--clouds", ","], "--clouds ,: empty is not one of"),
])
def test_bad_input_exits_2(project, args, fragment):
    result = CliRunner().invoke(app, ["ci", "init", *args, "--dry-run"])
    assert result.exit_code == 2
    assert fragment in result.stderr and result.stdout == ""


def test_plan_only(project):
    result = CliRunner().invoke(app, ["ci", "init", "--provider", "github", "--clouds", "none", "--dry-run"])
    assert result.exit_code == 0 and result.stdout.count("# --- platform-") == 3


def test_a_cloud_without_a_dev_stack_is_refused(project: Path):
    (project / "stacks" / "Pulumi.gcp-dev.yaml").unlink()
    result = CliRunner().invoke(app, ["ci", "init", "--provider", "github", "--clouds", "gcp", "--dry-run"])
    assert result.exit_code == 2 and "no stack file stacks/Pulumi.gcp-dev.yaml" in result.stderr
