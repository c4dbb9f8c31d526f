"""The restore of a stack whose data the cluster alone reaches (local, Azure), as a template the CLI
instantiates: a suspended CronJob `mlflow-restore` in the backup Jobs' namespace (backup_jobs.py),
which never runs on its own. `platform restore` creates the Job
`mlflow-restore-run` from its jobTemplate with the backup's id (cli/backup/cluster_target.py), the way
`kubectl create job --from=cronjob/...` does; the Job's fixed name is the lock (Kubernetes creates
one object per name), so a second restore is refused while one runs.

Its pod, step by step (each step a container, the next starts only when the one before succeeded):
  fetch      (the MLflow image, the kit) finds the backup and checks its dump's checksum;
  database   (the postgres image) restores the dump into a new database, mlflow_restore_<suffix>,
             and gives MLflow's login its rights there (restore_database.sh);
  artifacts  (the kit) brings the bucket back to the backup's artifacts;
  switch     (the postgres image) renames the live database aside (mlflow_before_<suffix>) and the
             restored one in (switch.sql): MLflow reconnects to the same name.
Nothing before `switch` touches what MLflow reads from the database; the previous database stays.
The same scripts run in the CLI's cloud restores and on loopback in the drill.
"""

from __future__ import annotations

from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names
from .backup_jobs import (
    GRANTS_FILE,
    KIT_MOUNT,
    WORK,
    BackupJobArgs,
    backup_cronjob,
    cron,
    job_seconds,
    kit_configmap,
    kit_container,
    pod,
    pod_metadata,
    postgres_container,
)
from .backup_kit.record import DUMP

TEMPLATE = "mlflow-restore"  # the suspended CronJob
JOB = "mlflow-restore-run"  # the Job the CLI creates from it: one at a time
STEPS = ("fetch", "database", "artifacts", "switch")
# Set on every container of the Job by the CLI: which backup, whether another stack's, and the
# suffix that names this restore's databases (6 hex digits).
RESTORE_ENV = ("RESTORE_FROM", "RESTORE_FORCE", "RESTORE_SUFFIX")

# A local stack's backup carried to and from the machine that runs the CLI (destroy --keep-data, and
# the `up` after it): the template's `fetch` step, running backup_kit.transfer instead, reached
# through the API server's pod proxy (cli/backup/transfer.py); its pods carry this label, which the
# data namespace's policy admits on the transfer's port (local.py).
TRANSFER_JOB = "mlflow-backup-transfer"
TRANSFER_LABELS = {"app.kubernetes.io/component": "backup-transfer"}

_SUFFIX_CHECK = ('case "${RESTORE_SUFFIX:-}" in *[!0-9a-f]* | "") '
                 'echo "RESTORE_SUFFIX must be hex digits, set by platform restore" >&2; exit 2 ;; esac\n')


def database_script() -> str:
    restored = f'"{names.DATABASE_MLFLOW}_restore_$RESTORE_SUFFIX"'
    return _SUFFIX_CHECK + (f"exec sh {KIT_MOUNT}/restore_database.sh {restored} {WORK}/{DUMP} {KIT_MOUNT}/{GRANTS_FILE}\n")


def switch_script() -> str:
    live = names.DATABASE_MLFLOW
    return _SUFFIX_CHECK + (
        f'restored="{live}_restore_$RESTORE_SUFFIX" keep_as="{live}_before_$RESTORE_SUFFIX"\n'
        f'kept=$(psql -d postgres -X -q -At -v ON_ERROR_STOP=1 -v live={live} -v restored="$restored" -v keep_as="$keep_as" '
        # psql's exit 2 (no connection) is a failed step here, not a refusal: exit 1.
        f"-f {KIT_MOUNT}/switch.sql) || exit 1\n"
        'printf \'{"restoredDatabase":"%s","keptDatabase":"%s"}\\n\' "$restored" "$kept"\n'
    )


def restore_template(name: str, args: BackupJobArgs, parent: pulumi.Resource, provider: Any,
                     depends_on: Sequence[pulumi.Resource]) -> k8s.batch.v1.CronJob:
    """`depends_on`: the kit's ConfigMap among them."""
    init = [
        kit_container("fetch", args, ["python", "-m", "backup_kit.restore", "fetch"]),
        postgres_container("database", args, database_script()),
        kit_container("artifacts", args, ["python", "-m", "backup_kit.restore", "artifacts"]),
    ]
    labels = kube.labels("backup", "restore")
    return k8s.batch.v1.CronJob(
        f"{name}-restore",
        metadata={"name": TEMPLATE, "namespace": args.site.namespace, "labels": labels},
        spec={
            # Never scheduled: a template only. (A schedule is required; this is the backups'.)
            "suspend": True,
            "schedule": cron(args.plan.schedule),
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"metadata": {"labels": labels}, "spec": {
                # A restore is not retried on its own: its failed step is reported, and it is run again by hand.
                "backoffLimit": 0, "activeDeadlineSeconds": job_seconds(args.plan.database_gb), "ttlSecondsAfterFinished": 86400,
                "template": {"metadata": pod_metadata(args, labels),
                             "spec": pod(args, init, [postgres_container("switch", args, switch_script())])}}},
        },
        opts=kube.child(parent, provider, depends_on),
    )


def templates(name: str, args: BackupJobArgs, parent: pulumi.Resource, provider: Any,
              depends_on: Sequence[pulumi.Resource]) -> list[pulumi.Resource]:
    """All a stack's in-cluster backups need: the kit's ConfigMap, the backup's CronJob
    (backup_jobs.py) and the restore's template, in the site's namespace. `depends_on`: what the
    pods read (Secrets, the CA, the store and the database)."""
    kit = kit_configmap(name, args.site.namespace, parent, provider, depends_on)
    ready = [kit, *depends_on]
    return [kit, backup_cronjob(name, args, parent, provider, ready), restore_template(name, args, parent, provider, ready)]
