"""A backup and a restore, step by step, against a Target (the stack's bucket, database and MLflow).

Order matters. A backup dumps (or snapshots) the database before it records the artifacts: an
artifact written in between is then recorded without a run that names it (harmless), never a run
without its artifact. The record is written last, so a folder without one is an unfinished backup
that `backups list` does not show. A restore holds a lock object in the bucket (S3's conditional
write), restores the database into a new one, brings the artifacts back, and only then switches
MLflow to the restored database and checks what MLflow answers.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional, Protocol

from mlops_platform.components.data.backup_kit.catalog import check_stack
from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused
from mlops_platform.components.data.backup_kit.objects import Progress, Restored, Store, manifest_bytes, parse_manifest
from mlops_platform.components.data.backup_kit.record import (
    MANIFEST,
    PREFIX,
    RECORD,
    ArtifactPart,
    BackupRecord,
    Counts,
    DatabasePart,
    folder,
    new_id,
)

from ..registry import Registry
from . import counts as mlflow_counts

LOCK = f"{PREFIX}.restore-lock"


class Database(Protocol):
    def take(self, bucket: Store, folder: str, progress: Progress) -> DatabasePart: ...
    def restore(self, part: DatabasePart, bucket: Store, suffix: str, progress: Progress) -> str: ...
    def switch(self, restored: str, part: DatabasePart, suffix: str) -> Optional[str]: ...
    # Whether restoring `part` replaces the instance's logins with another instance's (a snapshot or
    # backup of another stack's): MLflow's schema Job must then run again (cli/backup/schema_job.py).
    def brings_logins(self, part: DatabasePart) -> bool: ...


class SchemaRun(Protocol):
    def check(self) -> None: ...
    def run(self, progress: Progress) -> None: ...


@dataclass(frozen=True)
class Target:
    stack: str
    cloud: str
    env: str
    bucket: Store
    database: Database
    mlflow: Registry
    insecure: bool = False  # the stack's own CA (local)
    schema_job: Optional[SchemaRun] = None  # AWS, GCP: cli/backup/schema_job.py (from the kubeconfig output)


@dataclass
class Steps:
    """Each step's wall time, in order, for the report and the benchmark."""

    progress: Progress
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, action: Callable[[], Any]) -> Any:
        self.progress(f"{name} ...")
        start = time.monotonic()
        result = action()
        self.seconds[name] = round(time.monotonic() - start, 2)
        return result


@dataclass(frozen=True)
class RestoreReport:
    record: BackupRecord
    restored_database: str
    kept_database: Optional[str]
    artifacts: Restored
    counts: Counts
    seconds: dict[str, float]


def running_versions() -> dict[str, str]:
    """What a backup taken from here records it was taken with: this platform and the MLflow it pins."""
    from importlib.metadata import version

    from mlops_platform.components import versions

    return {"platform": version("mlops-platform"), "mlflow": versions.MLFLOW_IMAGE.tag}


def take_backup(target: Target, progress: Progress,
                versions: Optional[dict[str, str]] = None) -> tuple[BackupRecord, dict[str, float]]:
    """A backup of the target; `versions` recorded with it (by default, running_versions())."""
    versions = versions or running_versions()
    steps = Steps(progress)
    backup_id = new_id()
    where = folder(backup_id)
    before = steps.run("counting what MLflow holds", lambda: mlflow_counts.counts(target.mlflow))
    database = steps.run("backing up the database", lambda: target.database.take(target.bucket, where, progress))

    def artifacts() -> ArtifactPart:
        mode, entries = target.bucket.take_manifest(where, progress)
        target.bucket.put(where + MANIFEST, manifest_bytes(mode, entries))
        return ArtifactPart(mode=mode, manifest=where + MANIFEST, objects=len(entries), bytes=sum(int(e["size"]) for e in entries))

    artifact_part = steps.run("recording the artifacts", artifacts)
    record = BackupRecord(
        id=backup_id, created=datetime.now(timezone.utc), stack=target.stack, cloud=target.cloud, env=target.env,
        platform_version=versions["platform"], mlflow_version=versions["mlflow"],
        database=database, artifacts=artifact_part, counts=before,
    )
    target.bucket.put(where + RECORD, record.dumps())
    return record, steps.seconds


def restore(target: Target, record: BackupRecord, progress: Progress, force: bool = False,
            source: Optional[Target] = None) -> RestoreReport:
    """Restore the backup of `record` (as `find` read it) into the target; with `source`, a backup of
    that stack (kept in its bucket), as a prod backup restored into a `pr-…` environment."""
    origin = source.bucket if source is not None else target.bucket
    backup_id = record.id
    if source is not None and record.stack != source.stack:
        raise BackupRefused(f"backup {backup_id} in stack {source.stack}'s bucket was taken of stack {record.stack}")
    if source is None:
        check_stack(record, target.stack, force)
    raw_manifest = origin.get(record.artifacts.manifest)
    if raw_manifest is None:
        raise BackupFailed(f"backup {backup_id} has lost its artifact manifest ({record.artifacts.manifest})")
    mode, entries = parse_manifest(raw_manifest, record.artifacts.manifest)
    relogin = _schema_job(target, record)
    holder = json.dumps({"backup": backup_id, "host": socket.gethostname(), "pid": os.getpid(),
                         "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode()
    if not target.bucket.put(LOCK, holder, if_absent=True):
        held = (target.bucket.get(LOCK) or b"{}").decode(errors="replace")
        raise BackupRefused(f"a restore is already running on stack {target.stack} ({held[:160]}); "
                            f"wait for it, or remove {target.bucket.url(LOCK)} once you know it stopped")
    steps = Steps(progress)
    suffix = secrets.token_hex(3)  # names this restore's database and what it keeps aside
    try:
        restored = steps.run("restoring the database into a new one",
                             lambda: target.database.restore(record.database, origin, suffix, progress))
        artifacts = steps.run("bringing the artifacts back",
                              lambda: target.bucket.restore(mode, entries, f"{PREFIX}restored-{backup_id}/", progress, source=origin))
        kept = steps.run("switching MLflow to the restored database", lambda: target.database.switch(restored, record.database, suffix))
        if relogin is not None:
            steps.run("giving MLflow its own login, rights and schema there", lambda: relogin.run(progress))
    finally:
        target.bucket.delete(LOCK)
    after = verify(steps, target.mlflow, target.insecure, record)
    return RestoreReport(record=record, restored_database=restored, kept_database=kept, artifacts=artifacts,
                         counts=after, seconds=steps.seconds)


def _schema_job(target: Target, record: BackupRecord) -> Optional[SchemaRun]:
    """The schema Job to run after the switch when the backup brings another instance's logins;
    refuses, before anything changes, where it could not run."""
    if not target.database.brings_logins(record.database):
        return None
    if target.schema_job is None:
        raise BackupRefused(f"backup {record.id} is of another instance ({record.database.source}), whose logins it brings; "
                            f"MLflow's is set back by a Job in the cluster, and stack {target.stack} has no kubeconfig in its "
                            "outputs (is its cluster up?)")
    target.schema_job.check()
    return target.schema_job


def verify(steps: Steps, mlflow: Registry, insecure: bool, record: BackupRecord) -> Counts:
    """After the switch: MLflow answers its health check and lists what the backup recorded."""
    steps.run("waiting for MLflow to be healthy", lambda: mlflow_counts.wait_healthy(mlflow.url, insecure=insecure))
    after: Counts = steps.run("counting what MLflow holds", lambda: mlflow_counts.counts(mlflow))
    if after != record.counts:
        raise BackupFailed(f"MLflow holds {_describe(after)} after the restore, but the backup recorded {_describe(record.counts)}")
    return after


def _describe(c: Counts) -> str:
    return f"{c.experiments} experiments, {c.runs} runs, {c.model_versions} model versions"

