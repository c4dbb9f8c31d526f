"""The local stack's scheduled backups: a CronJob in the data namespace that dumps MLflow's database
(pg_dump, the postgres image) and then, in the MLflow image, runs the backup kit the CLI uses
(components/data/backup_kit/, shipped in a ConfigMap): the dump, a copy of every artifact and the
record go to the in-cluster bucket under backups/<id>/, and backups past the retention are removed.
The clouds back their managed databases up themselves (stack file `backup:`); on kind this is it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names, versions
from ..image_source import ImageSource
from .backup_kit.job import COUNTS_FILE, SCHEMA_FILE
from .backup_kit.record import DUMP

KIT = Path(__file__).resolve().parent / "backup_kit"
KIT_MODULES = ("__init__.py", "errors.py", "record.py", "objects.py", "catalog.py", "job.py", "restore.py",
               "restore_database.sh", "switch.sql")
GRANTS_FILE = "grants.sql"  # TRACKING_GRANTS, which a restored database needs
KIT_CONFIGMAP = "backup-kit"
WORK = "/backup"
KIT_DIR = "/opt/backup"
KIT_MOUNT = f"{KIT_DIR}/backup_kit"
JOB_SECONDS = 3600  # a laptop's registry dumps and copies in minutes; an hour is a hung Job


@dataclass(frozen=True)
class LocalBackupArgs:
    schedule: str  # "HH:MM", UTC
    retention_days: int
    stack: str
    env: str
    platform_version: str
    bucket: str
    endpoint: str
    db_host: str
    db_port: int
    password_file: str  # inside the dump container
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
    return "\n".join([
        f"psql {connect} -XAtc {shlex.quote(counts)} > {folder}/{COUNTS_FILE}",
        f"psql {connect} -XAtc 'SELECT version_num FROM alembic_version' > {folder}/{SCHEMA_FILE}",
        f"pg_dump {connect} --format=custom --no-owner --no-privileges -f {folder}/{DUMP}",
    ]) + "\n"


def kit_files() -> dict[str, str]:
    """The kit's modules and scripts, and the grants a restored database needs, for its ConfigMap."""
    from ..addons.mlflow_grants import TRACKING_GRANTS

    return {**{module: (KIT / module).read_text(encoding="utf-8") for module in KIT_MODULES}, GRANTS_FILE: TRACKING_GRANTS}


def kit_container(name: str, args: LocalBackupArgs, command: Sequence[str]) -> dict[str, Any]:
    """A container that runs the kit in the MLflow image (Python, boto3 and pydantic at a pinned
    version), with the bucket's admin credentials and the stack's identity in its environment."""
    env = {
        "BACKUP_FOLDER": WORK, "BACKUP_BUCKET": args.bucket, "BACKUP_STACK": args.stack, "BACKUP_ENV": args.env,
        "BACKUP_RETENTION_DAYS": str(args.retention_days), "BACKUP_PLATFORM_VERSION": args.platform_version,
        "BACKUP_MLFLOW_VERSION": versions.MLFLOW_IMAGE.tag, "BACKUP_DATABASE": names.DATABASE_MLFLOW,
        "AWS_ENDPOINT_URL": args.endpoint, "AWS_DEFAULT_REGION": "us-east-1", "HOME": "/tmp",
        "PYTHONPATH": KIT_DIR, "PYTHONDONTWRITEBYTECODE": "1",
    }
    return {
        "name": name,
        "image": args.images.ref(versions.MLFLOW_IMAGE),
        "command": list(command),
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "envFrom": [{"secretRef": {"name": "seaweedfs-admin"}}],
        "resources": kube.resources("50m", "128Mi", "512Mi"),
        "securityContext": kube.container_security(),
        "volumeMounts": [{"name": "work", "mountPath": WORK}, {"name": "kit", "mountPath": KIT_MOUNT, "readOnly": True},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }


def postgres_container(name: str, args: LocalBackupArgs, script: str) -> dict[str, Any]:
    """A container in the postgres image (its client tools) that runs `script` with libpq's
    environment pointed at the stack's database; the password is read from the mounted Secret."""
    env = {"PGHOST": args.db_host, "PGPORT": str(args.db_port), "PGUSER": names.DATABASE_USER, "PGSSLMODE": "disable"}
    password = f'PGPASSWORD="$(cat {shlex.quote(args.password_file)})"\nexport PGPASSWORD\n'
    return {
        "name": name,
        "image": args.images.ref(versions.POSTGRES),
        "command": ["/bin/sh", "-c", "set -eu\n" + password + script],
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "resources": kube.resources("50m", "64Mi", "512Mi"),
        "securityContext": kube.container_security(),
        "volumeMounts": [{"name": "work", "mountPath": WORK},
                         {"name": "postgres-password", "mountPath": str(Path(args.password_file).parent), "readOnly": True},
                         {"name": "kit", "mountPath": KIT_MOUNT, "readOnly": True}],
    }


def pod(init_containers: Sequence[dict[str, Any]], containers: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return kube.job_pod(
        70, containers, init_containers=init_containers, fs_group=70, restart_policy="Never",  # 70: the postgres image's user
        volumes=[
            # The dump waits here for the upload (or the restore): as large as the database may grow.
            kube.empty_dir("work", "6Gi"),
            {"name": "postgres-password", "secret": {"secretName": "postgres-credentials"}},
            {"name": "kit", "configMap": {"name": KIT_CONFIGMAP}},
            kube.empty_dir("tmp"),
        ],
    )


def kit_configmap(name: str, parent: pulumi.Resource, provider: Any, depends_on: Sequence[pulumi.Resource]) -> k8s.core.v1.ConfigMap:
    return k8s.core.v1.ConfigMap(
        f"{name}-backup-kit",
        metadata={"name": KIT_CONFIGMAP, "namespace": names.NS_DATA, "labels": kube.labels("backup", "kit")},
        data=kit_files(),
        opts=kube.child(parent, provider, depends_on),
    )


def backup_cronjob(name: str, args: LocalBackupArgs, parent: pulumi.Resource, provider: Any,
                   depends_on: Sequence[pulumi.Resource]) -> k8s.batch.v1.CronJob:
    """`depends_on`: the kit's ConfigMap among them."""
    ns = names.NS_DATA
    dump = postgres_container("dump", args, dump_script(WORK))
    store = kit_container("store", args, ["python", "-m", "backup_kit.job"])
    labels = kube.labels("backup", "scheduled")
    return k8s.batch.v1.CronJob(
        f"{name}-backup",
        metadata={"name": "mlflow-backup", "namespace": ns, "labels": labels},
        spec={
            "schedule": cron(args.schedule),
            # Ref: https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones (GA in 1.27)
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            # A laptop asleep at the hour runs the missed backup when it wakes, within a day.
            "startingDeadlineSeconds": 86400,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": {
                "backoffLimit": 2, "activeDeadlineSeconds": JOB_SECONDS, "ttlSecondsAfterFinished": 7 * 86400,
                "template": {"metadata": {"labels": labels}, "spec": pod([dump], [store])}}},
        },
        opts=kube.child(parent, provider, depends_on),
    )
