"""The Azure stack's backup and restore Jobs, beside MLflow. The storage account takes Entra ID only
and admits the cluster's subnet only, and the Flexible Server has a private address in the VNet:
only the cluster reaches them, so `platform backup`, `backups list` and `restore` run there, as on
local (components/data/backup_jobs.py, restore_jobs.py), in MLflow's namespace:
- as MLflow's service account: its workload identity may write the container (Storage Blob Data
  Contributor), and the namespace's egress already admits the store, the database and Entra ID;
- the database steps connect as the server's admin (the Secret MLflow's schema Job uses), over TLS
  that verifies the server against the CA the stack ships (PG_ENV_SECRET, the CA ConfigMap);
- the backup's CronJob is suspended: the server's own daily backups, with their retention and
  point-in-time restore, are the schedule; `platform backup` starts a Job from it by hand.
"""

from __future__ import annotations

from typing import Any, Sequence

import pulumi

from .. import names
from ..data.backup_jobs import JOB_NAMESPACES, BackupJobArgs, BackupPlan, BackupSite, backup_cronjob, kit_configmap
from ..data.backup_kit.blob import ACCOUNT_URL_ENV
from ..data.outputs import DataOutputs, WorkloadAccess
from ..data.restore_jobs import restore_template
from ..image_source import ImageSource
from .database_ca import PodTrust


def azure_site(data: DataOutputs, access: WorkloadAccess, trust: PodTrust, admin_secret: str) -> BackupSite:
    """`admin_secret`: the server admin's login (keys username, password)."""
    store, db = data.object_store, data.database
    account_url = pulumi.Output.concat("https://", store.account or "", ".blob.core.windows.net")
    libpq: list[dict[str, Any]] = [
        {"name": "PGHOST", "value": db.host},
        {"name": "PGPORT", "value": str(db.port)},
        {"name": "PGUSER", "valueFrom": {"secretKeyRef": {"name": admin_secret, "key": "username"}}},
        {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": admin_secret, "key": "password"}}},
        *({"name": key, "value": value} for key, value in trust.env.items()),
    ]
    return BackupSite(
        cloud="azure", namespace=JOB_NAMESPACES["azure"], store_env={ACCOUNT_URL_ENV: account_url},
        db_env=tuple(libpq), volumes=tuple(trust.volumes), db_mounts=tuple(trust.mounts),
        init_containers=tuple(trust.init_containers), service_account=names.MLFLOW.service_account,
        pod_labels=dict(access.pod_labels), scheduled=False,
    )


def backup_jobs(name: str, plan: BackupPlan, site: BackupSite, data: DataOutputs, images: ImageSource,
                parent: pulumi.Resource, provider: Any, depends_on: Sequence[pulumi.Resource]) -> list[pulumi.Resource]:
    """The kit's ConfigMap, the backup's CronJob and the restore's template. `depends_on`: the
    Secrets and the CA ConfigMap the pods read."""
    args = BackupJobArgs(plan=plan, bucket=data.object_store.bucket, site=site, images=images)
    kit = kit_configmap(name, site.namespace, parent, provider, depends_on)
    ready = [kit, *depends_on]
    return [kit, backup_cronjob(name, args, parent, provider, ready), restore_template(name, args, parent, provider, ready)]
