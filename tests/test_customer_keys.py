"""Customer-managed keys in prod (issue 23, item 5), under the SDK's mocks: GKE's Secrets, GCP's
buckets and Cloud SQL each under a Cloud KMS key of the stack's own, rotated every 90 days,
protected, usable by its service's agent alone; none in dev; the policies that require them in
prod; their cost in the estimate."""

from __future__ import annotations

from mlops_platform.planner.costs import estimate
from mlops_platform.policies.registry import pack_config

KEY = "gcp:kms/cryptoKey:CryptoKey"
RING = "gcp:kms/keyRing:KeyRing"
GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
GKE = "gcp:container/cluster:Cluster"


def test_gke_prod_encrypts_secrets_with_its_own_rotated_protected_key(planned):
    run = planned("gcp-prod")
    key, ring, grant = _key_of(run, "secrets")
    [cluster] = run.of_type(GKE)
    assert cluster.input("databaseEncryption") == {"state": "ENCRYPTED", "keyName": f"{key.name}-id"}
    assert key.input("keyRing") == f"{ring.name}-id" and ring.input("location") == cluster.input("location")
    assert key.input("rotationPeriod") == "7776000s" and key.input("purpose") == "ENCRYPT_DECRYPT"
    assert key.protect and ring.protect, "the engine never schedules the key's destruction in prod"
    assert grant.input("cryptoKeyId") == f"{key.name}-id"
    assert grant.input("role") == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    # The mocks' project number (planner/mocks.py): GKE's own service agent, no one else.
    assert grant.input("member") == "serviceAccount:service-123456789012@container-engine-robot.iam.gserviceaccount.com"
    assert grant.urn in cluster.dependencies, "the cluster is created once GKE may use the key"
    assert ring.input("name").startswith("mlops-gke-secrets-"), "a fresh ring per stack: Cloud KMS never deletes one"


def _key_of(run, purpose):
    """The key, ring and grant customer_key made for `purpose` (their names carry it)."""
    [key] = [r for r in run.of_type(KEY) if f"-{purpose}-" in r.name]
    [ring] = [r for r in run.of_type(RING) if f"-{purpose}-" in r.name]
    [grant] = [r for r in run.of_type(GRANT) if r.input("cryptoKeyId") == f"{key.name}-id"]
    return key, ring, grant


def test_gcp_prod_buckets_and_database_use_keys_of_their_own(planned):
    run = planned("gcp-prod")
    store_key, store_ring, store_grant = _key_of(run, "store")
    db_key, db_ring, db_grant = _key_of(run, "database")
    assert store_key.urn != db_key.urn and store_ring.urn != db_ring.urn
    buckets = run.of_type("gcp:storage/bucket:Bucket")
    assert len(buckets) == 2, "the artifact bucket and its access-log bucket"
    for bucket in buckets:
        assert bucket.input("encryption") == {"defaultKmsKeyName": f"{store_key.name}-id"}, bucket.name
        assert store_grant.urn in bucket.dependencies, f"{bucket.name} is created once GCS may use the key"
        assert store_ring.input("location") == bucket.input("location").lower()
    # GCS's own agent (getProjectServiceAccount), and Cloud SQL's, which the stack asks Google to create.
    assert store_grant.input("member") == "serviceAccount:service-123456789012@gs-project-accounts.iam.gserviceaccount.com"
    [agent] = run.of_type("gcp:projects/serviceIdentity:ServiceIdentity")
    assert agent.input("service") == "sqladmin.googleapis.com"
    assert db_grant.input("member") == "serviceAccount:service-123456789012@gcp-sa-cloud-sql.iam.gserviceaccount.com"
    [instance] = run.of_type("gcp:sql/databaseInstance:DatabaseInstance")
    assert instance.input("encryptionKeyName") == f"{db_key.name}-id"
    assert db_grant.urn in instance.dependencies, "the instance is created once Cloud SQL may use the key"
    assert db_ring.input("location") == instance.input("region")
    for key in (store_key, db_key):
        assert key.input("rotationPeriod") == "7776000s" and key.protect


def test_gcp_dev_data_has_no_key(planned):
    run = planned("gcp-dev")
    assert all(b.input("encryption") is None for b in run.of_type("gcp:storage/bucket:Bucket"))
    assert run.of_type("gcp:sql/databaseInstance:DatabaseInstance")[0].input("encryptionKeyName") is None
    assert not run.of_type("gcp:projects/serviceIdentity:ServiceIdentity")


def test_gke_dev_has_no_key(planned):
    run = planned("gcp-dev")
    assert not run.of_type(KEY) and not run.of_type(RING)
    assert run.of_type(GKE)[0].input("databaseEncryption") is None


def test_the_key_is_required_in_prod_only(stack_config):
    for rule in ("gcp-gke-secrets-cmek", "gcp-data-cmek"):
        assert pack_config(stack_config("gcp-prod"))[rule]["requireKeys"] is True, rule
        assert pack_config(stack_config("gcp-dev"))[rule]["requireKeys"] is False, rule


def test_the_estimate_prices_the_key(planned, stack_config):
    lines = [line for line in estimate(planned("gcp-prod"), stack_config("gcp-prod")) if "Cloud KMS" in line.item]
    assert [(line.quantity, line.price_key) for line in lines] == [(3, "kms_key_version_month")]
    assert not [line for line in estimate(planned("gcp-dev"), stack_config("gcp-dev")) if "Cloud KMS" in line.item]


def test_replacing_the_key_or_its_ring_is_refused_unless_allowed():
    from mlops_platform.cli.engine.diff import critical_reason

    assert "encryption key" in (critical_reason(KEY, "mlops-cluster-secrets-key") or "")
    assert "ring" in (critical_reason(RING, "mlops-cluster-secrets-ring") or "")


def test_a_new_key_on_cloud_sql_is_shown_as_its_replacement():
    # Cloud SQL takes its key only at creation: the upgrade preview must not call the change in place.
    from mlops_platform.planner.replacements import forcing

    assert forcing("gcp:sql/databaseInstance:DatabaseInstance", "encryptionKeyName") == "encryptionKeyName"
    assert forcing("gcp:storage/bucket:Bucket", "encryption.defaultKmsKeyName") is None, "a bucket's key changes in place"


SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"


def _sse(run, suffix):
    [config] = [r for r in run.of_type(SSE) if r.name.endswith(suffix)]
    return config.input("rules")[0]["applyServerSideEncryptionByDefault"], config


def _role_statements(run):
    import json

    return {r.name.rsplit("-", 2)[-2]: json.loads(r.input("policy"))["Statement"]
            for r in run.of_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-s3")}


def test_aws_prod_data_is_under_a_key_of_its_own(planned):
    run = planned("aws-prod")
    [key] = [k for k in run.of_type("aws:kms/key:Key") if k.name.endswith("-data-key")]
    assert key.input("enableKeyRotation") is True and key.input("deletionWindowInDays") == 30 and key.protect
    artifacts, config = _sse(run, "-artifacts-encryption")
    arn = artifacts["kmsMasterKeyId"]
    assert artifacts["sseAlgorithm"] == "aws:kms" and arn.startswith("arn:aws:kms:")
    assert key.urn in config.property_dependencies["rules"], "the bucket's key is the data key"
    logs, _ = _sse(run, "-access-logs-encryption")
    assert logs == {"sseAlgorithm": "AES256"}, "a log target takes SSE-S3 only"
    [database] = run.of_type("aws:rds/instance:Instance")
    assert database.input("kmsKeyId") == arn and database.input("storageEncrypted") is True
    # Each workload may use the key only as far as its access to the bucket goes.
    statements = _role_statements(run)
    assert set(statements) == {"mlflow", "reader", "detector", "fitter"}
    for role, allowed in statements.items():
        [on_key] = [s for s in allowed if s["Resource"] == arn]
        writes = role in ("mlflow", "fitter")
        assert on_key["Action"] == (["kms:Decrypt", "kms:GenerateDataKey"] if writes else ["kms:Decrypt"]), role


def test_aws_dev_data_uses_aws_managed_keys(planned, stack_config):
    run = planned("aws-dev")
    assert [k.name for k in run.of_type("aws:kms/key:Key")] == ["mlops-cluster-secrets-key"]
    assert _sse(run, "-artifacts-encryption")[0] == {"sseAlgorithm": "AES256"}
    assert run.of_type("aws:rds/instance:Instance")[0].input("kmsKeyId") is None
    assert all(not any("kms:" in str(s["Action"]) for s in st) for st in _role_statements(run).values())
    assert pack_config(stack_config("aws-prod"))["aws-data-cmk"]["requireKeys"] is True
    assert pack_config(stack_config("aws-dev"))["aws-data-cmk"]["requireKeys"] is False
    for stack, keys in (("aws-dev", 1), ("aws-prod", 2)):
        [line] = [line for line in estimate(planned(stack), stack_config(stack)) if line.price_key == "kms_key_month"]
        assert line.quantity == keys, stack
