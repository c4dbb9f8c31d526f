"""A Cloud SQL instance backed up by an on-demand backup and restored from it in place, after a clone
of the live instance is set aside.

Cloud SQL cannot rename an instance, and MLflow reaches the stack's by its private address, so the
switch RDS does by identifier is done the other way round: first the live instance is cloned as
`<instance>-before-<suffix>` (what it holds now, kept until the user deletes it), then the backup
is restored onto the live instance itself, whose name, address and settings stay. A backup of
another instance (prod's, into a `pr-…` environment) is restored the same way, naming its source.
Ref: https://cloud.google.com/sql/docs/postgres/backup-recovery/backing-up#on-demand
Ref: https://cloud.google.com/sql/docs/postgres/backup-recovery/restoring#projectid
Ref: https://cloud.google.com/sql/docs/postgres/clone-instance
The client is the Cloud SQL Admin API v1 through google-api-python-client (its bundled discovery
document: nothing is fetched to build it). CLOUDSDK_API_ENDPOINT_OVERRIDES_SQLADMIN, gcloud's own
setting, points it elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

from mlops_platform.components import names
from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused
from mlops_platform.components.data.backup_kit.record import GIB, set_aside
from mlops_platform.components.data.outputs import CLOUD_SQL_IAM_USER

from .gcs import google_error
from .logins import lacks_login, require_login

if TYPE_CHECKING:
    from mlops_platform.components.data.backup_kit.objects import Progress, Store
    from mlops_platform.components.data.backup_kit.record import DatabasePart

KIND = "cloudsql-backup"


@dataclass(frozen=True)
class CloudSqlBackup:
    service: Any  # googleapiclient's sqladmin v1 resource
    project: str
    instance: str
    delay: float = 15.0  # at most between polls of an operation (the first come after 1, 2, 4, 8 s)
    timeout: float = 7200.0
    # MLflow's login on this stack's instance (the stack's `credentials` output): a backup of another
    # instance brings that instance's users and passwords (cli/backup/logins.py).
    login: Optional[str] = field(default=None, repr=False)
    # MLflow's IAM database user (the stack's `data.database.iam_login` output): it logs in as its
    # service account, a user the backup of another instance lacks (components/data/gcp.py _iam_login).
    iam_login: Optional[str] = None

    def take(self, bucket: "Store", folder: str, progress: "Progress") -> "DatabasePart":
        from mlops_platform.components.data.backup_kit.record import DatabasePart

        backup_id = folder.rstrip("/").rsplit("/", 1)[-1]
        live = self._instance(self.instance)
        progress(f"on-demand backup of Cloud SQL instance {self.instance}")
        operation = self._call("starting a backup", self.service.backupRuns().insert(
            project=self.project, instance=self.instance, body={"description": backup_description(backup_id)}))
        done = self._wait(operation, f"the backup of {self.instance}")
        run = (done.get("backupContext") or {}).get("backupId")
        if not run:
            raise BackupFailed(f"Cloud SQL reported the backup of {self.instance} done without naming it (operation {done.get('name')})")
        size = int((live.get("settings") or {}).get("dataDiskSizeGb") or 0) * GIB
        return DatabasePart(kind=KIND, ref=str(run), source=self.instance, location=self.project, bytes=size,
                            iam_login=self.iam_login)

    def restore(self, part: "DatabasePart", bucket: "Store", suffix: str, progress: "Progress") -> str:
        """Sets the live instance's data aside as a clone; the backup goes onto it at the switch."""
        if part.kind != KIND:
            raise BackupRefused(f"the backup's database is a {part.kind}, which a Cloud SQL instance cannot restore")
        if self.brings_logins(part):
            require_login(self.login, f"{part.location}/{part.source}", self.instance)
        aside = self._aside(suffix)
        progress(f"Cloud SQL clone of {self.instance} as {aside}, to keep what it holds now")
        operation = self._call(f"cloning {self.instance}", self.service.instances().clone(
            project=self.project, instance=self.instance, body={"cloneContext": {"destinationInstanceName": aside}}))
        self._wait(operation, f"the clone {aside}")
        return self.instance

    def switch(self, restored: str, part: "DatabasePart", suffix: str) -> Optional[str]:
        context = {"backupRunId": int(part.ref), "instanceId": part.source, "project": part.location or self.project}
        operation = self._call(f"restoring backup {part.ref} onto {restored}", self.service.instances().restoreBackup(
            project=self.project, instance=restored, body={"restoreBackupContext": context}))
        self._wait(operation, f"the restore onto {restored}")
        if self.brings_logins(part):
            self._set_login(restored)  # the users came with the backup: MLflow's gets this stack's password back
        return self._aside(suffix)

    def brings_logins(self, part: "DatabasePart") -> bool:
        """A backup of another instance (another stack's, or another project's) brings its users; one
        without MLflow's IAM user lacks its login (logins.lacks_login)."""
        foreign = part.source != self.instance or (part.location or self.project) != self.project
        return lacks_login(part, foreign, self.iam_login)

    def retain(self, part: "DatabasePart", backup_id: str, progress: "Progress") -> str:
        """Makes the instance keep its backups when it is deleted, and returns the project-level name
        (projects/P/backups/ID) its on-demand backup `part` will keep after the instance is gone.
        Ref: https://cloud.google.com/sql/docs/postgres/backup-recovery/manage-backups-deleted-instance"""
        progress(f"Cloud SQL instance {self.instance} set to keep its backups when deleted")
        operation = self._call(f"setting {self.instance} to retain its backups", self.service.instances().patch(
            project=self.project, instance=self.instance, body={"settings": {"retainBackupsOnDelete": True}}))
        self._wait(operation, f"the retention setting of {self.instance}")
        listed = self._call("listing the project's backups", self.service.Backups().ListBackups(
            parent=f"projects/{self.project}", filter=f'instance:"{self.instance}"'))
        for found in listed.get("backups") or []:
            if found.get("description") == backup_description(backup_id) or str(found.get("backupRun", "")).endswith(f"/{part.ref}"):
                return str(found["name"])
        raise BackupFailed(f"Cloud SQL lists no backup of {self.instance} for backup {backup_id} (run {part.ref}) among the "
                           f"project's backups, so it could not outlive the instance")

    def adopt(self, name: str, progress: "Progress") -> None:
        """Restores the retained backup `name` onto this (new) instance and sets this stack's MLflow
        login back on it (the backup brings the old instance's users)."""
        if not self.login:
            raise BackupRefused(f"this stack's outputs carry no database login to set on {self.instance} after restoring {name}")
        progress(f"restoring the kept backup {name} onto Cloud SQL instance {self.instance}")
        operation = self._call(f"restoring {name} onto {self.instance}", self.service.instances().restoreBackup(
            project=self.project, instance=self.instance, body={"backup": name}))
        self._wait(operation, f"the restore onto {self.instance}")
        self._set_login(self.instance)

    def forget(self, name: str) -> None:
        """Deletes the retained backup `name` (once its data is the stack's again)."""
        operation = self._call(f"deleting backup {name}", self.service.Backups().DeleteBackup(name=name))
        self._wait(operation, f"the deletion of {name}")

    def _set_login(self, instance: str) -> None:
        """The master's password set back, and MLflow's IAM user made again where the backup lacks it;
        the schema Job then gives it its rights (cli/backup/schema_job.py)."""
        operation = self._call(f"setting MLflow's login on {instance}", self.service.users().update(
            project=self.project, instance=instance, name=names.DATABASE_USER,
            body={"name": names.DATABASE_USER, "password": self.login}))
        self._wait(operation, f"setting MLflow's login on {instance}")
        if not self.iam_login:
            return
        listed = self._call(f"listing the users of {instance}", self.service.users().list(project=self.project, instance=instance))
        if any(user.get("name") == self.iam_login for user in listed.get("items") or []):
            return
        # Ref: https://cloud.google.com/sql/docs/postgres/add-manage-iam-users#creating-a-database-user
        operation = self._call(f"adding MLflow's IAM user to {instance}", self.service.users().insert(
            project=self.project, instance=instance, body={"name": self.iam_login, "type": CLOUD_SQL_IAM_USER}))
        self._wait(operation, f"adding MLflow's IAM user to {instance}")

    def _aside(self, suffix: str) -> str:
        return set_aside(self.instance, suffix)

    def _instance(self, name: str) -> dict[str, Any]:
        return dict(self._call(f"reading Cloud SQL instance {name}", self.service.instances().get(project=self.project, instance=name)))

    def _wait(self, operation: dict[str, Any], what: str) -> dict[str, Any]:
        name = str(operation.get("name", ""))
        deadline = time.monotonic() + self.timeout
        pause = 1.0
        while operation.get("status") != "DONE":
            if time.monotonic() > deadline:
                raise BackupFailed(f"{what} did not finish in {int(self.timeout)} s (Cloud SQL operation {name} still runs)")
            time.sleep(pause)
            pause = min(pause * 2, self.delay)
            operation = dict(self._call(f"waiting for {what}", self.service.operations().get(project=self.project, operation=name)))
        errors = (operation.get("error") or {}).get("errors") or []
        if errors:
            first = errors[0]
            raise BackupFailed(f"{what} failed: {first.get('code', '')}: {str(first.get('message', ''))[:160]}")
        return operation

    def _call(self, doing: str, request: Any) -> Any:
        try:
            return request.execute(num_retries=2)
        except Exception as err:  # noqa: BLE001 - googleapiclient's HttpError, or a connection error
            raise google_error(f"Cloud SQL, {doing}", err, missing=f"no such instance or backup in project {self.project}") from None


# How `platform backup` describes its Cloud SQL backup: how destroy --keep-data and the sweep know it.
_DESCRIPTION = "mlops-platform "


def backup_description(backup_id: str) -> str:
    return _DESCRIPTION + backup_id


def described_backup(description: str) -> Optional[str]:
    """The backup id a Cloud SQL backup's description names, if `platform backup` made it."""
    backup_id = description[len(_DESCRIPTION):]
    return backup_id if description.startswith(_DESCRIPTION) and backup_id.startswith("bk-") else None


def sqladmin_from_environment() -> Any:
    """The client with application-default credentials, or gcloud's endpoint override
    (CLOUDSDK_API_ENDPOINT_OVERRIDES_SQLADMIN) when set; never credentials over plain HTTP: an
    http:// endpoint is a local emulator."""
    import os

    endpoint = os.environ.get("CLOUDSDK_API_ENDPOINT_OVERRIDES_SQLADMIN") or None
    if endpoint and endpoint.startswith("http://"):
        from google.auth.credentials import AnonymousCredentials

        return sqladmin(AnonymousCredentials(), endpoint)
    import google.auth

    credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    return sqladmin(credentials, endpoint)


def sqladmin(credentials: Any, endpoint: Optional[str]) -> Any:
    """The Cloud SQL Admin API client; `endpoint` instead of Google's (gcloud's override setting)."""
    import warnings

    with warnings.catch_warnings():  # google-api-core's notice about future Python support
        warnings.simplefilter("ignore", FutureWarning)
        from googleapiclient.discovery import build

    options = {"api_endpoint": endpoint} if endpoint else None
    return build("sqladmin", "v1", credentials=credentials, static_discovery=True, cache_discovery=False, client_options=options)
