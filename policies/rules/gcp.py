"""GCP rules: GKE, node pools, GCS and Cloud SQL."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from mlops_platform.components.data.outputs import CONNECTION_LOG_SETTINGS, IAM_AUTHENTICATION_FLAG

from .base import REQUIRE_KEYS, Rule, cidrs_open, depends_on_resource, describe_open, dig, stack_resources


def gke_private_nodes(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if dig(args.props, "privateClusterConfig", "enablePrivateNodes") is not True:
        yield "nodes have public IPs (private nodes are off)"


def gke_authorized_networks(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if dig(args.props, "privateClusterConfig", "enablePrivateEndpoint") is True:
        return
    blocks = [b.get("cidrBlock") for b in dig(args.props, "masterAuthorizedNetworksConfig", "cidrBlocks", default=[]) or []]
    if not blocks:
        yield "the control plane has no authorized networks"
    elif cidrs_open(blocks):
        yield f"the control plane authorizes the whole internet ({describe_open(blocks)})"


def gke_network_policy(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.props.get("datapathProvider") != "ADVANCED_DATAPATH" and dig(args.props, "networkPolicy", "enabled") is not True:
        yield "NetworkPolicies are not enforced (neither Dataplane V2 nor the network policy add-on)"


def gke_shielded(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.props.get("enableShieldedNodes") is False:
        yield "shielded nodes are off"
    if args.resource_type == "gcp:container/nodePool:NodePool":
        shielded = dig(args.props, "nodeConfig", "shieldedInstanceConfig", default={}) or {}
        if shielded.get("enableSecureBoot") is not True:
            yield "secure boot is off on the pool's nodes"


def gke_workload_identity(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.resource_type == "gcp:container/cluster:Cluster":
        if not dig(args.props, "workloadIdentityConfig", "workloadPool"):
            yield "Workload Identity is off"
    elif dig(args.props, "nodeConfig", "workloadMetadataConfig", "mode") != "GKE_METADATA":
        yield "pods can reach the node's metadata credentials (workloadMetadataConfig.mode is not GKE_METADATA)"


def gcs(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.props.get("uniformBucketLevelAccess") is not True:
        yield "uniform bucket-level access is off (object ACLs apply)"
    if args.props.get("publicAccessPrevention") != "enforced":
        yield "public access prevention is not enforced"


def cloud_sql(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    settings = args.props.get("settings") or {}
    if dig(settings, "ipConfiguration", "ipv4Enabled") is not False:
        yield "the instance has a public IP"
    if dig(settings, "backupConfiguration", "enabled") is not True:
        yield "automated backups are off"



def _flags(props: Mapping[str, Any]) -> dict[str, str]:
    return {str(f.get("name")): str(f.get("value")) for f in dig(props, "settings", "databaseFlags", default=[]) or []
            if isinstance(f, Mapping)}


def cloud_sql_iam_login(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if _flags(args.props).get(IAM_AUTHENTICATION_FLAG) != "on":
        yield (f"database flag {IAM_AUTHENTICATION_FLAG} is not on: MLflow cannot log in as its service account and "
               "would need a password of its own")


def cloud_sql_logs(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    flags = _flags(args.props)
    for flag in CONNECTION_LOG_SETTINGS:
        if flags.get(flag) != "on":
            yield f"database flag {flag} is not on: connections go unlogged"
    if flags.get("cloudsql.enable_pgaudit") != "on" or not flags.get("pgaudit.log"):
        yield "pgaudit is off: schema and role changes go unlogged (flags cloudsql.enable_pgaudit: on, pgaudit.log)"


def gcs_access_logs(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: each bucket has usage logging into another, unless it is where another's logs go."""
    buckets = stack_resources(args, "gcp:storage/bucket:Bucket")
    for bucket in buckets:
        if any(depends_on_resource(other, bucket, "logging") for other in buckets if other is not bucket):
            continue
        if not dig(bucket.props, "logging", "logBucket"):
            yield (f"bucket {bucket.name}: requests to it are not logged (no logging.logBucket)", bucket.urn)


def gke_secrets_key(args: Any, config: Mapping[str, Any]) -> Iterator[str]:
    """In prod, Secrets are encrypted at the application layer with a customer-managed key. The key's
    name is unknown in the preview of a first deploy, so the state is what is checked."""
    if config.get("requireKeys") and dig(args.props, "databaseEncryption", "state") != "ENCRYPTED":
        yield "Secrets are not encrypted with a customer-managed key (databaseEncryption.state is not ENCRYPTED)"


def data_keys(args: Any, config: Mapping[str, Any]) -> Iterator[str]:
    """In prod, buckets and Cloud SQL encrypt with a customer-managed key. A key's name unknown in the
    preview of a first deploy leaves the check to the update (pulumi_policy skips unknowns)."""
    if not config.get("requireKeys"):
        return
    if args.resource_type == "gcp:storage/bucket:Bucket":
        if not dig(args.props, "encryption", "defaultKmsKeyName"):
            yield "objects are encrypted with Google-managed keys (no encryption.defaultKmsKeyName)"
    elif not args.props.get("encryptionKeyName"):
        yield "the instance's disk is encrypted with a Google-managed key (no encryptionKeyName)"


def subnet_flow_logs(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if not args.props.get("logConfig"):
        yield "the subnetwork has no flow logs (logConfig)"


RULES = [
    Rule("gcp-gke-private-nodes", "gcp", "GKE nodes have no public IPs.", "Set privateClusterConfig.enablePrivateNodes: true.",
         gke_private_nodes, ("gcp:container/cluster:Cluster",)),
    Rule("gcp-gke-authorized-networks", "gcp", "The GKE control plane accepts only authorized networks (or is private).",
         "Set cluster.apiAllowedCidrs, or cluster.privateEndpoint: true.", gke_authorized_networks,
         ("gcp:container/cluster:Cluster",)),
    Rule("gcp-gke-network-policy", "gcp", "GKE enforces NetworkPolicies.", "Use datapathProvider: ADVANCED_DATAPATH (Dataplane V2).",
         gke_network_policy, ("gcp:container/cluster:Cluster",)),
    Rule("gcp-gke-shielded-nodes", "gcp", "GKE nodes are shielded with secure boot.",
         "Set enableShieldedNodes and nodeConfig.shieldedInstanceConfig.enableSecureBoot.", gke_shielded,
         ("gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool")),
    Rule("gcp-gke-workload-identity", "gcp", "GKE uses Workload Identity and node pools hide the node's credentials.",
         "Set workloadIdentityConfig.workloadPool and nodeConfig.workloadMetadataConfig.mode: GKE_METADATA.",
         gke_workload_identity, ("gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool")),
    Rule("gcp-gcs-private-uniform", "gcp", "GCS buckets enforce public access prevention and uniform access.",
         "Set publicAccessPrevention: enforced and uniformBucketLevelAccess: true.", gcs, ("gcp:storage/bucket:Bucket",)),
    Rule("gcp-cloudsql-private-backed-up", "gcp", "Cloud SQL has no public IP and keeps automated backups.",
         "Set settings.ipConfiguration.ipv4Enabled: false (private IP) and backupConfiguration.enabled: true.", cloud_sql,
         ("gcp:sql/databaseInstance:DatabaseInstance",)),
    Rule("gcp-cloudsql-connection-logging", "gcp", "Cloud SQL logs every connection and disconnection.",
         "Set settings.databaseFlags log_connections and log_disconnections to on.", cloud_sql_logs,
         ("gcp:sql/databaseInstance:DatabaseInstance",)),
    Rule("gcp-cloudsql-iam-login", "gcp", "Cloud SQL takes IAM database logins: MLflow logs in as its service account, "
         "with no password of its own.", f"Set settings.databaseFlags {IAM_AUTHENTICATION_FLAG} to on (components/data/gcp.py "
         "adds MLflow's IAM user).", cloud_sql_iam_login, ("gcp:sql/databaseInstance:DatabaseInstance",)),
    Rule("gcp-gcs-access-logs", "gcp", "Every bucket logs the requests made to it (usage logs), but the log bucket.",
         "Set the bucket's logging.logBucket to a log bucket (components/data/access_logs.py).", gcs_access_logs),
    Rule("gcp-gke-secrets-cmek", "gcp", "In prod, GKE encrypts Secrets with a customer-managed Cloud KMS key.",
         "Set databaseEncryption {state: ENCRYPTED, keyName} (components/gcp_kms.py makes the key in prod).", gke_secrets_key,
         ("gcp:container/cluster:Cluster",), config_schema=REQUIRE_KEYS),
    Rule("gcp-data-cmek", "gcp", "In prod, buckets and Cloud SQL encrypt with customer-managed Cloud KMS keys.",
         "Set the bucket's encryption.defaultKmsKeyName and the instance's encryptionKeyName (components/data/gcp.py makes "
         "the keys in prod).", data_keys, ("gcp:storage/bucket:Bucket", "gcp:sql/databaseInstance:DatabaseInstance"),
         config_schema=REQUIRE_KEYS),
    Rule("gcp-subnet-flow-logs", "gcp", "Every subnetwork records VPC flow logs.",
         "Give the subnetwork a logConfig (components/cluster/gke.py samples half the flows, with metadata).", subnet_flow_logs,
         ("gcp:compute/subnetwork:Subnetwork",)),
]
