"""IAM policy documents the AWS cluster and data layer both write: JSON with sorted keys (so plans
are reproducible), a service's assume-role trust, and the IRSA trust of one service account."""

from __future__ import annotations

import json
from typing import Any

import pulumi


def policy(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True)


def deny_insecure_transport(bucket_arn: str) -> dict[str, Any]:
    """The bucket-policy statement refusing every request to the bucket not made over TLS.
    Ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html"""
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def assume_role(service: str) -> str:
    return policy(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
        }
    )


def irsa_trust(provider_arn: pulumi.Input[str], issuer: pulumi.Input[str], namespace: str, service_account: str) -> pulumi.Output[str]:
    """Trust policy letting exactly one Kubernetes service account assume a role (IRSA)."""
    return pulumi.Output.all(provider_arn, issuer).apply(
        lambda v: policy(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Federated": v[0]},
                        "Action": "sts:AssumeRoleWithWebIdentity",
                        "Condition": {
                            "StringEquals": {
                                f"{v[1]}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                                f"{v[1]}:aud": "sts.amazonaws.com",
                            }
                        },
                    }
                ],
            }
        )
    )
