"""An RDS instance backed up by a manual snapshot and restored into a new instance from it, then
switched in by identifier: the live instance is renamed aside (kept until the user deletes it) and
the restored one takes its identifier, so its endpoint (derived from the identifier) and the stack's
settings stay as they are.
Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RestoreFromSnapshot.html
Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RenameInstance.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from mlops_platform.components import names
from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused
from mlops_platform.components.data.backup_kit.objects import error_code
from mlops_platform.components.data.backup_kit.record import GIB, set_aside

from .logins import lacks_login, require_login

if TYPE_CHECKING:
    from mlops_platform.components.data.backup_kit.objects import Progress, Store
    from mlops_platform.components.data.backup_kit.record import DatabasePart



@dataclass(frozen=True)
class Snapshotted:
    client: Any  # boto3's RDS client
    instance: str
    delay: float = 30.0  # between polls of RDS's waiters (tests against moto poll faster)
    # MLflow's login on this stack's instance (its master password, the stack's `credentials` output):
    # a snapshot of another instance brings that instance's, which MLflow here does not know.
    login: Optional[str] = field(default=None, repr=False)
    # The stack the snapshots are tagged with: a manual snapshot outlives the instance and the stack,
    # and this tag is how the sweep finds it (cli/sweep/aws.py lists it as a backup kept).
    stack: str = ""
    # MLflow's IAM database user (the stack's `data.database.iam_login` output), recorded with each
    # snapshot: a restore of one without it gives MLflow its login again.
    iam_login: Optional[str] = None

    def take(self, bucket: "Store", folder: str, progress: "Progress") -> "DatabasePart":
        from mlops_platform.components.data.backup_kit.record import DatabasePart

        backup_id = folder.rstrip("/").rsplit("/", 1)[-1]
        snapshot = f"{self.instance}-{backup_id}"[:255]
        live = self._describe(self.instance)
        progress(f"snapshot {snapshot} of RDS instance {self.instance}")
        # Tags given here replace the instance's (copyTagsToSnapshot applies only without them), so the
        # stack's tag is given too. Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Tagging.html
        tags = {names.tag_key("aws", "backup"): backup_id, **({names.tag_key("aws", "stack"): self.stack} if self.stack else {})}
        self._call("create_db_snapshot", DBInstanceIdentifier=self.instance, DBSnapshotIdentifier=snapshot,
                   Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        self._wait("db_snapshot_available", DBSnapshotIdentifier=snapshot)
        return DatabasePart(kind="rds-snapshot", ref=snapshot, source=self.instance,
                            bytes=int(live.get("AllocatedStorage", 0)) * GIB, iam_login=self.iam_login)

    def restore(self, part: "DatabasePart", bucket: "Store", suffix: str, progress: "Progress") -> str:
        if part.kind != "rds-snapshot":
            raise BackupRefused(f"the backup's database is a {part.kind}, which an RDS instance cannot restore")
        relogin = self.brings_logins(part)
        if relogin:
            require_login(self.login, part.source, self.instance)
        live = self._describe(self.instance)
        restored = f"{self.instance}-r-{suffix}"
        progress(f"RDS instance {restored} from snapshot {part.ref}")
        self._call(
            "restore_db_instance_from_db_snapshot",
            DBInstanceIdentifier=restored, DBSnapshotIdentifier=part.ref,
            # The restored instance sits where the live one does, as large and as reachable.
            DBInstanceClass=live["DBInstanceClass"],
            DBSubnetGroupName=(live.get("DBSubnetGroup") or {}).get("DBSubnetGroupName", ""),
            VpcSecurityGroupIds=[g["VpcSecurityGroupId"] for g in live.get("VpcSecurityGroups", [])],
            MultiAZ=bool(live.get("MultiAZ")), PubliclyAccessible=False,
            DeletionProtection=bool(live.get("DeletionProtection")),
            # MLflow logs in by IAM token where the live instance takes one (components/data/aws.py).
            EnableIAMDatabaseAuthentication=bool(live.get("IAMDatabaseAuthenticationEnabled")),
            Tags=[t for t in live.get("TagList", []) if not str(t.get("Key", "")).startswith("aws:")],
        )
        self._wait("db_instance_available", DBInstanceIdentifier=restored)
        if relogin:
            # Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RestoreFromSnapshot.html
            # (the restored instance has the snapshot's master user and password).
            progress(f"setting this stack's MLflow login on {restored} (the snapshot has {part.source}'s)")
            self._call("modify_db_instance", DBInstanceIdentifier=restored, MasterUserPassword=self.login, ApplyImmediately=True)
            self._wait("db_instance_available", DBInstanceIdentifier=restored)
        return restored

    def switch(self, restored: str, part: "DatabasePart", suffix: str) -> Optional[str]:
        keep_as = set_aside(self.instance, suffix)
        self._call("modify_db_instance", DBInstanceIdentifier=self.instance, NewDBInstanceIdentifier=keep_as, ApplyImmediately=True)
        self._wait("db_instance_available", DBInstanceIdentifier=keep_as)
        self._call("modify_db_instance", DBInstanceIdentifier=restored, NewDBInstanceIdentifier=self.instance, ApplyImmediately=True)
        self._wait("db_instance_available", DBInstanceIdentifier=self.instance)
        return keep_as

    def brings_logins(self, part: "DatabasePart") -> bool:
        """A snapshot of another instance has its master user and password; one without MLflow's IAM
        user lacks its login (logins.lacks_login)."""
        return lacks_login(part, part.source != self.instance, self.iam_login)

    def _describe(self, instance: str) -> dict[str, Any]:
        found = self._call("describe_db_instances", DBInstanceIdentifier=instance)["DBInstances"]
        return dict(found[0])

    def _wait(self, waiter: str, **params: Any) -> None:
        try:
            self.client.get_waiter(waiter).wait(**params, WaiterConfig={"Delay": self.delay, "MaxAttempts": int(7200 / max(self.delay, 1))})
        except Exception as err:  # noqa: BLE001 - botocore's WaiterError
            raise BackupFailed(f"waiting for {waiter.replace('_', ' ')} ({next(iter(params.values()))}): {str(err)[:160]}") from None

    def _call(self, operation: str, **params: Any) -> Any:
        try:
            return getattr(self.client, operation)(**params)
        except Exception as err:  # noqa: BLE001 - botocore's ClientError
            code = error_code(err)
            what = f"RDS {operation.replace('_', ' ')}"
            if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
                raise BackupRefused(f"{what}: access denied; the credentials in use lack rds:{_action(operation)}") from None
            if code in ("DBInstanceNotFound", "DBInstanceNotFoundFault", "DBSnapshotNotFound", "DBSnapshotNotFoundFault"):
                raise BackupRefused(f"{what}: {str(err).split(':', 1)[-1].strip()[:160]}") from None
            raise BackupFailed(f"{what}: {code or type(err).__name__}: {str(err)[:160]}") from None


def _action(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_")).replace("Db", "DB")
