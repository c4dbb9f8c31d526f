"""AWS rules: EKS, node launch templates, S3 and RDS."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

from mlops_platform.components.data.outputs import CONNECTION_LOG_SETTINGS

from .base import REQUIRE_KEYS, Rule, cidrs_open, depends_on_resource, describe_open, dig, stack_resources


def eks_endpoint(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    vpc = args.props.get("vpcConfig") or {}
    if vpc.get("endpointPublicAccess", True) is False:
        return
    cidrs = vpc.get("publicAccessCidrs") or []
    if not cidrs:
        yield "the EKS API endpoint is public with no CIDR limit (defaults to 0.0.0.0/0)"
    elif cidrs_open(cidrs):
        yield f"the EKS API endpoint is open to the internet ({describe_open(cidrs)})"


def eks_secrets_encryption(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    config = args.props.get("encryptionConfig") or {}
    if "secrets" not in (config.get("resources") or []) or "provider" not in config:
        yield "Kubernetes secrets are not envelope-encrypted with a KMS key"


def eks_creator_admin(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    # Unset, EKS makes the creator a cluster admin for the cluster's life.
    # Ref: https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateAccessConfigRequest.html
    if dig(args.props, "accessConfig", "bootstrapClusterCreatorAdminPermissions") is not False:
        yield "the cluster's creator stays cluster admin (accessConfig.bootstrapClusterCreatorAdminPermissions is not false)"


def kms_rotation(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.props.get("enableKeyRotation") is not True:
        yield "KMS key rotation is off"


def eks_logging(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    missing = {"api", "audit", "authenticator"} - set(args.props.get("enabledClusterLogTypes") or [])
    if missing:
        yield f"control-plane log types not enabled: {', '.join(sorted(missing))}"


def imdsv2(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    meta = args.props.get("metadataOptions") or {}
    if meta.get("httpTokens") != "required":
        yield "IMDSv1 is allowed (metadataOptions.httpTokens is not required)"
    if meta.get("httpPutResponseHopLimit") != 1:
        yield "the IMDS hop limit is not 1: pods can reach the node's credentials"


def _per_bucket(args: Any, companion_type: str, ok: Callable[[Mapping[str, Any]], bool], message: str) -> Iterator[Any]:
    companions = stack_resources(args, companion_type)
    for bucket in stack_resources(args, "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        mine = [c for c in companions if depends_on_resource(c, bucket, "bucket")]
        if not any(ok(c.props) for c in mine):
            yield (f"bucket {bucket.name}: {message}", bucket.urn)


def s3_public_access_block(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    keys = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    yield from _per_bucket(args, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                           lambda p: all(p.get(k) is True for k in keys), "no public access block with all four settings on")


def s3_encryption(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    yield from _per_bucket(
        args, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        lambda p: bool(dig(p, "rules", 0, "applyServerSideEncryptionByDefault", "sseAlgorithm")),
        "no default server-side encryption")


def s3_versioning(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    yield from _per_bucket(args, "aws:s3/bucketVersioning:BucketVersioning",
                           lambda p: dig(p, "versioningConfiguration", "status") == "Enabled", "versioning is not enabled")


def _buckets_and_logging(args: Any) -> tuple[list[Any], list[Any]]:
    """The stack's buckets that are no other's access-log target, and its logging settings."""
    logging = stack_resources(args, "aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
    buckets = [b for b in stack_resources(args, "aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
               if not any(depends_on_resource(item, b, "targetBucket") for item in logging)]
    return buckets, logging


def s3_access_logs(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: each bucket logs its requests to another, unless it is where another's logs go."""
    buckets, logging = _buckets_and_logging(args)
    for bucket in buckets:
        if not any(depends_on_resource(item, bucket, "bucket") and item.props.get("targetBucket") for item in logging):
            yield (f"bucket {bucket.name}: requests to it are not logged (no server access logging)", bucket.urn)


def data_keys(args: Any, config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: in prod, each bucket (but a log target, which takes SSE-S3 only) and each RDS
    instance is encrypted with a customer-managed key."""
    if not config.get("requireKeys"):
        return
    sse = stack_resources(args, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    for bucket in _buckets_and_logging(args)[0]:
        if not any(dig(c.props, "rules", 0, "applyServerSideEncryptionByDefault", "kmsMasterKeyId")
                   for c in sse if depends_on_resource(c, bucket, "bucket")):
            yield (f"bucket {bucket.name}: objects are encrypted with an AWS-managed key (no kmsMasterKeyId)", bucket.urn)
    for database in stack_resources(args, "aws:rds/instance:Instance"):
        if not database.props.get("kmsKeyId"):
            yield (f"database {database.name} is encrypted with the AWS-managed key (no kmsKeyId)", database.urn)


def rds(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.props.get("publiclyAccessible") is True:
        yield "the database is publicly accessible"
    if args.props.get("storageEncrypted") is not True:
        yield "the database storage is not encrypted"
    if (args.props.get("backupRetentionPeriod") or 0) < 7:
        yield f"backups are kept {args.props.get('backupRetentionPeriod') or 0} days (at least 7)"



def rds_iam_login(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.props.get("iamDatabaseAuthenticationEnabled") is not True:
        yield "IAM database authentication is off: MLflow cannot log in with its role's token and would need a password"


def rds_logs(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: the parameter group is a resource of its own, tied to the instance by the name
    the instance gives (or, where that is not known yet, by its dependency on the group)."""
    groups = stack_resources(args, "aws:rds/parameterGroup:ParameterGroup")
    for instance in stack_resources(args, "aws:rds/instance:Instance"):
        if "postgresql" not in (instance.props.get("enabledCloudwatchLogsExports") or []):
            yield (f"{instance.name}: the server's log is not exported to CloudWatch Logs (enabledCloudwatchLogsExports: "
                   "[postgresql])", instance.urn)
        named = instance.props.get("parameterGroupName")
        own = [{str(p.get("name")): str(p.get("value")) for p in g.props.get("parameters") or []} for g in groups
               if depends_on_resource(instance, g, "parameterGroupName") or (named and g.props.get("name") == named)]
        if not any(all(values.get(s) == "1" for s in CONNECTION_LOG_SETTINGS) for values in own):
            yield (f"{instance.name}: its parameter group does not log connections (log_connections and log_disconnections: 1)",
                   instance.urn)
        if not any("pgaudit" in values.get("shared_preload_libraries", "").split(",") and values.get("pgaudit.log")
                   for values in own):
            yield (f"{instance.name}: its parameter group does not load pgaudit (shared_preload_libraries, pgaudit.log): "
                   "schema and role changes go unlogged", instance.urn)


def vpc_flow_logs(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: each VPC has a flow log of all its traffic (a resource of its own, naming it)."""
    logs = [f for f in stack_resources(args, "aws:ec2/flowLog:FlowLog") if f.props.get("trafficType") == "ALL"]
    for vpc in stack_resources(args, "aws:ec2/vpc:Vpc"):
        if not any(depends_on_resource(log, vpc, "vpcId") for log in logs):
            yield (f"VPC {vpc.name} has no flow log of all its traffic", vpc.urn)


RULES = [
    Rule("aws-eks-endpoint-restricted", "aws", "The EKS API endpoint is private or limited to known CIDRs, never 0.0.0.0/0.",
         "Set cluster.apiAllowedCidrs to your office/VPN ranges, or cluster.privateEndpoint: true.", eks_endpoint,
         ("aws:eks/cluster:Cluster",)),
    Rule("aws-eks-secrets-encryption", "aws", "EKS envelope-encrypts Kubernetes secrets with a KMS key.",
         "Give the cluster an encryptionConfig for resources [secrets] with a customer-managed key.", eks_secrets_encryption,
         ("aws:eks/cluster:Cluster",)),
    Rule("aws-eks-no-creator-admin", "aws", "EKS gives its creator no permanent cluster admin; admins are access entries.",
         "Set accessConfig.bootstrapClusterCreatorAdminPermissions: false and give admin through access entries "
         "(components/cluster/eks.py: the stack file's adminRoleArns and the deployer).", eks_creator_admin,
         ("aws:eks/cluster:Cluster",)),
    Rule("aws-kms-key-rotation", "aws", "KMS keys rotate yearly.", "Set enableKeyRotation: true on the key.", kms_rotation,
         ("aws:kms/key:Key",)),
    Rule("aws-eks-control-plane-logging", "aws", "EKS sends api, audit and authenticator logs to CloudWatch.",
         "Enable the api, audit and authenticator log types (the platform enables all five).", eks_logging,
         ("aws:eks/cluster:Cluster",)),
    Rule("aws-imdsv2-hop-limit", "aws", "Nodes require IMDSv2 with a hop limit of 1.",
         "In the launch template set metadataOptions.httpTokens: required and httpPutResponseHopLimit: 1.", imdsv2,
         ("aws:ec2/launchTemplate:LaunchTemplate",)),
    Rule("aws-s3-public-access-block", "aws", "Every bucket has a public access block with all four settings on.",
         "Add an aws.s3.BucketPublicAccessBlock for the bucket with every setting true.", s3_public_access_block),
    Rule("aws-s3-encryption", "aws", "Every bucket encrypts objects at rest by default.",
         "Add an aws.s3.BucketServerSideEncryptionConfiguration (AES256 or aws:kms).", s3_encryption),
    Rule("aws-s3-versioning", "aws", "Every bucket keeps object versions.", "Add an aws.s3.BucketVersioning with status Enabled.",
         s3_versioning),
    Rule("aws-s3-access-logs", "aws", "Every bucket logs the requests made to it (server access logging), but the log bucket.",
         "Add an aws.s3.BucketLogging naming a log bucket (components/data/access_logs.py).", s3_access_logs),
    Rule("aws-rds-private-encrypted-backed-up", "aws", "RDS is not public, is encrypted, and keeps backups at least 7 days.",
         "Set publiclyAccessible: false, storageEncrypted: true and backupRetentionPeriod >= 7.", rds,
         ("aws:rds/instance:Instance",)),
    Rule("aws-rds-iam-login", "aws", "RDS takes IAM database logins: MLflow logs in with its IRSA role's token, with no "
         "password of its own.", "Set iamDatabaseAuthenticationEnabled: true (components/data/aws.py gives MLflow's role "
         "rds-db:connect).", rds_iam_login, ("aws:rds/instance:Instance",)),
    Rule("aws-rds-audit-logs", "aws", "RDS logs every connection and exports its log to CloudWatch Logs.",
         "Export the postgresql log (enabledCloudwatchLogsExports) and use a parameter group with log_connections and "
         "log_disconnections on (components/data/aws.py does both).", rds_logs),
    Rule("aws-data-cmk", "aws", "In prod, the buckets (but log targets) and RDS encrypt with a customer-managed KMS key.",
         "Give the bucket's encryption a kmsMasterKeyId and the instance a kmsKeyId (components/data/aws.py makes the key "
         "in prod).", data_keys, config_schema=REQUIRE_KEYS),
    Rule("aws-vpc-flow-logs", "aws", "Every VPC records its flows (accepted and rejected) in a flow log.",
         "Give the VPC an aws.ec2.FlowLog with trafficType ALL (components/cluster/eks.py does, to CloudWatch Logs).",
         vpc_flow_logs),
]
