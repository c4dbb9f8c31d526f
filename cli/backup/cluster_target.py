"""`platform backup`, `backups list` and `restore` on a stack whose database and store only its
cluster reaches: local (kind), and Azure (the storage account and the Flexible Server admit the
cluster's network only). Each runs there as a Job (cli/backup/in_cluster.py), in the namespace of
the stack's backup Jobs (components/data/backup_jobs.py JOB_NAMESPACES): a backup is the
`mlflow-backup` CronJob's own Job started now; a restore and the list run from the suspended
`mlflow-restore` template (components/data/restore_jobs.py). What is checked from here is the
same as on the other clouds: MLflow's health and what it lists after the restore."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from mlops_platform.components.data import restore_jobs
from mlops_platform.components.data.backup_jobs import BACKUP_CRONJOB, JOB_NAMESPACES
from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused
from mlops_platform.components.data.backup_kit.objects import Progress, Restored
from mlops_platform.components.data.backup_kit.record import BackupRecord, parse

from ..registry import Registry
from . import in_cluster
from .in_cluster import JobSpec
from .operations import RestoreReport, Steps, verify


@dataclass(frozen=True)
class ClusterTarget:
    """The cluster's API and the Jobs' namespace (the Jobs carry the stack's identity), and MLflow,
    for the restore's checks."""

    api: in_cluster.Api
    namespace: str
    mlflow: Registry
    insecure: bool = True  # the stack's own CA


def target(config: Any, outputs: Mapping[str, Any]) -> ClusterTarget:
    from ..project import own_ca_only
    from .kube_jobs import JobApi

    up = f"platform up --cloud {config.cloud} --env {config.env}"
    kubeconfig = outputs.get("kubeconfig")
    url = (outputs.get("endpoints") or {}).get("mlflow")
    if not kubeconfig:
        raise BackupRefused(f"stack {config.stack_name} has no kubeconfig in its outputs (is its cluster up?): run `{up}` first")
    if not url:
        raise BackupRefused(f"stack {config.stack_name} has no MLflow in its outputs (is mlflow.enabled, and is it up?)")
    # No sign-in here: a backup and the list run wholly in the cluster (the restore asks for one,
    # as it checks what MLflow lists afterwards).
    return ClusterTarget(api=JobApi(str(kubeconfig)), namespace=JOB_NAMESPACES[config.cloud],
                         mlflow=Registry(url, insecure=own_ca_only(config)), insecure=own_ca_only(config))


def _record(document: Any, where: str) -> BackupRecord:
    return parse(json.dumps(document).encode(), where)


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")


def take_backup(target: ClusterTarget, progress: Progress) -> tuple[BackupRecord, dict[str, float]]:
    steps = Steps(progress)
    spec = JobSpec(namespace=target.namespace, template=BACKUP_CRONJOB, name=f"{BACKUP_CRONJOB}-manual-{_stamp()}")
    out = steps.run("backing up in the cluster", lambda: in_cluster.run(target.api, spec, progress))
    if "store" not in out:
        raise BackupFailed(f"Job {target.namespace}/{spec.name} finished without a backup record")
    return _record(out["store"].get("record"), f"Job {spec.name}"), steps.seconds


def list_backups(target: ClusterTarget, progress: Progress) -> list[BackupRecord]:
    spec = JobSpec(namespace=target.namespace, template=restore_jobs.TEMPLATE, name=f"mlflow-backups-list-{_stamp()}",
                   only=("fetch", ("python", "-m", "backup_kit.restore", "list")))
    out = in_cluster.run(target.api, spec, progress)
    target.api.delete_job(target.namespace, spec.name)  # read: nothing in it to keep
    return [_record(document, f"Job {spec.name}") for document in out.get("fetch", {}).get("backups", [])]


def restore(target: ClusterTarget, backup_id: str, force: bool, progress: Progress) -> RestoreReport:
    suffix = secrets.token_hex(3)  # names this restore's database and what it keeps aside
    env = dict(zip(restore_jobs.RESTORE_ENV, (backup_id, "1" if force else "0", suffix), strict=True))
    spec = JobSpec(namespace=target.namespace, template=restore_jobs.TEMPLATE, name=restore_jobs.JOB, env=tuple(env.items()))
    steps = Steps(progress)
    out = steps.run("restoring in the cluster", lambda: in_cluster.run(target.api, spec, progress))
    missing = [step for step in ("fetch", "artifacts", "switch") if step not in out]
    if missing:
        raise BackupFailed(f"Job {target.namespace}/{spec.name} finished without the result of {', '.join(missing)}")
    record = _record(out["fetch"].get("record"), f"Job {spec.name}")
    counts = out["artifacts"].get("artifacts", {})
    artifacts = Restored(restored=int(counts.get("restored", 0)), removed=int(counts.get("removed", 0)),
                         unchanged=int(counts.get("unchanged", 0)))
    after = verify(steps, target.mlflow, target.insecure, record)
    return RestoreReport(record=record, restored_database=str(out["switch"]["restoredDatabase"]),
                         kept_database=str(out["switch"]["keptDatabase"]) or None, artifacts=artifacts, counts=after,
                         seconds=steps.seconds)
