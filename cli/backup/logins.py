"""MLflow's database login across a restore of another instance's backup.

An RDS snapshot and a Cloud SQL backup carry the logins of the instance they were taken of: restored
into another stack (a prod backup into a `pr-…` environment, `restore --from-env`), the database
answers to prod's MLflow password, not to the one this stack's MLflow reads from its Secret. So the
restore sets this stack's password back on MLflow's login, from the stack's `credentials` output,
before MLflow is switched to it. A backup of the same instance has the same login and needs nothing,
unless MLflow logs in as an IAM user the backup does not hold (lacks_login).
Ref: https://cloud.google.com/sql/docs/postgres/backup-recovery/restore (databases and users are restored)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from mlops_platform.components.data.backup_kit.errors import BackupRefused

if TYPE_CHECKING:
    from mlops_platform.components.data.backup_kit.record import DatabasePart


def lacks_login(part: "DatabasePart", foreign: bool, iam_login: Optional[str]) -> bool:
    """Whether restoring `part` leaves MLflow without its login: a backup of another instance (its
    logins), or, where MLflow logs in as an IAM user, a backup that does not hold that user's rights
    (another stack's user, or one taken before MLflow had it)."""
    return foreign or (iam_login is not None and part.iam_login != iam_login)


def require_login(login: Optional[str], source: str, instance: str) -> None:
    """Refuses, before anything changes, a restore of another instance's backup that could not give
    MLflow its login back (a stack deployed before its outputs carried the login)."""
    if not login:
        raise BackupRefused(f"the backup is of instance {source}, whose logins it brings, and this stack's outputs carry no "
                            f"database login to set back on {instance} (deployed by an older platform): run `platform up`, "
                            "then restore again")
