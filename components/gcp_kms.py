"""A customer-managed Cloud KMS key for one service, in prod: its own key ring (rings and keys can
never be deleted in Cloud KMS, so the ring's name carries a random suffix and a re-created stack
never collides with the last one), rotation every 90 days, and the service's agent allowed to
encrypt and decrypt with it, nothing else. Protected with the stack's data (`protect`), so the
engine never schedules its versions' destruction.
Ref: https://cloud.google.com/kms/docs/resource-hierarchy#retrieve_resource_id
Ref: https://cloud.google.com/kubernetes-engine/docs/how-to/encrypting-secrets
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

ROTATION = "7776000s"  # 90 days
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


def service_agent(project_number: Any, domain: str) -> pulumi.Output[str]:
    """A Google service agent's member (e.g. GKE's `container-engine-robot`)."""
    return pulumi.Output.from_input(project_number).apply(lambda n: f"serviceAccount:service-{n}@{domain}")


def customer_key(name: str, purpose: str, location: str, member: Any, protect: bool,
                 opts: pulumi.ResourceOptions) -> tuple[gcp.kms.CryptoKey, gcp.kms.CryptoKeyIAMMember]:
    """The key for `purpose` and `member`'s right to use it; `opts` carries the parent and provider."""
    suffix = random.RandomString(f"{name}-ring-suffix", length=6, special=False, upper=False,
                                 opts=pulumi.ResourceOptions(parent=opts.parent))
    kept = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=protect))
    ring = gcp.kms.KeyRing(f"{name}-ring", name=suffix.result.apply(lambda s: f"mlops-{purpose}-{s}"), location=location, opts=kept)
    key = gcp.kms.CryptoKey(f"{name}-key", name=purpose, key_ring=ring.id, purpose="ENCRYPT_DECRYPT", rotation_period=ROTATION,
                            opts=kept)
    grant = gcp.kms.CryptoKeyIAMMember(f"{name}-key-user", crypto_key_id=key.id, role=ENCRYPTER, member=member, opts=opts)
    return key, grant
