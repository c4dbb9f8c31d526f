"""Access logs of the artifact store, as the program plans them (components/data/access_logs.py):
every request to the S3 or GCS artifact bucket is logged into a private log bucket of the stack,
which only the logging service of that bucket may write, keeps its logs 90 days (365 in prod) and,
in prod, is protected like the data."""

from __future__ import annotations

import json

import pytest

from support import one


def _deps(record, prop: str) -> set[str]:
    return {getattr(d, "urn", d) for d in record.property_dependencies.get(prop, [])}


@pytest.mark.parametrize("stack, days, prod", [("aws-dev", 90, False), ("aws-prod", 365, True)])
def test_every_request_to_the_s3_artifact_bucket_is_logged(planned, stack, days, prod):
    run = planned(stack)
    artifacts = one(run, "aws:s3/bucket:Bucket", "-artifacts")
    logs = one(run, "aws:s3/bucket:Bucket", "-access-logs")
    logging = one(run, "aws:s3/bucketLogging:BucketLogging", "-artifacts-access-logging")
    assert artifacts.urn in _deps(logging, "bucket") and logs.urn in _deps(logging, "targetBucket")
    assert logging.input("targetPrefix") == "artifacts/"
    assert logs.protect is prod and logs.input("forceDestroy") is (not prod)
    lifecycle = one(run, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "-access-logs-lifecycle")
    (rule,) = lifecycle.input("rules")
    assert rule["expiration"] == {"days": days} and rule["noncurrentVersionExpiration"] == {"noncurrentDays": days}
    statements = json.loads(one(run, "aws:s3/bucketPolicy:BucketPolicy", "-access-logs-writer").input("policy"))["Statement"]
    (writer,) = [s for s in statements if s["Effect"] == "Allow"]
    assert writer["Principal"] == {"Service": "logging.s3.amazonaws.com"} and writer["Action"] == "s3:PutObject"
    assert writer["Resource"].endswith("/artifacts/*") and set(writer["Condition"]["ArnLike"]) == {"aws:SourceArn"}
    assert writer["Condition"]["ArnLike"]["aws:SourceArn"].startswith("arn:aws:s3:::")
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)


@pytest.mark.parametrize("stack, days, prod", [("gcp-dev", 90, False), ("gcp-prod", 365, True)])
def test_every_request_to_the_gcs_artifact_bucket_is_logged(planned, stack, days, prod):
    run = planned(stack)
    artifacts = one(run, "gcp:storage/bucket:Bucket", "-artifacts")
    logs = one(run, "gcp:storage/bucket:Bucket", "-access-logs")
    assert artifacts.input("logging") == {"logBucket": logs.input("name"), "logObjectPrefix": "artifacts"}
    assert logs.input("publicAccessPrevention") == "enforced"
    assert logs.protect is prod and logs.input("forceDestroy") is (not prod)
    assert logs.input("lifecycleRules") == [{"action": {"type": "Delete"}, "condition": {"age": days}}]
    writer = one(run, "gcp:storage/bucketIAMMember:BucketIAMMember", "-access-logs-writer")
    assert writer.input("member") == "group:cloud-storage-analytics@google.com"
    assert writer.input("role") == "roles/storage.objectCreator" and logs.urn in _deps(writer, "bucket")
