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
            "enabledCloudwatchLogsExports": ["postgresql", "upgrade"], "iamDatabaseAuthenticationEnabled": True}
SQL_FLAGS = [{"name": "log_connections", "value": "on"}, {"name": "log_disconnections", "value": "on"},
             {"name": "cloudsql.enable_pgaudit", "value": "on"}, {"name": "pgaudit.log", "value": "ddl,role"},
             {"name": "cloudsql.iam_authentication", "value": "on"}]
PGAUDIT_PARAMETERS = [{"name": "shared_preload_libraries", "value": "pg_stat_statements,pgaudit"},
                      {"name": "pgaudit.log", "value": "ddl,role"}]
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


def rds(props: dict, logged: tuple = ("log_connections", "log_disconnections"), audit: list = PGAUDIT_PARAMETERS,
        **extra: Any) -> list:
    """An RDS instance with the parameter group it names (a resource it depends on), logging `logged`
    and with the `audit` parameters."""
    parameters = [*({"name": s, "value": "1"} for s in logged), *audit]
    group = resource("aws:rds/parameterGroup:ParameterGroup", {"parameters": parameters}, name="pg")
    return [group, resource("aws:rds/instance:Instance", props, name="db", parameterGroupName=[group], **extra)]


AZURE_PGAUDIT = (("azure.extensions", "PGAUDIT"), ("shared_preload_libraries", "pg_stat_statements,pgaudit"),
                 ("pgaudit.log", "ddl,role"))


def pg_server(props: dict, settings: tuple = ("log_connections", "log_disconnections"), off: tuple = (),
              audit: tuple = AZURE_PGAUDIT, shipped: bool = True, **extra: Any) -> list:
    """A Flexible Server with its server parameters (resources naming it): the connection-logging ones
    in `settings` on, those in `off` off, and the `audit` ones (name, value): pgaudit's by default;
    with `shipped`, its log sent to a workspace. It takes Entra ID logins unless `props` say otherwise."""
    props = {"authConfig": {"activeDirectoryAuth": "Enabled", "passwordAuth": "Enabled"}, **props}
    server = resource("azure-native:dbforpostgresql:Server", props, name="pg", **extra)
    values = [*((s, "on") for s in settings), *((s, "off") for s in off), *audit]
    diagnostics = [resource("azure-native:monitor:DiagnosticSetting", {
        "workspaceId": "ws", "logs": [{"category": "PostgreSQLLogs", "enabled": True}]}, name="pg-logs",
        resourceUri=[server])] if shipped else []
    return [server, *diagnostics, *(resource("azure-native:dbforpostgresql:Configuration",
                                             {"configurationName": s, "value": value}, name=s, serverName=[server])
                                    for s, value in values)]


DIAGNOSTICS = "azure-native:monitor:DiagnosticSetting"


def diagnosed(kind: str, props: dict, categories: tuple = (), to_workspace: bool = True) -> list:
    """An Azure resource and a diagnostic setting sending `categories` of it to a workspace (or nowhere)."""
    target = resource(kind, props, name=kind.rsplit(":", 1)[-1].lower())
    destination = {"workspaceId": "ws"} if to_workspace else {}
    logs = [{"category": c, "enabled": True} for c in categories]
    return [target, *([resource(DIAGNOSTICS, {**destination, "logs": logs}, name="diag", resourceUri=[target])] if categories else [])]


def blob_store(categories: tuple = ("StorageRead", "StorageWrite", "StorageDelete")) -> list:
    account, *diagnostics = diagnosed("azure-native:storage:StorageAccount", STORAGE_GOOD, categories)
    return [account, *diagnostics, resource("azure-native:storage:BlobContainer", {"containerName": "c"}, name="c", accountName=[account])]


# NetworkPolicies that open egress: to the metadata address's port 80; HTTPS from the models to everywhere.
OPEN_TO_METADATA = {"metadata": {"name": "p", "namespace": "n"},
                    "spec": {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"port": 80}]}]}}
OPEN_HTTPS = {"metadata": {"name": "p", "namespace": "models"}, "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 443}]}]}}
