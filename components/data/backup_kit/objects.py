"""The artifact store's side of a backup: which object versions the bucket held at that moment, and
bringing the bucket back to them.

A versioned bucket (the clouds turn versioning on) is recorded as a manifest of version ids, which
costs nothing to take; restoring copies each recorded version back on top (a new version with the
same bytes) and deletes what came after (a delete marker, so that too can be undone). A bucket
without versioning (the local SeaweedFS store) is recorded by copying its objects into the backup's
folder; restoring copies them back, and what came after is moved aside into the restore's folder
rather than deleted.
Ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/RestoringPreviousVersions.html
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from .errors import BackupFailed, BackupRefused
from .record import PREFIX, RECORD, BackupRecord, parse

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Restored:
    restored: int  # objects brought back to their recorded bytes
    removed: int  # objects that came after the backup, deleted (versions) or moved aside (copy)
    unchanged: int


class Store:
    """A bucket as a backup sees it. The manifest and the restore are written once, here; each
    object store (S3 below, GCS in cli/backup/gcs.py) supplies the primitives they use, and turns
    every error into a one-line BackupFailed or BackupRefused."""

    scheme = ""
    name = ""

    def url(self, key: str) -> str:
        return f"{self.scheme}://{self.name}/{key}"

    # -- primitives ------------------------------------------------------------------------------
    def put(self, key: str, body: bytes, if_absent: bool = False) -> bool:
        """Write `key`; with if_absent only when nothing is there (False when something was)."""
        raise NotImplementedError

    def get(self, key: str) -> Optional[bytes]:
        raise NotImplementedError

    def upload(self, key: str, path: str) -> None:
        raise NotImplementedError

    def download(self, key: str, path: str) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def keys(self, prefix: str) -> Iterator[str]:
        raise NotImplementedError

    def versioned(self) -> bool:
        raise NotImplementedError

    def current(self) -> dict[str, dict[str, Any]]:
        """Every artifact object as it is now (backups excluded): key -> versionId, size, etag."""
        raise NotImplementedError

    def copy_in(self, origin: "Store", key: str, version: Optional[str], dest: str) -> None:
        """Copy `key` (at `version`, or its current bytes) from `origin` to `dest` in this store."""
        raise NotImplementedError

    # -- the artifacts ---------------------------------------------------------------------------
    def take_manifest(self, backup_folder: str, progress: Progress) -> tuple[str, list[dict[str, Any]]]:
        """The artifacts as they are now: ("versions", entries) in a versioned bucket, else ("copy",
        entries) after copying each object into the backup's folder."""
        objects = self.current()
        if self.versioned():
            return "versions", [{"key": key, **value} for key, value in sorted(objects.items())]
        entries = []
        for number, (key, value) in enumerate(sorted(objects.items()), start=1):
            copy = f"{backup_folder}objects/{key}"
            self.copy_in(self, key, None, copy)
            entries.append({"key": key, "size": value["size"], "etag": value["etag"], "copy": copy})
            if number % 200 == 0:
                progress(f"copied {number} of {len(objects)} artifacts")
        return "copy", entries

    def restore(self, mode: str, entries: list[dict[str, Any]], aside: str, progress: Progress,
                source: Optional["Store"] = None) -> Restored:
        """Bring the artifacts back to `entries` (recorded in `source`, by default this bucket); what
        was not there then is deleted (a versioned bucket keeps it as a noncurrent version) or moved
        under `aside`."""
        origin = source or self
        if mode == "versions" and not origin.versioned():
            raise BackupRefused(f"the backup recorded object versions, but bucket {origin.name} has versioning off now")
        same = origin.name == self.name
        now = self.current()
        restored = unchanged = removed = 0
        for number, entry in enumerate(entries, start=1):
            key = str(entry["key"])
            present = now.get(key)
            if mode == "versions":
                if same and present and present["versionId"] == entry["versionId"]:
                    unchanged += 1
                    continue
                self.copy_in(origin, key, str(entry["versionId"]), key)
            else:
                if present and present["etag"] == entry["etag"] and present["size"] == entry["size"]:
                    unchanged += 1
                    continue
                self.copy_in(origin, str(entry["copy"]), None, key)
            restored += 1
            if number % 200 == 0:
                progress(f"checked {number} of {len(entries)} artifacts")
        recorded = {str(entry["key"]) for entry in entries}
        for key in sorted(set(now) - recorded):
            if mode == "copy":
                self.copy_in(self, key, None, f"{aside}displaced/{key}")
            self.delete(key)
            removed += 1
        return Restored(restored=restored, removed=removed, unchanged=unchanged)


class Bucket(Store):
    """One S3 (or S3-compatible) bucket through boto3; every error is a one-line BackupFailed."""

    scheme = "s3"

    def __init__(self, client: Any, name: str):
        self.client = client
        self.name = name

    def put(self, key: str, body: bytes, if_absent: bool = False) -> bool:
        extra = {"IfNoneMatch": "*"} if if_absent else {}
        try:
            self.client.put_object(Bucket=self.name, Key=key, Body=body, **extra)
            return True
        except Exception as err:  # noqa: BLE001 - botocore's ClientError, or a connection error
            if if_absent and error_code(err) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise self._failed(f"writing s3://{self.name}/{key}", err) from None

    def upload(self, key: str, path: str) -> None:
        try:
            self.client.upload_file(path, self.name, key)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"uploading s3://{self.name}/{key}", err) from None

    def download(self, key: str, path: str) -> None:
        try:
            self.client.download_file(self.name, key, path)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"downloading s3://{self.name}/{key}", err) from None

    def get(self, key: str) -> Optional[bytes]:
        try:
            return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())
        except Exception as err:  # noqa: BLE001
            if error_code(err) in ("NoSuchKey", "404"):
                return None
            raise self._failed(f"reading s3://{self.name}/{key}", err) from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.name, Key=key)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"deleting s3://{self.name}/{key}", err) from None

    def keys(self, prefix: str) -> Iterator[str]:
        for item in self._pages("list_objects_v2", "Contents", Prefix=prefix):
            yield str(item["Key"])

    def versioned(self) -> bool:
        try:
            status = self.client.get_bucket_versioning(Bucket=self.name).get("Status")
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"reading the versioning of bucket {self.name}", err) from None
        return status == "Enabled"

    def current(self) -> dict[str, dict[str, Any]]:
        if not self.versioned():
            return {str(o["Key"]): {"versionId": None, "size": int(o["Size"]), "etag": str(o["ETag"])}
                    for o in self._pages("list_objects_v2", "Contents") if not str(o["Key"]).startswith(PREFIX)}
        # A key whose latest version is a delete marker (deleted, not yet expired) has no version
        # marked latest among its objects' versions: it is not there now.
        latest: dict[str, dict[str, Any]] = {}
        for page in self._raw_pages("list_object_versions"):
            for version in page.get("Versions", []):
                if version.get("IsLatest") and not str(version["Key"]).startswith(PREFIX):
                    latest[str(version["Key"])] = {"versionId": str(version["VersionId"]), "size": int(version["Size"]),
                                                   "etag": str(version["ETag"])}
        return latest

    # -- helpers -----------------------------------------------------------------------------------
    def copy_in(self, origin: Store, key: str, version: Optional[str], dest: str) -> None:
        source = {"Bucket": origin.name, "Key": key, **({"VersionId": version} if version else {})}
        try:
            # The managed copy: multipart above its threshold, so objects over 5 GB copy too.
            self.client.copy(source, self.name, dest)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"copying {key} to s3://{self.name}/{dest}", err) from None

    def _raw_pages(self, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
        try:
            yield from self.client.get_paginator(operation).paginate(Bucket=self.name, **params)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"listing bucket {self.name}", err) from None

    def _pages(self, operation: str, field: str, **params: Any) -> Iterator[dict[str, Any]]:
        for page in self._raw_pages(operation, **params):
            yield from page.get(field, [])

    def _failed(self, doing: str, err: Exception) -> Exception:
        code = error_code(err)
        if code in ("AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return BackupRefused(f"{doing}: access denied ({code}); the credentials in use lack the rights a backup needs")
        if code in ("NoSuchBucket",):
            return BackupRefused(f"{doing}: bucket {self.name} does not exist")
        return BackupFailed(f"{doing}: {code or type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}")


def error_code(err: Exception) -> str:
    """botocore's error code of a failed call ("" for errors without a response)."""
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def records(bucket: Store) -> Iterator[tuple[str, BackupRecord]]:
    """Every finished backup's record in the bucket (`backups/<id>/record.json`) with its key;
    records that are not ours are passed over, left as they are."""
    for key in list(bucket.keys(PREFIX)):
        if not key.endswith("/" + RECORD) or key.count("/") != 2:
            continue
        raw = bucket.get(key)
        if raw is None:
            continue
        try:
            yield key, parse(raw, bucket.url(key))
        except BackupRefused:
            continue


def manifest_bytes(mode: str, entries: list[dict[str, Any]]) -> bytes:
    return json.dumps({"mode": mode, "objects": entries}, indent=0, sort_keys=True).encode()


def parse_manifest(raw: bytes, where: str) -> tuple[str, list[dict[str, Any]]]:
    try:
        document = json.loads(raw)
        mode, entries = document["mode"], document["objects"]
        if mode not in ("versions", "copy") or not isinstance(entries, list) or not all(
                isinstance(e, dict) and isinstance(e.get("key"), str) for e in entries):
            raise ValueError(mode)
    except (ValueError, KeyError, TypeError):
        raise BackupRefused(f"{where} is no artifact manifest this platform wrote") from None
    return str(mode), entries
