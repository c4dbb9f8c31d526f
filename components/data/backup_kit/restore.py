"""A restore in the cluster (local, Azure): `python -m backup_kit.restore STEP` in the restore Job's
containers (components/data/restore_jobs.py), with the database steps between them in the postgres
image (restore_database.sh, switch.sql):

  fetch      finds the backup (RESTORE_FROM: an id, or `latest`), refuses another stack's without
             RESTORE_FORCE=1, downloads its dump into BACKUP_FOLDER and checks it against the record;
  artifacts  brings the bucket back to the backup's artifacts (what came after is moved aside);
  list       prints every backup in the bucket (`platform backups list` on local and Azure).

Each step prints one JSON line on stdout; on failure one line on stderr and exit 2 (refused,
nothing changed) or 1 (a step failed). Environment as backup_kit.job's, plus RESTORE_FROM and
RESTORE_FORCE.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .catalog import check_stack, find, list_backups
from .errors import BackupFailed, BackupRefused
from .objects import Store, parse_manifest
from .record import DUMP, PREFIX, RECORD, BackupRecord, parse, sha256_file

STEPS = ("fetch", "artifacts", "list")


def fetch(bucket: Store, work: Path, env: dict[str, str]) -> BackupRecord:
    record = find(bucket, env.get("RESTORE_FROM", ""), env["BACKUP_STACK"])
    check_stack(record, env["BACKUP_STACK"], env.get("RESTORE_FORCE") == "1")
    if record.database.kind != "pg_dump":
        raise BackupRefused(f"backup {record.id} holds an {record.database.kind}, which the local database cannot restore")
    dump = work / DUMP
    bucket.download(record.database.ref, str(dump))
    if sha256_file(str(dump)) != record.database.sha256:
        raise BackupFailed(f"the dump at {record.database.ref} does not match its record's checksum: it was changed or cut short")
    (work / RECORD).write_bytes(record.dumps())
    return record


def artifacts(bucket: Store, work: Path) -> dict[str, int]:
    record = parse((work / RECORD).read_bytes(), str(work / RECORD))
    raw = bucket.get(record.artifacts.manifest)
    if raw is None:
        raise BackupFailed(f"backup {record.id} has lost its artifact manifest ({record.artifacts.manifest})")
    mode, entries = parse_manifest(raw, record.artifacts.manifest)
    done = bucket.restore(mode, entries, f"{PREFIX}restored-{record.id}/", lambda line: print(line, file=sys.stderr, flush=True))
    return {"restored": done.restored, "removed": done.removed, "unchanged": done.unchanged}


def main(step: str) -> int:
    from .stores import open_store

    env = dict(os.environ)
    work = Path(env.get("BACKUP_FOLDER", "."))
    try:
        bucket = open_store(env)
        if step == "fetch":
            out: object = {"record": json.loads(fetch(bucket, work, env).dumps())}
        elif step == "artifacts":
            out = {"artifacts": artifacts(bucket, work)}
        elif step == "list":
            out = {"backups": [json.loads(r.dumps()) for r in list_backups(bucket)]}
        else:
            raise BackupRefused(f"no restore step {step!r} (one of {', '.join(STEPS)})")
    except BackupRefused as err:
        print(err, file=sys.stderr)
        return 2
    except BackupFailed as err:
        print(err, file=sys.stderr)
        return 1
    print(json.dumps(out, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
