"""A local stack's backup carried out of its cluster (before `destroy --keep-data` deletes the kind
cluster with everything in it) and back into the next one (the `up` that adopts it): every object
under backups/ID/ (the dump, the record, the artifacts' manifest and copies), between the cluster's
store and a folder of this machine's. The cluster's side is a Job from the restore template
(components/data/restore_jobs.py TRANSFER_JOB) serving the store over HTTP
(backup_kit/transfer.py), reached through the API server's pod proxy with a token made for that Job
alone; the Job is removed afterwards, whatever happened.

The folder is written whole or not at all: the objects go into a hidden sibling, which is renamed
to the folder's name once all are there."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from mlops_platform.components.data import restore_jobs
from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused
from mlops_platform.components.data.backup_kit.objects import Progress
from mlops_platform.components.data.backup_kit.record import RECORD
from mlops_platform.components.data.backup_kit.record import folder as backup_folder
from mlops_platform.components.data.backup_kit.transfer import PORT

from . import in_cluster
from .cluster_target import ClusterTarget
from .in_cluster import JobSpec

READY_SECONDS = 300.0  # for the pod to start serving (an image pull on a cold node)
POLL_SECONDS = 1.0
KEPT = "kept"  # under the platform's state folder: kept/<stack>/<backup id>/


def kept_folder(stack: str, backup_id: str) -> Path:
    """Where a local stack's kept backup waits for the next `up`."""
    from mlops_platform.planner import files

    return files.state_dir() / KEPT / stack.replace("/", "_") / backup_id


@dataclass(frozen=True)
class Session:
    target: ClusterTarget
    pod: str  # NAME:PORT, as the proxy names it
    token: str

    def _call(self, method: str, path: str, body: Any = None, into: Any = None) -> bytes:
        status, answer = self.target.api.proxy(method, self.target.namespace, self.pod, f"{self.token}/{path}", body, into)
        if status not in (200, 201):
            raise BackupFailed(f"the backup transfer answered {status} to {method} {path}: {_reason(answer)}")
        return answer

    def keys(self, backup_id: str) -> list[str]:
        return [str(k) for k in json.loads(self._call("GET", f"keys/{backup_id}")).get("keys", [])]

    def answers(self, backup_id: str) -> bool:
        """Whether the server listens yet (until it does, the proxy answers 503)."""
        status, _ = self.target.api.proxy("GET", self.target.namespace, self.pod, f"{self.token}/keys/{backup_id}")
        return status == 200

    def fetch(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as out:
            self._call("GET", f"object/{key}", into=out)

    def send(self, key: str, path: Path) -> None:
        with open(path, "rb") as body:
            self._call("PUT", f"object/{key}", body=body)

    def done(self) -> None:
        self._call("POST", "done")


def _reason(answer: bytes) -> str:
    try:
        return str(json.loads(answer).get("error", ""))[:200]
    except (ValueError, AttributeError):
        return answer.decode(errors="replace")[:200]


@contextmanager
def serving(target: ClusterTarget, backup_id: str, progress: Progress) -> Iterator[Session]:
    """The transfer's Job, serving once its pod answers; removed on the way out."""
    token = secrets.token_hex(24)
    spec = JobSpec(namespace=target.namespace, template=restore_jobs.TEMPLATE, name=restore_jobs.TRANSFER_JOB,
                   env=(("TRANSFER_TOKEN", token),), only=("fetch", ("python", "-m", "backup_kit.transfer")),
                   labels=tuple(restore_jobs.TRANSFER_LABELS.items()))
    _, job = in_cluster.start(target.api, spec)
    progress(f"Job {target.namespace}/{spec.name} started: carrying the backup through the cluster's API")
    try:
        session = _ready(target, job["metadata"]["uid"], token, spec.name, backup_id)
        yield session
        session.done()
    finally:
        target.api.delete_job(target.namespace, spec.name)


def _ready(target: ClusterTarget, uid: str, token: str, job: str, backup_id: str) -> Session:
    """The session once the Job's pod answers through the proxy (a 503 until it listens)."""
    deadline = time.monotonic() + READY_SECONDS
    while True:
        pods = target.api.pods(target.namespace, uid)
        phase = pods[-1].get("status", {}).get("phase") if pods else None
        if phase in ("Succeeded", "Failed"):
            raise BackupFailed(f"the backup transfer's pod ended before serving ({phase}); "
                               f"see kubectl -n {target.namespace} logs job/{job}")
        if phase == "Running":
            session = Session(target, f"{pods[-1]['metadata']['name']}:{PORT}", token)
            if session.answers(backup_id):
                return session
        if time.monotonic() > deadline:
            raise BackupFailed(f"the backup transfer's pod did not serve within {int(READY_SECONDS)} s ({phase or 'no pod'}); "
                               f"see kubectl -n {target.namespace} describe job {job}")
        time.sleep(POLL_SECONDS)


def export(target: ClusterTarget, backup_id: str, folder: Path, progress: Progress) -> int:
    """Copies backup `backup_id` from the cluster's store into `folder` (replaced whole); returns
    the bytes copied."""
    prefix = backup_folder(backup_id)
    partial = folder.parent / f".{folder.name}.partial-{secrets.token_hex(3)}"
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        with serving(target, backup_id, progress) as session:
            keys = session.keys(backup_id)
            if prefix + RECORD not in keys:
                raise BackupFailed(f"backup {backup_id} has no record in the cluster's store: it cannot be kept")
            for number, key in enumerate(keys, 1):
                progress(f"copying {key} out of the cluster ({number}/{len(keys)})")
                session.fetch(key, partial / key[len(prefix):])
        copied = sum(p.stat().st_size for p in partial.rglob("*") if p.is_file())
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(partial, folder)
    except OSError as err:
        raise BackupFailed(f"cannot write the backup into {folder.parent}: {err.strerror or err}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return copied


def local_files(backup_id: str, folder: Path) -> list[tuple[str, Path]]:
    """The kept folder's objects by their keys; BackupRefused if it is not a whole kept backup."""
    if not (folder / RECORD).is_file():
        raise BackupRefused(f"the kept copy of backup {backup_id} is not at {folder} (its {RECORD} is missing): "
                            "put the folder back, or remove platform:keptData from the stack file to start empty")
    return [(backup_folder(backup_id) + p.relative_to(folder).as_posix(), p) for p in sorted(folder.rglob("*")) if p.is_file()]


def import_(target: ClusterTarget, backup_id: str, folder: Path, progress: Progress) -> None:
    """Copies the kept folder into the cluster's store, under backups/ID/ again."""
    files = local_files(backup_id, folder)
    with serving(target, backup_id, progress) as session:
        for number, (key, path) in enumerate(files, 1):
            progress(f"copying {key} into the cluster ({number}/{len(files)})")
            try:
                session.send(key, path)
            except OSError as err:
                raise BackupFailed(f"cannot read {path}: {err.strerror or err}") from None
