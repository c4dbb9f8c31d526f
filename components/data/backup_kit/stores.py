"""The store a backup Job writes to, from its environment: an Azure Blob container where
BACKUP_BLOB_ACCOUNT_URL is set (the Azure stack), else the S3-compatible bucket BACKUP_BUCKET through
boto3 (the local stack's SeaweedFS, which boto3 reaches at AWS_ENDPOINT_URL)."""

from __future__ import annotations

from .blob import ACCOUNT_URL_ENV
from .errors import BackupRefused
from .objects import Bucket, Store


def open_store(env: dict[str, str]) -> Store:
    if env.get(ACCOUNT_URL_ENV):
        from .blob import open_container

        try:
            return open_container(env, env["BACKUP_BUCKET"])
        except ValueError as err:  # azure-identity: the workload identity's variables are missing
            raise BackupRefused(f"no Azure workload identity on this pod (is the service account federated?): {err}") from None
    import boto3

    return Bucket(boto3.client("s3"), env["BACKUP_BUCKET"])
