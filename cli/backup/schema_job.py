"""MLflow's schema Job run again after a restore of another stack's backup (AWS, GCP).

An RDS snapshot or a Cloud SQL backup is a whole instance: restored into another stack, it brings
the source stack's roles, and MLflow's own login (mlflow_grants.APP_ROLE) answers to that stack's
password. The master's login is set back through the cloud's API (cli/backup/logins.py); MLflow's
own is set by the schema Job, as the master, from this stack's Secret, with its rights and the
schema upgraded to this stack's MLflow (the backup may be of an older one). The program keeps that
Job's pod as the suspended CronJob `mlflow-db-upgrade` (components/addons/mlflow.py,
names.MLFLOW_SCHEMA_TEMPLATE); this runs a Job from it through the Kubernetes API (the stack's kubeconfig output),
as the in-cluster backups do (cli/backup/in_cluster.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from mlops_platform.components import names
from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused
from mlops_platform.components.data.backup_kit.objects import Progress

from . import in_cluster

SCHEMA_TEMPLATE = names.MLFLOW_SCHEMA_TEMPLATE
JOB = f"{SCHEMA_TEMPLATE}-after-restore"
NAMESPACE = names.NS_MLFLOW


@dataclass(frozen=True)
class SchemaJob:
    kubeconfig: str = field(repr=False)  # holds a client credential or its command

    @cached_property
    def api(self) -> in_cluster.Api:
        from .kube_jobs import JobApi

        return JobApi(self.kubeconfig)

    def check(self) -> None:
        """Refuses, before a restore changes anything, where the cluster has no template to run."""
        if self.api.cronjob(NAMESPACE, SCHEMA_TEMPLATE) is None:
            raise BackupRefused(f"the cluster has no CronJob {NAMESPACE}/{SCHEMA_TEMPLATE}, which gives MLflow its login on a "
                                "restored backup of another stack (deployed by an older platform): run `platform up`, then "
                                "restore again")

    def run(self, progress: Progress) -> None:
        spec = in_cluster.JobSpec(namespace=NAMESPACE, template=SCHEMA_TEMPLATE, name=JOB)
        try:
            in_cluster.run(self.api, spec, progress)
        except (BackupFailed, BackupRefused) as err:
            raise BackupFailed(f"{err}; the restored database is switched in, but MLflow's login there is not set: once the "
                               f"cause is fixed, run kubectl -n {NAMESPACE} create job --from=cronjob/{SCHEMA_TEMPLATE} "
                               f"{JOB}-2") from None
