"""Which backups a bucket holds and which one a restore means: by id, or `latest` (the stack's
newest). The CLI (cli/backup/operations.py) and the local restore Job (restore.py) both look here."""

from __future__ import annotations

import re
from typing import Optional

from .errors import BackupRefused
from .objects import Store, records
from .record import ID_PATTERN, RECORD, BackupRecord, folder, parse

LATEST = "latest"


def list_backups(bucket: Store) -> list[BackupRecord]:
    """Every finished backup in the bucket, newest first (unreadable records are skipped)."""
    return sorted((record for _, record in records(bucket)), key=lambda r: r.created, reverse=True)


def find(bucket: Store, backup_id: str, stack: Optional[str] = None) -> BackupRecord:
    """The backup `backup_id` in the bucket; `latest`: the newest one of `stack` (the bucket's own)."""
    if backup_id == LATEST:
        newest = [r for r in list_backups(bucket) if stack is None or r.stack == stack]
        if not newest:
            raise BackupRefused(f"no backup of stack {stack} in bucket {bucket.name} yet: take one with platform backup")
        return newest[0]
    raw = bucket.get(folder(backup_id) + RECORD) if re.match(ID_PATTERN, backup_id) else None
    if raw is None:
        known = [r.id for r in list_backups(bucket)[:3]]
        raise BackupRefused(f"no backup {backup_id!r} in bucket {bucket.name} (latest: {', '.join(known) or 'none'})")
    return parse(raw, bucket.url(folder(backup_id) + RECORD))


def check_stack(record: BackupRecord, stack: str, force: bool) -> None:
    """A backup of another stack restores here only when asked for (--force)."""
    if record.stack != stack and not force:
        raise BackupRefused(f"backup {record.id} is of stack {record.stack}, not {stack}; "
                            "restoring another stack's data here needs --force")
