"""The Azure stack's backup and restore Jobs, beside MLflow. The storage account takes Entra ID only
and admits the cluster's subnet only, and the Flexible Server has a private address in the VNet:
only the cluster reaches them, so `platform backup`, `backups list` and `restore` run there, as on
local (components/data/backup_jobs.py, restore_jobs.py), in MLflow's namespace:
- as MLflow's service account: its workload identity may write the container (Storage Blob Data
  Contributor), and the namespace's egress already admits the store, the database and Entra ID;
- the database steps connect as the server's admin with the environment MLflow's schema Job uses
  (mlflow.py), over TLS that verifies the server against the CA the stack ships;
- the backup's CronJob is suspended: the server's own daily backups, with their retention and
  point-in-time restore, are the schedule; `platform backup` starts a Job from it by hand.
"""

from __future__ import annotations

from typing import Any, Sequence

import pulumi

from .. import names
from ..data.backup_jobs import BackupSite
from ..data.backup_kit.blob import ACCOUNT_URL_ENV
from ..data.outputs import DataOutputs, WorkloadAccess
from .database_ca import PodTrust


def azure_site(data: DataOutputs, access: WorkloadAccess, trust: PodTrust, admin_env: Sequence[dict[str, Any]]) -> BackupSite:
    """`admin_env`: libpq's environment for the server admin's connections (the schema Job's)."""
    account_url = pulumi.Output.concat("https://", data.object_store.account or "", ".blob.core.windows.net")
    return BackupSite(
        cloud="azure", store_env={ACCOUNT_URL_ENV: account_url},
        db_env=tuple(admin_env), volumes=tuple(trust.volumes), db_mounts=tuple(trust.mounts),
        service_account=names.MLFLOW.service_account,
        pod_labels=dict(access.pod_labels), scheduled=False,
    )
