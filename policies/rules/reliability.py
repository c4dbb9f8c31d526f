"""Reliability rules: data survives a mistaken destroy, teardowns wait for load balancers and
volumes, and every Helm release is pinned."""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from .base import Rule, dig

DATA_STORES = (
    "aws:rds/instance:Instance",
    "aws:s3/bucket:Bucket",
    "azure-native:dbforpostgresql:Server",
    "azure-native:storage:StorageAccount",
    "gcp:sql/databaseInstance:DatabaseInstance",
    "gcp:storage/bucket:Bucket",
)
_RANGE = re.compile(r"[*^~xX><=|]| - ")


def prod_data_protected(args: Any, config: Mapping[str, Any]) -> Iterator[str]:
    if config.get("requireProtection") and not args.opts.protect:
        yield f"{args.resource_type.rsplit(':', 1)[-1]} {args.name} holds data but is not protected in this stack"


DATABASES = DATA_STORES[0], DATA_STORES[2], DATA_STORES[4]
MIN_RETENTION_DAYS = 7


def prod_recoverable(args: Any, config: Mapping[str, Any]) -> Iterator[str]:
    """Prod databases keep a week of backups with point-in-time recovery (and on Azure, copies in
    the paired region)."""
    if not config.get("requireRecovery"):
        return
    props, kind = args.props, args.resource_type
    if kind == "aws:rds/instance:Instance":
        # RDS's automated backups are its point-in-time recovery: on with any retention above 0.
        days = props.get("backupRetentionPeriod") or 0
    elif kind == "azure-native:dbforpostgresql:Server":
        days = dig(props, "backup", "backupRetentionDays") or 0
        if dig(props, "backup", "geoRedundantBackup") != "Enabled":
            yield "backups are not geo-redundant (backup.geoRedundantBackup: Enabled)"
    else:
        backup = dig(props, "settings", "backupConfiguration") or {}
        days = dig(backup, "backupRetentionSettings", "retainedBackups") or 0
        if backup.get("enabled") is not True or backup.get("pointInTimeRecoveryEnabled") is not True:
            yield "point-in-time recovery is off (backupConfiguration.enabled and pointInTimeRecoveryEnabled)"
    if days < MIN_RETENTION_DAYS:
        yield f"backups are kept {days} days (at least {MIN_RETENTION_DAYS} in prod)"


def no_deleted_with(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    kind = args.props.get("kind") or args.resource_type.rsplit(":", 1)[-1]
    if kind == "Service" and dig(args.props, "spec", "type") != "LoadBalancer":
        return
    deleted_with = getattr(args.opts, "deleted_with", None)
    if deleted_with:
        yield (f"{kind} {args.name} is deleted_with {deleted_with}: its cloud load balancer or volume would be "
               "orphaned instead of released before the cluster goes")


def helm_pinned(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    version = str(args.props.get("version") or "")
    if not version:
        yield f"Helm release {args.name} has no chart version: a new chart release would be installed silently"
    elif _RANGE.search(version):
        yield f"Helm release {args.name} uses a version range {version!r}: pin one version"


RULES = [
    Rule("reliability-prod-data-protected", "reliability",
         "In prod, databases and buckets carry `protect`, so no destroy or replacement deletes them.",
         "Leave platform:protect unset (prod default) or true; unprotect deliberately with `pulumi state unprotect`.",
         prod_data_protected, DATA_STORES,
         config_schema={"requireProtection": {"type": "boolean", "default": False}}),
    Rule("reliability-prod-database-recoverable", "reliability",
         "In prod, the database keeps at least 7 days of backups with point-in-time recovery, geo-redundant on Azure.",
         "Set backup.retentionDays >= 7 in the stack file (and on Azure leave backup.geoRedundant on).",
         prod_recoverable, DATABASES, config_schema={"requireRecovery": {"type": "boolean", "default": False}}),
    Rule("reliability-no-deleted-with-on-load-balancers-and-volumes", "reliability",
         "LoadBalancer Services and PersistentVolumeClaims are never `deleted_with` the cluster.",
         "Remove deleted_with: let them be deleted (and awaited) before the cluster, so the cloud releases them.",
         no_deleted_with, ("kubernetes:core/v1:Service", "kubernetes:core/v1:PersistentVolumeClaim"),
         engine_note="pulumi_policy does not expose deletedWith to analyzers; `platform plan` checks it from the program"),
    Rule("reliability-helm-chart-pinned", "reliability", "Every Helm release is pinned to one chart version.",
         "Set version to an exact chart version from components/versions.py.", helm_pinned,
         ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")),
]
