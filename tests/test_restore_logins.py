"""What a restore of another stack's backup needs from the program on AWS and GCP, where the backup is
a whole instance with that stack's logins (cli/backup/logins.py, cli/backup/schema_job.py): MLflow's
database password among the secret credentials, and the schema Job's pod kept as a suspended template.
The restore itself is tested in tests/test_backup_cli.py (RDS) and tests/test_backup_gcp.py (Cloud SQL,
the template's pod run against PostgreSQL)."""

from __future__ import annotations

import pulumi
import pytest

from mlops_platform.components import names
from mlops_platform.components.addons.mlflow import UPGRADE_JOB


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-prod", "azure-dev", "local-dev"])
def test_the_database_login_is_a_secret_credential_where_a_restore_sets_it_back(stack, stack_config):
    from mlops_platform.components.platform import MlopsPlatform
    from mlops_platform.planner.harness import run_program

    seen: dict = {}

    def program():
        platform = MlopsPlatform("mlops", stack_config(stack))
        platform.credentials.apply(lambda values: seen.update(credentials=values))
        pulumi.Output.secret(platform.data.database.password).apply(lambda value: seen.update(database=value))
        return platform

    run = run_program(program, stack)
    login = seen["credentials"].get("database_password")
    if stack.startswith(("aws", "gcp")):
        assert login == seen["database"] and login in run.secret_values
    else:
        assert login is None, "a restore on local and Azure keeps the server's logins"


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-prod", "azure-dev", "local-dev"])
def test_the_schema_job_is_kept_as_a_suspended_template_where_a_restore_replaces_the_instance(stack, planned):
    resources = planned(stack).resources
    templates = [r for r in resources if r.type == "kubernetes:batch/v1:CronJob"
                 and r.inputs["metadata"]["name"] == names.MLFLOW_SCHEMA_TEMPLATE]
    if not stack.startswith(("aws", "gcp")):
        assert not templates
        return
    [template] = templates
    [job] = [r for r in resources if r.type == "kubernetes:batch/v1:Job" and r.inputs["metadata"]["name"] == UPGRADE_JOB]
    spec = template.inputs["spec"]
    assert spec["suspend"] is True, "a template only: it never runs on its own"
    assert template.inputs["metadata"]["namespace"] == job.inputs["metadata"]["namespace"] == names.NS_MLFLOW
    # The same pod as the schema Job: the same steps, Secrets, trust and labels (its egress).
    assert spec["jobTemplate"]["spec"]["template"] == job.inputs["spec"]["template"]
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 0
    # It waits for what the Job waits for (the Secrets it reads, the database).
    assert set(template.dependencies) == set(job.dependencies)


@pytest.mark.parametrize(("source", "project", "brings"), [
    ("mlops-dev-a1b2", "dev-project", False),  # this instance's own backup
    ("mlops-prod-c3d4", "dev-project", True),  # another instance of the project
    ("mlops-dev-a1b2", "prod-project", True),  # the same name in another project
])
def test_a_cloud_sql_backup_of_another_instance_or_project_brings_its_logins(source, project, brings):
    from mlops_platform.cli.backup.cloudsql import KIND, CloudSqlBackup
    from mlops_platform.components.data.backup_kit.record import DatabasePart

    database = CloudSqlBackup(service=None, project="dev-project", instance="mlops-dev-a1b2", login="x")
    assert database.brings_logins(DatabasePart(kind=KIND, ref="1", source=source, location=project, bytes=0)) is brings
    assert "x" not in repr(database), "the login is never shown"


@pytest.mark.parametrize(("source", "recorded", "stack_login", "lacks"), [
    ("mine", "mlops-dev-mlflow", "mlops-dev-mlflow", False),   # this instance's, with MLflow's IAM user
    ("mine", None, "mlops-dev-mlflow", True),                  # this instance's, taken before that user
    ("mine", None, None, False),                               # a password login: nothing to give back
    ("mine", "mlops-prod-mlflow", "mlops-dev-mlflow", True),   # another stack's user (an instance renamed in)
    ("other", "mlops-dev-mlflow", "mlops-dev-mlflow", True),   # another instance's logins
])
def test_a_restore_gives_mlflow_its_login_again_where_the_backup_lacks_it(source, recorded, stack_login, lacks):
    from mlops_platform.cli.backup.cloudsql import CloudSqlBackup
    from mlops_platform.cli.backup.rds import Snapshotted
    from mlops_platform.components.data.backup_kit.record import DatabasePart

    instance = "mlops-dev-a1b2" if source == "mine" else "mlops-prod-c3d4"
    for database, kind in ((Snapshotted(None, "mlops-dev-a1b2", iam_login=stack_login), "rds-snapshot"),
                           (CloudSqlBackup(None, "p", "mlops-dev-a1b2", iam_login=stack_login), "cloudsql-backup")):
        part = DatabasePart(kind=kind, ref="1", source=instance, location="p", bytes=0, iam_login=recorded)
        assert database.brings_logins(part) is lacks, (kind, source, recorded, stack_login)
