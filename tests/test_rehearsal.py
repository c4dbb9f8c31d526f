"""The plan of an upgrade rehearsal (planner/rehearsal.py, `upgrade --rehearse --dry-run`): its steps'
commands name the rehearsal environment and the deployed release, the restore is blocked where
`platform restore` does not reach yet, the apply step's time follows what changes, and the health
checks name the rehearsal environment's own endpoints."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from mlops_platform.components.config import PlatformConfig, read_stack_values
from mlops_platform.planner.harness import plan_platform
from mlops_platform.planner.recovery import recovery
from mlops_platform.planner.rehearsal import plan_rehearsal, rehearsal_env
from mlops_platform.planner.upgrade import ReleaseChange, Upgrade
from mlops_platform.planner.upgrade_checks import Finding
from support import STACKS

WINE = {"name": "wine", "format": "mlflow", "storageUri": "s3://models/wine", "drift": {"enabled": False},
        "outlier": {"enabled": False}}  # MLServer: the v2 protocol


def _rehearsal_config(stack: str) -> PlatformConfig:
    cloud, env = stack.split("-", 1)
    values = read_stack_values(STACKS / f"Pulumi.{cloud}-dev.yaml")
    name = rehearsal_env(env)
    models = [*values.get("models", []), WINE]
    return PlatformConfig.from_values({**values, "env": name, "models": models}, "derived", f"{cloud}-{name}")


NOTHING = Upgrade("aws-prod", "1.36", "1.36", [ReleaseChange("mlflow", "mlflow", "1.11.5", "1.11.5")], [])
MIGRATING = Upgrade("aws-prod", "1.36", "1.36", [ReleaseChange("mlflow", "mlflow", "1.10.0", "1.11.5"),
                                                 ReleaseChange("traefik", "traefik", "40.3.0", "40.3.0")],
                    [Finding("ONE_WAY_MIGRATION", "mlflow", "MLflow database", "runs 2 revisions", False)])


@pytest.fixture(scope="module")
def aws_rehearsal():
    config = PlatformConfig.from_stack_file(STACKS / "Pulumi.aws-prod.yaml", "aws-prod")
    rehearsal_config = _rehearsal_config("aws-prod")
    run = plan_platform(rehearsal_config)
    return config, rehearsal_config, run


def test_the_steps_name_the_environment_the_deployed_release_and_the_latest_backup(aws_rehearsal):
    config, rehearsal_config, run = aws_rehearsal
    plan = plan_rehearsal(config, rehearsal_config, run, {"platform": "0.0.9"}, MIGRATING)
    assert plan.env == "rh-prod" and plan.runnable
    stand_up, restore, apply, check, teardown = plan.steps
    assert "pip install 'mlops-platform==0.0.9'" in stand_up.command
    assert stand_up.command.endswith("/tmp/mlops-platform-0.0.9/bin/platform up --cloud aws --env rh-prod --yes")
    assert stand_up.minutes >= 10, "an EKS control plane alone is about 10 min"
    assert restore.command == "platform restore --cloud aws --env rh-prod --from latest --from-env prod --yes"
    assert restore.minutes == recovery(rehearsal_config).rto_minutes and not restore.blocked
    assert apply.command == "platform up --cloud aws --env rh-prod --yes"
    assert teardown.command == "platform destroy --cloud aws --env rh-prod --yes" and teardown.minutes is None
    assert plan.minutes == stand_up.minutes + restore.minutes + apply.minutes + check.minutes
    # Without the release in the record, the step says so instead of guessing one.
    unknown = plan_rehearsal(config, rehearsal_config, run, {}, MIGRATING).steps[0]
    assert "pip install" not in unknown.command and "predates" in unknown.command


def test_the_apply_step_takes_the_time_of_what_changes(aws_rehearsal):
    config, rehearsal_config, run = aws_rehearsal
    nothing = plan_rehearsal(config, rehearsal_config, run, {}, NOTHING).steps[2]
    migrating = plan_rehearsal(config, rehearsal_config, run, {}, MIGRATING).steps[2]
    assert nothing.minutes == 0
    # MLflow's release (about 2 min, planner/critical_path.py) and the migration Job; traefik is unchanged.
    assert migrating.minutes == 3


def test_the_checks_reach_the_rehearsal_environments_own_endpoints(aws_rehearsal):
    config, rehearsal_config, run = aws_rehearsal
    checks = plan_rehearsal(config, rehearsal_config, run, {}, NOTHING).checks
    endpoints = run.result.endpoints
    assert f"MLflow answers GET {endpoints['mlflow']}/health with 200 OK" in checks
    models = [c for c in checks if c.startswith("model ")]
    assert len(models) == len(rehearsal_config.models) > 0
    assert f"model wine ready through Traefik: GET {endpoints['model/wine']}/v2/models/wine/ready" in models
    assert f"model iris ready through Traefik: GET {endpoints['model/iris']}/v1/models/iris" in models
    assert any(c.startswith(f"every Prometheus target up: GET {endpoints['prometheus']}/api/v1/targets") for c in checks)


def test_where_another_environments_backups_are_out_of_reach_the_plan_says_it_cannot_run():
    config = PlatformConfig.from_stack_file(STACKS / "Pulumi.azure-prod.yaml", "azure-prod")
    rehearsal_config = _rehearsal_config("azure-prod")
    plan = plan_rehearsal(config, rehearsal_config, plan_platform(rehearsal_config), {"platform": version("mlops-platform")},
                          NOTHING)
    assert not plan.runnable
    assert "reads another environment's backups on AWS and GCP only: on azure" in plan.steps[1].blocked
    assert "cannot run yet" in "\n".join(plan.lines())


def test_the_rehearsal_environment_is_a_valid_environment_name():
    from mlops_platform.components import names

    for env in ("dev", "prod", "pr-123", "a" * 20):
        name = rehearsal_env(env)
        assert names.ENV_PATTERN.match(name) and name.startswith("rh-"), name
    assert not Path(STACKS / "Pulumi.aws-rh-prod.yaml").exists(), "derived like any ephemeral environment"


def test_the_deployment_record_names_the_release_that_deployed_it(aws_rehearsal):
    from mlops_platform.planner.upgrade import deployment_record

    _, rehearsal_config, run = aws_rehearsal
    assert deployment_record(run, rehearsal_config)["platform"] == version("mlops-platform")
