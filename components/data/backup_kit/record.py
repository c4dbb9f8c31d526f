"""A backup's record: what was taken, from which stack, at which versions; kept in the stack's bucket
at `backups/<id>/record.json` beside the artifact manifest (and the dump, when there is one)."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import BackupRefused

PREFIX = "backups/"  # never part of the artifacts a backup records
RECORD = "record.json"
MANIFEST = "artifacts.json"
DUMP = "database.dump"
ID_PATTERN = r"^bk-\d{8}t\d{6}z-[0-9a-f]{6}$"
GIB = 1 << 30  # a cloud database's storage, given in GiB, as DatabasePart.bytes
# The clouds whose database `platform backup` and `restore` reach (through the cloud's control plane:
# cli/backup/target.py); on the others the work runs in the cluster (components/data/backup_jobs.py).
ON_DEMAND_CLOUDS = ("aws", "gcp")


def set_aside(instance: str, suffix: str) -> str:
    """The name a restore gives the database it replaces, kept until the user deletes it (RDS renames
    the live instance to it, Cloud SQL clones it there). Short in both: RDS takes 63 characters,
    Cloud SQL 98 with the project id, and ours are mlops-<env>-<suffix>.
    Ref: https://cloud.google.com/sql/docs/postgres/instance-settings#instance-id-2ndgen"""
    return f"{instance}-before-{suffix}"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class DatabasePart(Frozen):
    kind: Literal["pg_dump", "rds-snapshot", "cloudsql-backup"]
    # pg_dump: the dump's key in the bucket; rds-snapshot: the snapshot's identifier;
    # cloudsql-backup: the backup run's id.
    ref: str
    source: str  # the database (pg_dump) or instance (rds, cloudsql) that was backed up
    location: Optional[str] = None  # where the source lives when its name alone does not say: Cloud SQL's project
    bytes: int = Field(ge=0)
    sha256: Optional[str] = None  # of the dump
    schema_revision: Optional[str] = Field(default=None, alias="schemaRevision")
    # The IAM database user MLflow logged in as when the backup was taken (AWS, GCP: components/addons/
    # mlflow_login.py). A restore into a stack whose MLflow logs in as another, or of a backup taken
    # before MLflow had one (None), gives MLflow its login again (cli/backup/logins.py).
    iam_login: Optional[str] = Field(default=None, alias="iamLogin")


class ArtifactPart(Frozen):
    mode: Literal["versions", "copy"]  # recorded version ids, or copies under the backup's folder
    manifest: str  # the manifest's key
    objects: int = Field(ge=0)
    bytes: int = Field(ge=0)


class Counts(Frozen):
    experiments: int = Field(ge=0)
    runs: int = Field(ge=0)
    model_versions: int = Field(ge=0, alias="modelVersions")


class BackupRecord(Frozen):
    id: str = Field(pattern=ID_PATTERN)
    created: datetime
    stack: str
    cloud: str
    env: str
    platform_version: str = Field(alias="platformVersion")
    mlflow_version: str = Field(alias="mlflowVersion")
    database: DatabasePart
    artifacts: ArtifactPart
    counts: Counts

    @property
    def folder(self) -> str:
        return folder(self.id)

    @property
    def size(self) -> int:
        return self.database.bytes + self.artifacts.bytes

    def dumps(self) -> bytes:
        return self.model_dump_json(by_alias=True, indent=1).encode()


def new_id(now: Optional[datetime] = None) -> str:
    """Sortable by time, unique without coordination: bk-20261205t234200z-1a2b3c."""
    moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"bk-{moment.strftime('%Y%m%dt%H%M%Sz')}-{secrets.token_hex(3)}"


def sha256_file(path: str) -> str:
    """A dump's checksum, as its record keeps it."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder(backup_id: str) -> str:
    return f"{PREFIX}{backup_id}/"


def parse(raw: bytes, where: str) -> BackupRecord:
    try:
        return BackupRecord.model_validate_json(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "record"
        raise BackupRefused(f"{where} is no backup record this platform wrote ({field}: {first['msg']})") from None
