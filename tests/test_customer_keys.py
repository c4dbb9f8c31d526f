"""Customer-managed keys in prod (issue 23, item 5), under the SDK's mocks: GKE's Secrets under a
Cloud KMS key of the stack's own, rotated every 90 days, protected, usable by GKE's service agent
alone; none in dev; the policy that requires it in prod; its cost in the estimate."""

from __future__ import annotations

from mlops_platform.planner.costs import estimate
from mlops_platform.policies.registry import pack_config

KEY = "gcp:kms/cryptoKey:CryptoKey"
RING = "gcp:kms/keyRing:KeyRing"
GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
GKE = "gcp:container/cluster:Cluster"


def test_gke_prod_encrypts_secrets_with_its_own_rotated_protected_key(planned):
    run = planned("gcp-prod")
    [key], [ring], [grant], [cluster] = run.of_type(KEY), run.of_type(RING), run.of_type(GRANT), run.of_type(GKE)
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


def test_gke_dev_has_no_key(planned):
    run = planned("gcp-dev")
    assert not run.of_type(KEY) and not run.of_type(RING)
    assert run.of_type(GKE)[0].input("databaseEncryption") is None


def test_the_key_is_required_in_prod_only(stack_config):
    assert pack_config(stack_config("gcp-prod"))["gcp-gke-secrets-cmek"]["requireKeys"] is True
    assert pack_config(stack_config("gcp-dev"))["gcp-gke-secrets-cmek"]["requireKeys"] is False


def test_the_estimate_prices_the_key(planned, stack_config):
    lines = [line for line in estimate(planned("gcp-prod"), stack_config("gcp-prod")) if "Cloud KMS" in line.item]
    assert [(line.quantity, line.price_key) for line in lines] == [(1, "kms_key_version_month")]
    assert not [line for line in estimate(planned("gcp-dev"), stack_config("gcp-dev")) if "Cloud KMS" in line.item]


def test_replacing_the_key_or_its_ring_is_refused_unless_allowed():
    from mlops_platform.cli.engine.diff import critical_reason

    assert "encryption key" in (critical_reason(KEY, "mlops-cluster-secrets-key") or "")
    assert "ring" in (critical_reason(RING, "mlops-cluster-secrets-ring") or "")
