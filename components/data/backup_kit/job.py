"""A backup in the cluster (local, Azure): `python -m backup_kit.job` in the backup CronJob's second
container, after its first (the postgres image) has written the dump, the schema revision and the
counts to a shared folder. It uploads the dump, records the artifacts (copies: SeaweedFS has no
versioning, and see blob.py for Azure's), writes the record last, then removes backups older than
the retention (the newest one always stays). Prints one line; secrets are only in its environment.

Environment: BACKUP_FOLDER (the dump, `schema` and `counts` files), BACKUP_BUCKET, BACKUP_STACK,
BACKUP_ENV, BACKUP_CLOUD, BACKUP_RETENTION_DAYS, BACKUP_PLATFORM_VERSION, BACKUP_MLFLOW_VERSION,
BACKUP_DATABASE, and the store's (stores.py): the S3 client's own (AWS_ENDPOINT_URL,
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION), or BACKUP_BLOB_ACCOUNT_URL and the
workload identity's.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Optional

from .errors import BackupFailed, BackupRefused
from .objects import Store, manifest_bytes, records
from .record import DUMP, MANIFEST, RECORD, ArtifactPart, BackupRecord, Counts, DatabasePart, folder, new_id, sha256_file

COUNTS_FILE = "counts"  # "experiments|runs|model versions", psql's unaligned output
SCHEMA_FILE = "schema"  # the alembic_version row


def read_counts(text: str) -> Counts:
    experiments, runs, versions = (int(part) for part in text.strip().split("|"))
    return Counts(experiments=experiments, runs=runs, model_versions=versions)


def run(bucket: Store, work: Path, env: dict[str, str], progress: Callable[[str], None],
        now: Optional[datetime] = None) -> BackupRecord:
    moment = now or datetime.now(timezone.utc)
    backup_id = new_id(moment)
    where = folder(backup_id)
    dump = work / DUMP
    progress(f"uploading the dump ({dump.stat().st_size:,} bytes)")
    bucket.upload(where + DUMP, str(dump))
    mode, entries = bucket.take_manifest(where, progress)
    bucket.put(where + MANIFEST, manifest_bytes(mode, entries))
    schema = (work / SCHEMA_FILE).read_text().strip() or None
    record = BackupRecord(
        id=backup_id, created=moment, stack=env["BACKUP_STACK"], cloud=env.get("BACKUP_CLOUD", "local"), env=env["BACKUP_ENV"],
        platform_version=env["BACKUP_PLATFORM_VERSION"], mlflow_version=env["BACKUP_MLFLOW_VERSION"],
        database=DatabasePart(kind="pg_dump", ref=where + DUMP, source=env["BACKUP_DATABASE"], bytes=dump.stat().st_size,
                              sha256=sha256_file(str(dump)), schema_revision=schema),
        artifacts=ArtifactPart(mode=mode, manifest=where + MANIFEST, objects=len(entries),
                               bytes=sum(int(e["size"]) for e in entries)),
        counts=read_counts((work / COUNTS_FILE).read_text()),
    )
    bucket.put(where + RECORD, record.dumps())
    prune(bucket, int(env["BACKUP_RETENTION_DAYS"]), moment, keep=backup_id)
    return record


def prune(bucket: Store, retention_days: int, now: datetime, keep: str) -> list[str]:
    """Remove every backup older than the retention, never `keep` (the one just taken)."""
    cutoff = now - timedelta(days=retention_days)
    removed = []
    for key, record in list(records(bucket)):
        if record.id != keep and record.created < cutoff:
            # The record goes first: a half-removed backup is then no longer listed as one.
            bucket.delete(key)
            for part in list(bucket.keys(record.folder)):
                bucket.delete(part)
            removed.append(record.id)
    return removed


def main() -> int:
    from .stores import open_store

    env = dict(os.environ)
    try:
        bucket = open_store(env)
        record = run(bucket, Path(env["BACKUP_FOLDER"]), env, lambda line: print(line, file=sys.stderr, flush=True))
    except BackupRefused as err:  # no record written (no access, no container): exit 2, as the restore's steps
        print(f"backup refused: {err}", file=sys.stderr)
        return 2
    except BackupFailed as err:
        print(f"backup failed: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"backup": record.id, "record": json.loads(record.dumps())}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
