"""The stack a backup or restore works on, from its outputs: the bucket and the database (output
`data`), MLflow (output `endpoints`), and the cloud's clients for them.

On AWS the database is snapshotted by RDS and the bucket read with S3's API; on GCP Cloud SQL takes an
on-demand backup and the bucket is read with Cloud Storage's API: all from where the CLI runs,
through the clouds' control planes. On local both live in the cluster, and on Azure both admit only
the cluster's network: there the work runs in the cluster as Jobs (cli/backup/cluster_target.py)."""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Optional, Union

from mlops_platform.components.data.backup_jobs import IN_CLUSTER_CLOUDS
from mlops_platform.components.data.backup_kit.catalog import list_backups
from mlops_platform.components.data.backup_kit.errors import BackupRefused
from mlops_platform.components.data.backup_kit.objects import Bucket, Progress, Store
from mlops_platform.components.data.backup_kit.record import BackupRecord
from mlops_platform.components.data.outputs import LOGIN_CREDENTIAL

from . import cluster_target
from .cluster_target import ClusterTarget
from .operations import Database, Target, take_backup
from .rds import Snapshotted
from .schema_job import SchemaJob

AnyTarget = Union[Target, ClusterTarget]


def require_mlflow(config: Any, url: str) -> None:
    """What counting MLflow's contents needs from here: its client (an extra) and a sign-in."""
    from mlops_platform.components.cloud_sdks import found

    from ..registry import signed_in

    if not found("mlflow"):
        raise BackupRefused("backups count what MLflow holds with its client, an optional extra: pip install 'mlops-platform[models]'")
    signed_in(config, url)


def target_from(config: Any, outputs: Mapping[str, Any]) -> AnyTarget:
    """`outputs`: the stack's outputs by name (plain values)."""
    from ..project import own_ca_only
    from ..registry import Registry

    if config.cloud in IN_CLUSTER_CLOUDS:
        return cluster_target.target(config, outputs)

    data = outputs.get("data")
    url = (outputs.get("endpoints") or {}).get("mlflow")
    up = f"platform up --cloud {config.cloud} --env {config.env}"
    if not isinstance(data, dict) or not data.get("bucket"):
        raise BackupRefused(f"stack {config.stack_name} has no `data` output, which backups read (deployed by an older "
                            f"platform, or not up): run `{up}` first")
    if not url:
        raise BackupRefused(f"stack {config.stack_name} has no MLflow in its outputs (is mlflow.enabled, and is it up?)")
    require_mlflow(config, url)
    instance = (data.get("database") or {}).get("instance")
    if not instance:
        raise BackupRefused(f"stack {config.stack_name}'s `data` output names no database instance: run `{up}` first")
    # MLflow's database password (a secret output): set back on a restored backup of another instance.
    login = (outputs.get("credentials") or {}).get(LOGIN_CREDENTIAL)
    store, database = (_aws if config.cloud == "aws" else _gcp)(config, data, str(instance), login)
    kubeconfig = outputs.get("kubeconfig")
    return Target(stack=config.stack_name, cloud=config.cloud, env=config.env, bucket=store, database=database,
                  mlflow=Registry(url, insecure=own_ca_only(config)), insecure=own_ca_only(config),
                  schema_job=SchemaJob(str(kubeconfig)) if kubeconfig else None)


def _aws(config: Any, data: Mapping[str, Any], instance: str, login: Optional[str]) -> tuple[Store, Database]:
    from mlops_platform.components.cloud_sdks import found

    if not found("boto3"):
        raise BackupRefused("backups of an AWS stack need boto3, an optional extra: pip install 'mlops-platform[aws]'")
    import boto3

    session = boto3.Session(region_name=data.get("region") or None)
    return Bucket(session.client("s3"), str(data["bucket"])), Snapshotted(session.client("rds"), instance, login=login,
                                                                   stack=config.stack_name, iam_login=_iam_login(data))


def _gcp(config: Any, data: Mapping[str, Any], instance: str, login: Optional[str]) -> tuple[Store, Database]:
    from mlops_platform.components.cloud_sdks import found

    if not (found("google.cloud.storage") and found("googleapiclient")):
        raise BackupRefused("backups of a GCP stack need the Google Cloud clients, an optional extra: pip install 'mlops-platform[gcp]'")
    from .cloudsql import CloudSqlBackup, sqladmin_from_environment
    from .gcs import GcsBucket, google_error

    project = config.gcp.project
    try:
        with warnings.catch_warnings():  # google-api-core's notice about future Python support
            warnings.simplefilter("ignore", FutureWarning)
            from google.cloud import storage

            storage_client = storage.Client(project=project)
            service = sqladmin_from_environment()
    except Exception as err:  # noqa: BLE001 - google.auth's DefaultCredentialsError, a bad endpoint
        raise google_error("opening the Google Cloud clients", err, missing="") from None
    return GcsBucket(storage_client, str(data["bucket"])), CloudSqlBackup(service, project, instance, login=login,
                                                                         iam_login=_iam_login(data))


def _iam_login(data: Mapping[str, Any]) -> Optional[str]:
    """MLflow's IAM database user, as the stack's `data` output names it (none: a password login)."""
    login = (data.get("database") or {}).get("iam_login")
    return str(login) if login else None


def open_target(config: Any, backend: Any, passphrase_file: Any) -> AnyTarget:
    """The deployed stack's target (its outputs read through the engine)."""
    from ..opening import open_engine, require_engine

    require_engine()
    return engine_target(config, open_engine(config, backend, passphrase_file, create=False))


def engine_outputs(config: Any, engine: Any) -> dict[str, Any]:
    """The outputs of the stack `engine` has open, by name (plain values)."""
    from ..running import run_operation

    outputs = run_operation(config, engine.outputs)
    return {name: getattr(value, "value", value) for name, value in outputs.items()}


def engine_target(config: Any, engine: Any) -> AnyTarget:
    """The target of the stack `engine` has open (`up` has one already)."""
    return target_from(config, engine_outputs(config, engine))


def backup_now(target: AnyTarget, progress: Progress) -> tuple[BackupRecord, dict[str, float]]:
    if isinstance(target, ClusterTarget):
        return cluster_target.take_backup(target, progress)
    return take_backup(target, progress)


def backups(target: AnyTarget, progress: Progress) -> list[BackupRecord]:
    if isinstance(target, ClusterTarget):
        return cluster_target.list_backups(target, progress)
    return list_backups(target.bucket)
