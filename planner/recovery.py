"""How much a stack can lose and how long getting it back takes: the recovery point objective (RPO)
from its backups and point-in-time recovery, and an estimated restore time (RTO) from the database's
size, shown by `plan` before anything is deployed.

The RPOs are the clouds' documented figures. The restore times are our estimate, not a vendor's
promise: a new instance is provisioned from the backup (PROVISION_MINUTES, an assumption per cloud),
its data restored (RESTORE_GB_PER_MINUTE, an assumption), then MLflow switched to it and checked
(SWITCH_MINUTES). A drill (`platform restore` into a `pr-…` environment) measures the real one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional

# Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIT.html (the latest restorable
#   time is typically within the last 5 minutes)
# Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-business-continuity
#   (transaction logs backed up continuously; a restore takes "a few minutes up to 12 hours")
# Ref: https://cloud.google.com/sql/docs/postgres/backup-recovery/pitr (write-ahead logs archived
#   continuously for point-in-time recovery)
RPO_MINUTES = {"aws": 5, "azure": 5, "gcp": 5}
PROVISION_MINUTES = {"aws": 20, "azure": 20, "gcp": 15}  # assumption: a small instance from a backup
RESTORE_GB_PER_MINUTE = 2.0  # assumption: the data's restore and log replay, per GB of storage
SWITCH_MINUTES = 10  # renames (RDS applies each in minutes), MLflow reconnecting, the checks
# Where `platform restore` runs as a Job in the cluster (local, Azure: components/data/backup_jobs.py):
# the Job starts on images already pulled, pg_restore reads at most the database's storage, and a
# rename on the same server switches it (the loopback drill does it in seconds: benchmarks/).
JOB_MINUTES = 2
JOB_SWITCH_MINUTES = 1
JOB_RESTORE = "the restore Job: the dump into a new database on the same server, then MLflow switched"


@dataclass(frozen=True)
class Recovery:
    rpo_minutes: int
    rto_minutes: Optional[int]  # None: no estimate
    backups: str
    basis: str
    failover: Optional[str] = None  # with high availability: an instance failure's RPO and RTO
    restore: str = "a restore into a new instance, then MLflow switched"  # what the RTO estimate covers

    def to_json(self) -> dict[str, Any]:
        return {"rpoMinutes": self.rpo_minutes, "rtoMinutesEstimate": self.rto_minutes, "backups": self.backups,
                "basis": self.basis, **({"failover": self.failover} if self.failover else {})}

    def line(self) -> str:
        rpo = f"{self.rpo_minutes // 60} h" if self.rpo_minutes and self.rpo_minutes >= 120 else f"{self.rpo_minutes} min"
        text = f"Recovery: RPO {rpo} ({self.basis}); {self.backups}"
        if self.rto_minutes is not None:
            text += f"; RTO about {self.rto_minutes} min (estimate: {self.restore})"
        return text + (f"; {self.failover}" if self.failover else "")


def recovery(config: Any) -> Recovery:  # config: PlatformConfig
    cloud = config.cloud
    if cloud == "local":
        from mlops_platform.components.data.local import DATABASE_STORAGE_GB

        backup = config.backup
        rto = JOB_MINUTES + math.ceil(DATABASE_STORAGE_GB / RESTORE_GB_PER_MINUTE) + JOB_SWITCH_MINUTES
        return Recovery(24 * 60, rto, f"a pg_dump and a copy of the artifacts daily at {backup.schedule} UTC, kept "
                                       f"{backup.retention_days} days in the cluster's own bucket (gone with the cluster)",
                        "the daily backup CronJob", restore=JOB_RESTORE)
    from mlops_platform.components.data.backup_jobs import IN_CLUSTER_CLOUDS
    from mlops_platform.components.data.outputs import DatabaseSpec

    spec = DatabaseSpec.from_config(config)
    restore_minutes = math.ceil(spec.storage_gb / RESTORE_GB_PER_MINUTE)
    # Azure: `platform restore` restores a `platform backup` (a pg_dump) in the cluster, on the same
    # server, rather than provisioning a new one (the server's own PITR restores make a new server).
    in_cluster = cloud in IN_CLUSTER_CLOUDS
    rto = (JOB_MINUTES + restore_minutes + JOB_SWITCH_MINUTES) if in_cluster else (
        PROVISION_MINUTES[cloud] + restore_minutes + SWITCH_MINUTES)
    kept = f"daily backup at {spec.backup_start} UTC kept {spec.backup_retention_days} days"
    if spec.geo_redundant_backup:
        kept += ", copied to the paired region"
    failover = "an instance failure fails over to the standby: RPO 0, RTO 1-2 min" if spec.high_availability else None
    return Recovery(RPO_MINUTES[cloud], rto, kept, "point-in-time recovery from continuously archived logs",
                    failover, **({"restore": JOB_RESTORE} if in_cluster else {}))
