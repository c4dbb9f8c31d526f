"""The stack a backup or restore works on, from its outputs: the bucket and the database (output
`data`), MLflow (output `endpoints`), and the cloud's clients for them.

On AWS the database is snapshotted by RDS and the bucket read with S3's API, both from where the
CLI runs. Elsewhere the database is reachable only inside the cluster's network, so `platform backup`
does not reach it from outside yet (see README, Backup and restore)."""

from __future__ import annotations

from typing import Any, Mapping

from mlops_platform.components.data.backup_kit.errors import BackupRefused
from mlops_platform.components.data.backup_kit.objects import Bucket

from .operations import Target
from .rds import Snapshotted


def target_from(config: Any, outputs: Mapping[str, Any]) -> Target:
    """`outputs`: the stack's outputs by name (plain values)."""
    from ..project import own_ca_only
    from ..registry import Registry, signed_in

    data = outputs.get("data")
    url = (outputs.get("endpoints") or {}).get("mlflow")
    up = f"platform up --cloud {config.cloud} --env {config.env}"
    if not isinstance(data, dict) or not data.get("bucket"):
        raise BackupRefused(f"stack {config.stack_name} has no `data` output, which backups read (deployed by an older "
                            f"platform, or not up): run `{up}` first")
    if not url:
        raise BackupRefused(f"stack {config.stack_name} has no MLflow in its outputs (is mlflow.enabled, and is it up?)")
    if config.cloud != "aws":
        raise BackupRefused(f"`platform backup` and `restore` reach the database of an AWS stack only so far; on {config.cloud} "
                            "it is inside the cluster's network (README: Backup and restore says what protects it meanwhile)")
    signed_in(config, url)
    from mlops_platform.components.cloud_sdks import found

    if not found("mlflow"):
        raise BackupRefused("backups count what MLflow holds with its client, an optional extra: pip install 'mlops-platform[models]'")
    if not found("boto3"):
        raise BackupRefused("backups of an AWS stack need boto3, an optional extra: pip install 'mlops-platform[aws]'")
    import boto3

    session = boto3.Session(region_name=data.get("region") or None)
    instance = (data.get("database") or {}).get("instance")
    if not instance:
        raise BackupRefused(f"stack {config.stack_name}'s `data` output names no database instance: run `{up}` first")
    return Target(stack=config.stack_name, cloud=config.cloud, env=config.env,
                  bucket=Bucket(session.client("s3"), str(data["bucket"])),
                  database=Snapshotted(session.client("rds"), str(instance)),
                  mlflow=Registry(url, insecure=own_ca_only(config)), insecure=own_ca_only(config))


def open_target(config: Any, backend: Any, passphrase_file: Any) -> Target:
    """The deployed stack's target (its outputs read through the engine)."""
    from ..opening import open_engine, require_engine

    require_engine()
    return engine_target(config, open_engine(config, backend, passphrase_file, create=False))


def engine_target(config: Any, engine: Any) -> Target:
    """The target of the stack `engine` has open (`up` has one already)."""
    from ..running import run_operation

    outputs = run_operation(config, engine.outputs)
    return target_from(config, {name: getattr(value, "value", value) for name, value in outputs.items()})
