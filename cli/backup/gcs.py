"""A Google Cloud Storage bucket as a backup sees it (objects.Store), through google-cloud-storage.

A GCS bucket with versioning keeps each overwritten or deleted object as a noncurrent generation;
listing with `versions=True` returns them all, and a live object is the one without `timeDeleted`.
Bringing one back is a rewrite from that generation onto the same name (a new live generation with
the same bytes), done in as many calls as GCS asks for, so large objects copy too.
Ref: https://cloud.google.com/storage/docs/object-versioning
Ref: https://cloud.google.com/storage/docs/json_api/v1/objects/rewrite
The client reads STORAGE_EMULATOR_HOST, as the library documents, to reach another endpoint.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused
from mlops_platform.components.data.backup_kit.objects import Store
from mlops_platform.components.data.backup_kit.record import PREFIX


class GcsBucket(Store):
    scheme = "gs"

    def __init__(self, client: Any, name: str):
        """`client`: a google.cloud.storage.Client."""
        self.client = client
        self.name = name
        self.bucket = client.bucket(name)

    def put(self, key: str, body: bytes, if_absent: bool = False) -> bool:
        from google.api_core import exceptions

        try:
            # if_generation_match=0: only when no live object has the name (GCS's conditional write).
            self.bucket.blob(key).upload_from_string(body, if_generation_match=0 if if_absent else None)
            return True
        except exceptions.PreconditionFailed as err:
            if if_absent:
                return False
            raise self._failed(f"writing {self.url(key)}", err) from None
        except Exception as err:  # noqa: BLE001 - google.api_core's errors, or a connection error
            raise self._failed(f"writing {self.url(key)}", err) from None

    def get(self, key: str) -> Optional[bytes]:
        from google.api_core import exceptions

        try:
            return bytes(self.bucket.blob(key).download_as_bytes())
        except exceptions.NotFound:
            return None
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"reading {self.url(key)}", err) from None

    def upload(self, key: str, path: str) -> None:
        try:
            self.bucket.blob(key).upload_from_filename(path)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"uploading {self.url(key)}", err) from None

    def download(self, key: str, path: str) -> None:
        try:
            self.bucket.blob(key).download_to_filename(path)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"downloading {self.url(key)}", err) from None

    def delete(self, key: str) -> None:
        from google.api_core import exceptions

        try:
            self.bucket.blob(key).delete()
        except exceptions.NotFound:
            pass  # as S3's delete of a missing key: nothing to do
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"deleting {self.url(key)}", err) from None

    def keys(self, prefix: str) -> Iterator[str]:
        for blob in self._list(prefix=prefix):
            yield str(blob.name)

    def versioned(self) -> bool:
        try:
            return bool(self.client.get_bucket(self.name).versioning_enabled)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"reading the versioning of bucket {self.name}", err) from None

    def current(self) -> dict[str, dict[str, Any]]:
        versioned = self.versioned()
        latest: dict[str, dict[str, Any]] = {}
        for blob in self._list(versions=versioned):
            # A noncurrent generation carries the time it stopped being live.
            if blob.time_deleted is not None or str(blob.name).startswith(PREFIX):
                continue
            latest[str(blob.name)] = {"versionId": str(blob.generation) if versioned else None, "size": int(blob.size or 0),
                                      "etag": str(blob.md5_hash or blob.etag or "")}
        return latest

    def copy_in(self, origin: Store, key: str, version: Optional[str], dest: str) -> None:
        if not isinstance(origin, GcsBucket):
            raise BackupRefused(f"{origin.url(key)} cannot be copied into a Cloud Storage bucket by a restore")
        source = origin.bucket.blob(key, generation=int(version) if version else None)
        target = self.bucket.blob(dest)
        try:
            token, _done, _total = target.rewrite(source)
            while token is not None:
                token, _done, _total = target.rewrite(source, token=token)
        except Exception as err:  # noqa: BLE001
            source_name = f"{origin.url(key)}{'#' + version if version else ''}"
            raise self._failed(f"copying {source_name} to {self.url(dest)}", err,
                               missing=f"{source_name} is gone (a lifecycle rule may have deleted that generation)") from None

    def _list(self, **params: Any) -> Iterator[Any]:
        try:
            yield from self.client.list_blobs(self.name, **params)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"listing bucket {self.name}", err) from None

    def _failed(self, doing: str, err: Exception, missing: str = "") -> Exception:
        return google_error(doing, err, missing=missing or f"bucket {self.name} does not exist")


def google_error(doing: str, err: Exception, missing: str) -> Exception:
    """A Google API error (google.api_core's, googleapiclient's HttpError) as one line: refused for
    missing rights or a missing resource, failed otherwise."""
    status = _status(err)
    if status in (401, 403):
        return BackupRefused(f"{doing}: access denied (HTTP {status}); the credentials in use lack the rights a backup needs")
    if status == 404:
        return BackupRefused(f"{doing}: {missing}")
    if type(err).__name__ == "DefaultCredentialsError":
        return BackupRefused(f"{doing}: no Google credentials found: run `gcloud auth application-default login`")
    text = str(err).splitlines()[0][:160] if str(err) else ""
    return BackupFailed(f"{doing}: {f'HTTP {status}' if status else type(err).__name__}: {text}")


def _status(err: Exception) -> Optional[int]:
    code = getattr(err, "code", None)  # google.api_core.exceptions.GoogleAPICallError
    if isinstance(code, int):
        return code
    response = getattr(err, "resp", None)  # googleapiclient.errors.HttpError
    status = getattr(response, "status", None)
    return int(status) if status is not None else None
