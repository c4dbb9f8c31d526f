"""An Azure Blob container as a backup's store, for the Azure stack's backup and restore Jobs
(components/addons/mlflow_backups.py). It runs in the MLflow image, which carries azure-storage-blob
and azure-identity, under MLflow's own workload identity: the storage account takes Entra ID only
and admits the cluster's subnet only, so nothing outside the cluster reaches it.

The artifacts are recorded by copying them into the backup's folder ("copy" mode), not as a
manifest of blob versions, though the stack turns versioning on: a version-mode restore could not
be checked here (Azurite, the emulator the tests run, has no blob versioning), and a copy does
not depend on the account's version retention. Each copy streams through the Job (download, then
upload, in chunks) rather than asking the service to copy: that needs no authorization of the copy's
source beyond the Job's own.
Ref: https://learn.microsoft.com/python/api/azure-storage-blob/azure.storage.blob.containerclient
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

from .errors import BackupFailed, BackupRefused
from .objects import Store
from .record import PREFIX

# Where the Job finds the account (its blob endpoint, https://<account>.blob.core.windows.net).
ACCOUNT_URL_ENV = "BACKUP_BLOB_ACCOUNT_URL"
# The Azure SDK's usual connection-string variable: a key-based account (the emulator); unset in the
# stack's pods, which authenticate as their workload identity.
CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"


class BlobContainer(Store):
    scheme = "azure"

    def __init__(self, container: Any, account_url: str):
        self.client = container  # azure.storage.blob.ContainerClient
        self.name = str(container.container_name)
        self.account_url = account_url.rstrip("/")

    def url(self, key: str) -> str:
        return f"{self.account_url}/{self.name}/{key}"

    def put(self, key: str, body: bytes, if_absent: bool = False) -> bool:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.client.upload_blob(key, body, overwrite=not if_absent)
            return True
        except Exception as err:  # noqa: BLE001 - azure-core's HttpResponseError, a connection error
            if if_absent and isinstance(err, ResourceExistsError):
                return False
            raise self._failed(f"writing {self.url(key)}", err) from None

    def get(self, key: str) -> Optional[bytes]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return bytes(self.client.download_blob(key).readall())
        except ResourceNotFoundError as err:
            if _code(err) == "ContainerNotFound":
                raise self._failed(f"reading {self.url(key)}", err) from None
            return None
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"reading {self.url(key)}", err) from None

    def upload(self, key: str, path: str) -> None:
        try:
            with open(path, "rb") as data:
                self.client.upload_blob(key, data, overwrite=True)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"uploading {self.url(key)}", err) from None

    def download(self, key: str, path: str) -> None:
        try:
            with open(path, "wb") as out:
                self.client.download_blob(key).readinto(out)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"downloading {self.url(key)}", err) from None

    def delete(self, key: str) -> None:
        try:
            self.client.delete_blob(key)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"deleting {self.url(key)}", err) from None

    def keys(self, prefix: str) -> Iterator[str]:
        try:
            yield from (str(name) for name in self.client.list_blob_names(name_starts_with=prefix))
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"listing container {self.name}", err) from None

    def versioned(self) -> bool:
        return False  # copy mode: see the module's docstring

    def current(self) -> dict[str, dict[str, Any]]:
        # The listing shows each blob's current version only (versions need include=["versions"]);
        # an etag changes with every write, so an unchanged etag is an untouched blob.
        try:
            return {str(blob.name): {"versionId": None, "size": int(blob.size), "etag": str(blob.etag)}
                    for blob in self.client.list_blobs() if not str(blob.name).startswith(PREFIX)}
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"listing container {self.name}", err) from None

    def copy_in(self, origin: Store, key: str, version: Optional[str], dest: str) -> None:
        if not isinstance(origin, BlobContainer):
            raise BackupRefused(f"cannot copy into {self.url(dest)} from {origin.url(key)}: another kind of store")
        try:
            source = origin.client.download_blob(key, **({"version_id": version} if version else {}))
            self.client.upload_blob(dest, source.chunks(), length=source.size, overwrite=True)
        except Exception as err:  # noqa: BLE001
            raise self._failed(f"copying {origin.url(key)} to {self.url(dest)}", err) from None

    def _failed(self, doing: str, err: Exception) -> Exception:
        status, code = getattr(err, "status_code", None), _code(err)
        if type(err).__name__ == "ClientAuthenticationError" and status is None:
            # No token at all (no workload identity on the pod): the credential's own one line.
            return BackupRefused(f"{doing}: no Azure credential: {str(err).splitlines()[0][:200]}")
        if status in (401, 403):
            return BackupRefused(f"{doing}: access denied ({code or status}); the Job's identity lacks the rights a backup needs")
        if code == "ContainerNotFound":
            return BackupRefused(f"{doing}: container {self.name} does not exist")
        message = str(err).splitlines()[0][:160] if str(err) else ""
        return BackupFailed(f"{doing}: {code or type(err).__name__}: {message}")


def _code(err: Exception) -> str:
    return str(getattr(err, "error_code", "") or "")


def open_container(env: dict[str, str], container: str) -> BlobContainer:
    """The container through a connection string when one is set, else the pod's workload identity
    (the webhook's AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_FEDERATED_TOKEN_FILE).
    Ref: https://learn.microsoft.com/azure/aks/workload-identity-overview"""
    from azure.storage.blob import BlobServiceClient

    account_url = env[ACCOUNT_URL_ENV]
    if env.get(CONNECTION_STRING_ENV):
        service = BlobServiceClient.from_connection_string(env[CONNECTION_STRING_ENV])
    else:
        from azure.identity import WorkloadIdentityCredential

        service = BlobServiceClient(account_url, credential=WorkloadIdentityCredential())
    return BlobContainer(service.get_container_client(container), account_url)
