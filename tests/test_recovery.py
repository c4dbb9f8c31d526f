"""What `plan` says a stack can lose and how long a restore takes (planner/recovery.py)."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.planner.recovery import recovery


def _with(config, **database):
    return config.model_copy(update={"database": config.database.model_copy(update=database)})


@pytest.mark.parametrize("stack", ["aws-prod", "azure-prod", "gcp-prod", "aws-dev"])
def test_cloud_stacks_have_point_in_time_recovery_and_a_restore_estimate(stack_config, stack):
    config = stack_config(stack)
    found = recovery(config)
    assert found.rpo_minutes == 5
    assert f"kept {config.backup.retention_days} days" in found.backups
    # The estimate grows with the data to restore.
    bigger = recovery(_with(config, storage_gb=config.database.storage_gb + 200))
    assert bigger.rto_minutes > found.rto_minutes
    assert ("paired region" in found.backups) == (stack == "azure-prod")


def test_azure_restores_in_the_cluster_on_the_same_server(stack_config):
    from mlops_platform.components.data.outputs import DatabaseSpec

    config = stack_config("azure-dev")
    found = recovery(config)
    # 2 min to start the Job, the storage read back at 2 GB a minute, 1 to switch: no new server.
    assert found.rto_minutes == 2 + math.ceil(DatabaseSpec.from_config(config).storage_gb / 2) + 1
    assert "estimate: the restore Job" in found.line()
    assert recovery(stack_config("aws-dev")).rto_minutes > found.rto_minutes


@pytest.mark.parametrize("stack, smallest", [("azure-dev", 32), ("aws-dev", 20), ("gcp-dev", 20)])
def test_a_database_is_never_smaller_than_its_cloud_takes(stack_config, stack, smallest):
    """Flexible Server's storage starts at 32 GiB: what the server, the estimate and the backup Jobs' work folder use."""
    from mlops_platform.components.data.outputs import DatabaseSpec

    assert DatabaseSpec.from_config(_with(stack_config(stack), storage_gb=20)).storage_gb == smallest


def test_high_availability_adds_the_failover_figures(stack_config):
    config = stack_config("aws-dev")
    assert recovery(_with(config, high_availability=False)).failover is None
    assert "RPO 0" in recovery(_with(config, high_availability=True)).failover


def test_local_has_the_daily_backup_cronjobs_point(stack_config):
    config = stack_config("local-dev")
    found = recovery(config.model_copy(update={"backup": config.backup.model_copy(update={"schedule": "22:30"})}))
    assert found.rpo_minutes == 24 * 60 and "daily at 22:30 UTC" in found.backups
    # The restore Job: 2 min to start, the 5 GB claim read back at 2 GB a minute (3), 1 to switch.
    assert found.rto_minutes == 6 and "RTO about 6 min (estimate: the restore Job" in found.line()
    assert found.line().startswith("Recovery: RPO 24 h")


def test_plan_prints_it_and_carries_it_in_json(project, charts_dir, monkeypatch):
    import json

    result = CliRunner().invoke(app, ["plan", "--cloud", "aws", "--env", "prod", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recovery"]["rpoMinutes"] == 5
    text = CliRunner().invoke(app, ["plan", "--cloud", "aws", "--env", "prod"])
    assert "Recovery: RPO 5 min" in text.stdout
