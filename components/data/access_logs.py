"""Access logs of the artifact store: every request made to the bucket (who, what, when), written to
a bucket of their own. (Azure sends its blob service's resource logs to the stack's Log Analytics
workspace instead: components/cluster/azure_audit.py and data/azure.py.)

The log bucket takes no logs itself, is private, and keeps them LOG_DAYS (prod: PROD_LOG_DAYS). In
prod it is protected like the data; elsewhere `destroy` deletes it with its logs (force_destroy: an
access log bucket is never empty).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import pulumi

from .. import names
from ..aws_iam import deny_insecure_transport, policy

LOG_DAYS = 90
PROD_LOG_DAYS = 365
PREFIX = "artifacts/"


def log_days(protect: bool) -> int:
    return PROD_LOG_DAYS if protect else LOG_DAYS


def s3_access_logs(name: str, env: str, bucket: Any, protect: bool, child: Callable[..., pulumi.ResourceOptions]) -> Any:
    """S3 server access logging of `bucket` into a log bucket; returns the BucketLogging.
    Ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html"""
    import pulumi_aws as aws

    logs = aws.s3.Bucket(f"{name}-access-logs", bucket_prefix=f"{names.env_prefix(env)}-logs-",  # within S3's 37 for a prefix
                         force_destroy=not protect, opts=child(protect=protect))
    aws.s3.BucketPublicAccessBlock(f"{name}-access-logs-public-access", bucket=logs.id, block_public_acls=True,
                                   block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                                   opts=child())
    aws.s3.BucketOwnershipControls(f"{name}-access-logs-ownership", bucket=logs.id,
                                   rule={"object_ownership": "BucketOwnerEnforced"}, opts=child())
    # A log target takes SSE-S3 only (not SSE-KMS), even where the artifact bucket uses the stack's key.
    # Ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html#grant-log-delivery-permissions-general
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-access-logs-encryption", bucket=logs.id,
        rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}], opts=child())
    # Versioned, so that a log overwritten or deleted is still there until it expires.
    versioning = aws.s3.BucketVersioning(f"{name}-access-logs-versioning", bucket=logs.id,
                                         versioning_configuration={"status": "Enabled"}, opts=child())
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-access-logs-lifecycle", bucket=logs.id,
        rules=[{"id": "expire-logs", "status": "Enabled", "filter": {}, "expiration": {"days": log_days(protect)},
                "noncurrent_version_expiration": {"noncurrent_days": log_days(protect)}}],
        opts=child(versioning))
    # With object ownership enforced, the logging service writes by this bucket policy alone, and
    # only for the artifact bucket of this account.
    grant = aws.s3.BucketPolicy(
        f"{name}-access-logs-writer", bucket=logs.id,
        policy=pulumi.Output.all(logs.arn, bucket.arn).apply(lambda v: policy({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                 "Action": "s3:PutObject", "Resource": f"{v[0]}/{PREFIX}*",
                 "Condition": {"ArnLike": {"aws:SourceArn": v[1]}}},
                deny_insecure_transport(v[0]),
            ]})),
        opts=child())
    # Not imported with an adopted bucket (destroy --keep-data): writing it again replaces whatever
    # logging configuration the kept bucket had.
    return aws.s3.BucketLogging(f"{name}-artifacts-access-logging", bucket=bucket.id, target_bucket=logs.id,
                                target_prefix=PREFIX, opts=child(grant))


def gcs_log_bucket(name: str, env: str, suffix: Any, location: Any, protect: bool,
                   child: Callable[..., pulumi.ResourceOptions], encryption: Optional[dict[str, Any]] = None) -> Any:
    """The bucket GCS writes the artifact bucket's usage logs into (the artifact bucket names it in its
    `logging` block); Google's log writer is granted object creation on it. `encryption`: the
    artifact bucket's own (a customer-managed key in prod).
    Ref: https://cloud.google.com/storage/docs/access-logs"""
    import pulumi_gcp as gcp

    logs = gcp.storage.Bucket(
        f"{name}-access-logs",
        name=suffix.result.apply(lambda s: f"{names.env_prefix(env)}-logs-{s}"),
        location=location,
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        force_destroy=not protect,
        lifecycle_rules=[{"action": {"type": "Delete"}, "condition": {"age": log_days(protect)}}],
        encryption=encryption,
        opts=child(protect=protect),
    )
    gcp.storage.BucketIAMMember(f"{name}-access-logs-writer", bucket=logs.name, role="roles/storage.objectCreator",
                                member="group:cloud-storage-analytics@google.com", opts=child())
    return logs
