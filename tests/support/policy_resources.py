"""Policy-pack inputs built the way the engine's analyzer passes them (pulumi_policy's own
objects), and compliant baselines of the resources the rules inspect: each test breaks one thing."""

from __future__ import annotations

import copy
from typing import Any

from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def resource(resource_type: str, props: dict, name: str = "r", protect: bool = False, **deps: list) -> PolicyResource:
    return PolicyResource(resource_type, props, f"urn:pulumi:t::p::{resource_type}::{name}", name, options(protect),
                          None, None, [], dict(deps))


# A compliant pod: each test breaks one thing in a copy. Its images are pinned by digest (made up).
PINNED = "@sha256:1111111111111111111111111111111111111111111111111111111111111111"
CONTAINER = {
    "name": "app",
    "image": f"registry.example.com/app:1.2.3{PINNED}",
    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}
POD = {"automountServiceAccountToken": False, "securityContext": {"runAsNonRoot": True}, "containers": [CONTAINER]}


# Compliant clusters and a GKE node pool, as their providers' inputs.
EKS_GOOD = {
    "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:k"}},
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
    "accessConfig": {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False},
}
AKS_GOOD = {"apiServerAccessProfile": {"authorizedIPRanges": ["203.0.113.0/24"]}, "networkProfile": {"networkPolicy": "cilium"},
            "disableLocalAccounts": True, "agentPoolProfiles": [{"name": "system", "vmSize": "Standard_D2s_v5", "count": 2}]}
GKE_GOOD = {"privateClusterConfig": {"enablePrivateNodes": True}, "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]},
            "datapathProvider": "ADVANCED_DATAPATH", "enableShieldedNodes": True, "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"}}
POOL_GOOD = {"nodeConfig": {"workloadMetadataConfig": {"mode": "GKE_METADATA"}, "shieldedInstanceConfig": {"enableSecureBoot": True},
                            "machineType": "e2-standard-4"}, "nodeCount": 1}


def patched(base: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(base)
    target = out
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return out


# Compliant AWS bucket settings, RDS, Azure storage, Cloud SQL, GCS and launch template.
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
BUCKET_GOOD = {PAB: {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True},
               SSE: {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]},
               VERSIONING: {"versioningConfiguration": {"status": "Enabled"}},
               LOGGING: {"targetBucket": "logs", "targetPrefix": "artifacts/"}}
RDS_GOOD = {"publiclyAccessible": False, "storageEncrypted": True, "backupRetentionPeriod": 7,
            "enabledCloudwatchLogsExports": ["postgresql", "upgrade"]}
SQL_FLAGS = [{"name": "log_connections", "value": "on"}, {"name": "log_disconnections", "value": "on"}]
STORAGE_GOOD = {"allowBlobPublicAccess": False, "minimumTlsVersion": "TLS1_2", "enableHttpsTrafficOnly": True,
                "networkRuleSet": {"defaultAction": "Deny"}}
SQL_GOOD = {"settings": {"ipConfiguration": {"ipv4Enabled": False}, "backupConfiguration": {"enabled": True},
                         "databaseFlags": SQL_FLAGS}}
GCS_GOOD = {"uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced", "logging": {"logBucket": "logs"}}
LT_GOOD = {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}}


def bucket_and(companions: dict[str, dict]) -> list:
    bucket = resource("aws:s3/bucket:Bucket", {"bucketPrefix": "b-"}, name="bucket")
    out = [bucket]
    for kind, props in companions.items():
        out.append(resource(kind, {"bucket": "b-1", **props}, name=kind.rsplit(":", 1)[-1], bucket=[bucket]))
    return out


def rds(props: dict, logged: tuple = ("log_connections", "log_disconnections"), **extra: Any) -> list:
    """An RDS instance with the parameter group it names (a resource it depends on), logging `logged`."""
    group = resource("aws:rds/parameterGroup:ParameterGroup", {"parameters": [{"name": s, "value": "1"} for s in logged]}, name="pg")
    return [group, resource("aws:rds/instance:Instance", props, name="db", parameterGroupName=[group], **extra)]
