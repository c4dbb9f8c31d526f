"""A stack's backups as Jobs in its cluster, for the stacks whose database and store are reachable
only from there (IN_CLUSTER_CLOUDS below): a CronJob `mlflow-backup` that dumps MLflow's database
(pg_dump, the postgres image) and then, in the MLflow image, runs the backup kit the CLI uses
(components/data/backup_kit/, shipped in a ConfigMap): the dump, a copy of every artifact and the
record go to the stack's store under backups/<id>/, and backups past the retention are removed.
The restore's template is restore_jobs.py.

Where the Jobs run and how they reach the data is the stack's BackupSite:
- local (kind): the data namespace, SeaweedFS through its S3 API with the admin keys, the
  in-cluster Postgres with its password file; the CronJob runs on the stack's schedule;
- Azure: MLflow's namespace, as MLflow's service account (its workload identity writes the
  container), the Flexible Server as its admin over verify-full TLS, the way MLflow's schema Job
  connects (components/addons/mlflow_backups.py). The server's own daily backups and PITR are the
  schedule there, so the CronJob is suspended: `platform backup` starts its Job by hand.
"""

from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names, versions
from ..image_source import ImageSource
from .backup_kit.job import COUNTS_FILE, SCHEMA_FILE
from .backup_kit.record import DUMP

KIT = Path(__file__).resolve().parent / "backup_kit"
KIT_MODULES = ("__init__.py", "errors.py", "record.py", "objects.py", "blob.py", "stores.py", "catalog.py", "job.py",
               "restore.py", "transfer.py", "restore_database.sh", "switch.sql")
GRANTS_FILE = "grants.sql"  # TRACKING_GRANTS, which a restored database needs
KIT_CONFIGMAP = "backup-kit"
BACKUP_CRONJOB = "mlflow-backup"
WORK = "/backup"
KIT_DIR = "/opt/backup"
KIT_MOUNT = f"{KIT_DIR}/backup_kit"
# Where each stack whose data only its cluster reaches runs its backup Jobs (its BackupSite's
# namespace): the CLI starts them there (cli/backup/cluster_target.py).
JOB_NAMESPACES = {"local": names.NS_DATA, "azure": names.NS_MLFLOW}
IN_CLUSTER_CLOUDS = tuple(JOB_NAMESPACES)


def job_seconds(database_gb: int) -> int:
    """A backup or restore Job's deadline: an hour, and 2 minutes per GB of the database's storage
    (pg_dump and pg_restore move tens of MB a second on a small server: our generous assumption, four
    times planner/recovery.py's estimate). Past it the Job is ended; the CLI waits as long."""
    return 3600 + 120 * database_gb


@dataclass(frozen=True)
class BackupSite:
    """Where a stack's backup Jobs run and how they reach its database and store."""

    cloud: str  # the record's cloud; the Jobs' namespace is JOB_NAMESPACES[cloud]
    # The kit's store: its environment (stores.open_store), and Secrets with its keys, if any.
    store_env: Mapping[str, pulumi.Input[str]]
    store_secrets: tuple[str, ...] = ()
    # libpq's environment for the database steps (entries with a value or a valueFrom), and a
    # password file read into PGPASSWORD first, if that is how it is given.
    db_env: tuple[Mapping[str, Any], ...] = ()
    password_file: Optional[str] = None
    volumes: tuple[Mapping[str, Any], ...] = ()  # beside the work folder, the kit and /tmp
    db_mounts: tuple[Mapping[str, Any], ...] = ()
    service_account: Optional[str] = None
    pod_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    scheduled: bool = True  # False: a template only, started by `platform backup`

    @property
    def namespace(self) -> str:
        return JOB_NAMESPACES[self.cloud]


@dataclass(frozen=True)
class BackupPlan:
    """What the stack says of its backups, and what each backup records of the stack."""

    schedule: str  # "HH:MM", UTC
    retention_days: int
    stack: str
    env: str
    platform_version: str
    database_gb: int  # the database's storage: the most a dump waiting in the Job's work folder can take

    @staticmethod
    def from_config(config: Any, database_gb: int) -> "BackupPlan":  # config: PlatformConfig
        from importlib.metadata import version

        return BackupPlan(schedule=config.backup.schedule, retention_days=config.backup.retention_days,
                          stack=config.stack_name, env=config.env, platform_version=version("mlops-platform"),
                          database_gb=database_gb)


@dataclass(frozen=True)
class BackupJobArgs:
    plan: BackupPlan
    bucket: pulumi.Input[str]
    site: BackupSite
    images: ImageSource = ImageSource()  # where each image is pulled from (lock, mirror)


def cron(schedule: str) -> str:
    """ "03:00" -> "0 3 * * *" (the CronJob's timeZone says UTC)."""
    hour, minute = (int(part) for part in schedule.split(":"))
    return f"{minute} {hour} * * *"


def dump_script(folder: str) -> str:
    """What the dump container runs after postgres_container's prelude (libpq's environment and the
    password): the counts, the schema revision and the dump, written to `folder`."""
    connect = f"-d {names.DATABASE_MLFLOW}"
    # What MLflow's API lists: every experiment and run (deleted ones too), every model version but
    # those MLflow has deleted internally and prompts' versions (a registered model tagged as a prompt,
    # which the model-version search leaves out).
    counts = ("SELECT (SELECT count(*) FROM experiments), (SELECT count(*) FROM runs), "
              "(SELECT count(*) FROM model_versions v WHERE v.current_stage <> 'Deleted_Internal' AND NOT EXISTS "
              "(SELECT 1 FROM registered_model_tags t WHERE t.name = v.name AND t.key = 'mlflow.prompt.is_prompt' "
              "AND t.value = 'true'))")
    # psql exits 2 when it cannot connect (a server that fails verification, say), which the CLI
    # would read as a refusal: any failure here is a failed step, exit 1.
    return "\n".join(f"{line} || exit 1" for line in [
        f"psql {connect} -XAtc {shlex.quote(counts)} > {folder}/{COUNTS_FILE}",
        f"psql {connect} -XAtc 'SELECT version_num FROM alembic_version' > {folder}/{SCHEMA_FILE}",
        f"pg_dump {connect} --format=custom --no-owner --no-privileges -f {folder}/{DUMP}",
    ]) + "\n"


def kit_files() -> dict[str, str]:
    """The kit's modules and scripts, and the grants a restored database needs, for its ConfigMap."""
    from ..addons.mlflow_grants import TRACKING_GRANTS

    return {**{module: (KIT / module).read_text(encoding="utf-8") for module in KIT_MODULES}, GRANTS_FILE: TRACKING_GRANTS}


def kit_container(name: str, args: BackupJobArgs, command: Sequence[str]) -> dict[str, Any]:
    """A container that runs the kit in the MLflow image (Python, boto3, the Azure Blob client and
    pydantic at a pinned version), with the store's access and the stack's identity in its environment."""
    site = args.site
    env = {
        "BACKUP_FOLDER": WORK, "BACKUP_BUCKET": args.bucket, "BACKUP_STACK": args.plan.stack, "BACKUP_ENV": args.plan.env,
        "BACKUP_CLOUD": site.cloud, "BACKUP_RETENTION_DAYS": str(args.plan.retention_days),
        "BACKUP_PLATFORM_VERSION": args.plan.platform_version, "BACKUP_MLFLOW_VERSION": versions.MLFLOW_IMAGE.tag,
        "BACKUP_DATABASE": names.DATABASE_MLFLOW, **site.store_env, "HOME": "/tmp",
        "PYTHONPATH": KIT_DIR, "PYTHONDONTWRITEBYTECODE": "1",
    }
    container: dict[str, Any] = {
        "name": name,
        "image": args.images.ref(versions.MLFLOW_IMAGE),
        "command": list(command),
        "env": [{"name": key, "value": value} for key, value in env.items()],
    }
    if site.store_secrets:
        container["envFrom"] = [{"secretRef": {"name": secret}} for secret in site.store_secrets]
    return container | {
        "resources": kube.resources("50m", "128Mi", "512Mi"),
        "securityContext": kube.container_security(),
        "volumeMounts": [{"name": "work", "mountPath": WORK}, {"name": "kit", "mountPath": KIT_MOUNT, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }


def postgres_container(name: str, args: BackupJobArgs, script: str) -> dict[str, Any]:
    """A container in the postgres image (its client tools) that runs `script` with libpq's
    environment pointed at the stack's database, as the site gives it."""
    site = args.site
    prelude = ""
    if site.password_file is not None:
        prelude = f'PGPASSWORD="$(cat {shlex.quote(site.password_file)})"\nexport PGPASSWORD\n'
    container: dict[str, Any] = {
        "name": name,
        "image": args.images.ref(versions.POSTGRES),
        "command": ["/bin/sh", "-c", "set -eu\n" + prelude + script],
        "env": [dict(entry) for entry in site.db_env],
    }
    return container | {
        "resources": kube.resources("50m", "64Mi", "512Mi"),
        "securityContext": kube.container_security(),
        "volumeMounts": [{"name": "work", "mountPath": WORK}, *(dict(m) for m in site.db_mounts),
                         {"name": "kit", "mountPath": KIT_MOUNT, "readOnly": True}],
    }


def pod(args: BackupJobArgs, init_containers: Sequence[dict[str, Any]], containers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    site = args.site
    return kube.job_pod(
        70, containers, init_containers=list(init_containers),
        fs_group=70, restart_policy="Never", service_account=site.service_account,  # 70: the postgres image's user
        volumes=[
            # The dump waits here for the upload (or the restore): as large as the database may grow.
            kube.empty_dir("work", f"{args.plan.database_gb + 1}Gi"),
            *(dict(v) for v in site.volumes),
            {"name": "kit", "configMap": {"name": KIT_CONFIGMAP}},
            kube.empty_dir("tmp"),
        ],
    )


def pod_metadata(args: BackupJobArgs, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"labels": {**labels, **args.site.pod_labels}}


def kit_configmap(name: str, namespace: str, parent: pulumi.Resource, provider: Any,
                  depends_on: Sequence[pulumi.Resource]) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        f"{name}-backup-kit",
        metadata={"name": KIT_CONFIGMAP, "namespace": namespace, "labels": kube.labels("backup", "kit")},
        data=kit_files(),
        opts=kube.child(parent, provider, depends_on),
    )


def backup_cronjob(name: str, args: BackupJobArgs, parent: pulumi.Resource, provider: Any,
                   depends_on: Sequence[pulumi.Resource]) -> k8s.batch.v1.CronJob:
    """`depends_on`: the kit's ConfigMap among them."""
    dump = postgres_container("dump", args, dump_script(WORK))
    store = kit_container("store", args, ["python", "-m", "backup_kit.job"])
    labels = kube.labels("backup", "scheduled" if args.site.scheduled else "on-demand")
    # A suspended CronJob never runs on its own; `platform backup` starts its Job.
    # Ref: https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#schedule-suspension
    suspended = {} if args.site.scheduled else {"suspend": True}
    return k8s.batch.v1.CronJob(
        f"{name}-backup",
        metadata={"name": BACKUP_CRONJOB, "namespace": args.site.namespace, "labels": labels},
        spec={
            **suspended,
            "schedule": cron(args.plan.schedule),
            # Ref: https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones (GA in 1.27)
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            # A laptop asleep at the hour runs the missed backup when it wakes, within a day.
            "startingDeadlineSeconds": 86400,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": {
                "backoffLimit": 2, "activeDeadlineSeconds": job_seconds(args.plan.database_gb), "ttlSecondsAfterFinished": 7 * 86400,
                "template": {"metadata": pod_metadata(args, labels), "spec": pod(args, [dump], [store])}}},
        },
        opts=kube.child(parent, provider, depends_on),
    )
