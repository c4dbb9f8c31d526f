"""AwsData: the S3 artifact bucket, RDS Postgres, and one IRSA role per workload.

- Bucket: every public access block on, owner-enforced (no ACLs), SSE, versioning with old
  versions expiring after 30 days, TLS-only bucket policy; `force_destroy` only where the stack
  file asks for it (refused in prod by the config).
- RDS: private subnets only, not publicly accessible, reachable only from the cluster's
  security group, encrypted, backups kept at least 7 days; deletion protection and a final
  snapshot in prod.
- IRSA: each workload's service account assumes a role limited to the bucket and the actions it
  needs (read, or read and write).
- Prod stacks `protect` the bucket and the database: `pulumi destroy` stops before deleting data.
  Both are encrypted there with a customer-managed KMS key of the stack's own (rotated yearly,
  protected with them), which the workloads' roles may use only as far as their access needs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable, Optional

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from .. import names, versions
from ..aws_iam import deny_insecure_transport, irsa_trust, policy
from ..cluster.outputs import AwsNetwork, ClusterOutputs
from ..config import PlatformConfig
from ..config.sections import KeptData
from . import db_trust
from .access_logs import s3_access_logs
from .outputs import (
    CONNECTION_LOG_SETTINGS,
    PGAUDIT_LOG,
    PGAUDIT_PRELOAD,
    Database,
    DataOutputs,
    IamLogin,
    ManagedDataArgs,
    ObjectStore,
    WorkloadAccess,
)

READ_ACTIONS = ["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"]
WRITE_ACTIONS = READ_ACTIONS + ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
# Under SSE-KMS, reading an object decrypts its data key; writing one asks KMS for a new data key.
# Ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#require-sse-kms
KEY_READ_ACTIONS = ["kms:Decrypt"]
KEY_WRITE_ACTIONS = KEY_READ_ACTIONS + ["kms:GenerateDataKey"]


@dataclass(frozen=True)
class AwsDataArgs(ManagedDataArgs):
    # What `platform destroy --keep-data` kept: the bucket is imported, the database created from the snapshot.
    kept: Optional[KeptData] = None


class AwsData(pulumi.ComponentResource):
    outputs: DataOutputs

    @staticmethod
    def args_from(config: PlatformConfig, cluster: ClusterOutputs) -> AwsDataArgs:
        return AwsDataArgs(**ManagedDataArgs.common(config, cluster), kept=config.kept_data)

    def __init__(self, name: str, args: AwsDataArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:data:AwsData", name, None, opts)
        net = args.cluster.network
        assert isinstance(net, AwsNetwork), "AwsData needs an EKS cluster's network"
        self._provider: aws.Provider = net.provider
        self.key = self._data_key(name, args)
        versioning = self._bucket(name, args)
        password = self._database(name, args, net)
        access = self._identities(name, net)
        login = names.mlflow_database_login(args.env)
        login_right = self._login_right(name, net, login)
        bucket_name = self.bucket.bucket
        self.outputs = DataOutputs(
            object_store=ObjectStore(kind="s3", bucket=bucket_name, uri=bucket_name.apply(lambda b: f"s3://{b}"), region=net.region),
            database=Database.managed(self.database.address, password.result, self.database.identifier,
                                      db_trust.rds(net.region), net.vpc_cidr, IamLogin("rds", pulumi.Output.from_input(login), net.region)),
            access=access,
            store_ready=(versioning,),
            database_ready=(self.database, login_right),
        )
        self.register_outputs(self.outputs.registered())

    def _opts(self, *depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._provider, depends_on=list(depends_on), **extra)

    def _data_key(self, name: str, args: AwsDataArgs) -> Optional[aws.kms.Key]:
        """In prod, the key of the artifacts and the database. The default key policy (the account's
        IAM policies decide who may use it): RDS takes its grant through the deployer, the workloads
        through their roles below. Ref: https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html"""
        if not args.customer_keys:
            return None
        return aws.kms.Key(
            f"{name}-data-key",
            description=f"mlops-platform {args.env}: artifact bucket and database",
            enable_key_rotation=True,
            # The longest wait AWS allows before a key scheduled for deletion goes, with its data.
            deletion_window_in_days=30,
            opts=self._opts(protect=args.protect),
        )

    def _bucket(self, name: str, args: AwsDataArgs) -> aws.s3.BucketVersioning:
        """The artifact bucket and its settings; returns its versioning (the bucket is ready then).

        A bucket kept by `destroy --keep-data` is adopted: the bucket and each of its settings are
        imported by the bucket's name (the import id of all seven) instead of created."""
        kept = args.kept.bucket if args.kept else None

        def child(*depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
            return self._opts(*depends_on, import_=kept, **extra)

        # The name is fixed at creation (a change replaces the bucket): ignored afterwards, so that an
        # adopted bucket, imported by its full name, stays when later updates give the prefix again.
        # Ref: https://www.pulumi.com/docs/iac/concepts/resources/options/import/
        self.bucket = aws.s3.Bucket(
            f"{name}-artifacts",
            bucket=kept,
            bucket_prefix=None if kept else names.bucket_prefix(args.env),
            force_destroy=args.force_destroy,
            # Adopting, forceDestroy (the provider's own setting, not the bucket's) is taken as read;
            # the next update sets it as the stack file says.
            opts=child(protect=args.protect, ignore_changes=["bucket", "bucketPrefix", *(["forceDestroy"] if kept else [])]),
        )
        versioning = self._bucket_settings(name, child)
        s3_access_logs(name, args.env, self.bucket, args.protect, self._opts)
        return versioning

    def _bucket_settings(self, name: str, child: Callable[..., pulumi.ResourceOptions]) -> aws.s3.BucketVersioning:
        """The bucket's own settings (each imported with it when adopted, by `child`'s options)."""
        aws.s3.BucketPublicAccessBlock(
            f"{name}-artifacts-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child(),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-artifacts-ownership",
            bucket=self.bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child(),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-artifacts-encryption",
            bucket=self.bucket.id,
            # SSE-KMS under the stack's key in prod; the bucket key saves a KMS request per object.
            # Ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html
            rules=[{"apply_server_side_encryption_by_default": (
                {"sse_algorithm": "aws:kms", "kms_master_key_id": self.key.arn} if self.key else {"sse_algorithm": "AES256"}),
                "bucket_key_enabled": True}],
            opts=child(),
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-artifacts-versioning",
            bucket=self.bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child(),
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-artifacts-lifecycle",
            bucket=self.bucket.id,
            rules=[
                {
                    "id": "expire-old-versions",
                    "status": "Enabled",
                    "filter": {},
                    "noncurrent_version_expiration": {"noncurrent_days": 30},
                    "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
                }
            ],
            opts=child(versioning),
        )
        aws.s3.BucketPolicy(
            f"{name}-artifacts-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(
                lambda arn: policy({"Version": "2012-10-17", "Statement": [deny_insecure_transport(arn)]})
            ),
            opts=child(),
        )

        return versioning

    def _database(self, name: str, args: AwsDataArgs, net: AwsNetwork) -> random.RandomPassword:
        """RDS Postgres in the private subnets, reachable from the cluster only; returns its password."""
        child = self._opts
        snapshot = args.kept.database_snapshot if args.kept else None
        password = random.RandomPassword(
            f"{name}-db-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        subnet_group = aws.rds.SubnetGroup(
            f"{name}-db-subnets", subnet_ids=net.private_subnet_ids, description="mlops-platform database", opts=child()
        )
        # The group and its one rule are separate resources: the rule names the cluster's security
        # group, which exists only once the EKS control plane does (about 10 min), and the database
        # (up to 15 min Multi-AZ) need not wait for it. Rules as their own resources are also what
        # the provider recommends over inline ones.
        # Ref: https://www.pulumi.com/registry/packages/aws/api-docs/ec2/securitygroup/
        db_sg = aws.ec2.SecurityGroup(
            f"{name}-db-sg",
            vpc_id=net.vpc_id,
            description="Postgres from the EKS cluster only",
            opts=child(),
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-db-from-cluster",
            security_group_id=db_sg.id,
            referenced_security_group_id=net.cluster_security_group_id,
            ip_protocol="tcp",
            from_port=5432,
            to_port=5432,
            description="EKS nodes and pods",
            opts=child(),
        )
        identifier = names.env_prefix(args.env)
        parameters = self._parameters(name, identifier)
        self.database = aws.rds.Instance(
            f"{name}-postgres",
            identifier=identifier,
            engine="postgres",
            # The major only: RDS applies minor upgrades. From 15 on, the default parameter group
            # refuses plaintext connections (rds.force_ssl=1); clients also ask for TLS (PGSSLMODE).
            # Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/PostgreSQL.Concepts.General.SSL.html
            engine_version=versions.POSTGRES_MAJOR,
            instance_class=args.database.instance_class,
            allocated_storage=args.database.storage_gb,
            max_allocated_storage=args.database.storage_gb * 5,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=self.key.arn if self.key else None,
            db_name=names.DATABASE_MLFLOW,
            username=names.DATABASE_USER,
            password=password.result,
            db_subnet_group_name=subnet_group.name,
            vpc_security_group_ids=[db_sg.id],
            parameter_group_name=parameters.name,
            # The server's log and the upgrade log to CloudWatch Logs, where they outlive the instance.
            # Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.Concepts.PostgreSQL.html
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            publicly_accessible=False,
            # MLflow's login (_login_right); applied at once, whatever apply_immediately says.
            # Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ModifyInstance.Settings.html
            iam_database_authentication_enabled=True,
            multi_az=args.database.high_availability,
            # Automated backups with point-in-time recovery (RDS keeps the transaction logs) for the retention.
            backup_retention_period=args.database.backup_retention_days,
            backup_window=args.database.backup_window,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            deletion_protection=args.protect,
            skip_final_snapshot=not args.protect,
            final_snapshot_identifier=f"{identifier}-final" if args.protect else None,
            apply_immediately=not args.protect,
            # Kept by `destroy --keep-data`: the database comes back from its snapshot (RDS ignores
            # db_name and username then, and the provider sets the password after the restore).
            # The snapshot only matters at creation: ignored afterwards, so that the next update,
            # without it, does not replace the database.
            # Ref: https://www.pulumi.com/registry/packages/aws/api-docs/rds/instance/
            snapshot_identifier=snapshot,
            opts=child(protect=args.protect, ignore_changes=["snapshotIdentifier"]),
        )

        return password

    def _parameters(self, name: str, identifier: str) -> aws.rds.ParameterGroup:
        """The default parameter group logs no connections and loads no pgaudit; this one does.
        Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithParamGroups.html"""
        return aws.rds.ParameterGroup(
            f"{name}-db-parameters",
            # Named like the instance (unique in the region as its identifier is), so that the name is
            # known before the group exists: the policy pack matches the two by it.
            name=f"{identifier}-logging",
            family=f"postgres{versions.POSTGRES_MAJOR}",
            description="mlops-platform: connection logging, pgaudit",
            parameters=[
                *({"name": setting, "value": "1"} for setting in CONNECTION_LOG_SETTINGS),
                # Loaded at the server's start: a new instance starts with it; an existing one after its
                # next reboot. pg_stat_statements is RDS's own default there, kept.
                # Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.pgaudit.html
                {"name": "shared_preload_libraries", "value": PGAUDIT_PRELOAD, "apply_method": "pending-reboot"},
                {"name": "pgaudit.log", "value": PGAUDIT_LOG},
            ],
            opts=self._opts(),
        )

    def _identities(self, name: str, net: AwsNetwork) -> dict[str, WorkloadAccess]:
        """One IRSA role per workload, limited to the bucket and the actions it needs."""
        child = self._opts
        access: dict[str, WorkloadAccess] = {}
        self._roles: dict[str, aws.iam.Role] = {}
        for workload in names.WORKLOADS:
            role = aws.iam.Role(
                f"{name}-{workload.role}-role",
                assume_role_policy=irsa_trust(
                    net.oidc_provider_arn, net.oidc_issuer, workload.namespace, workload.service_account
                ),
                description=f"IRSA for {workload.namespace}/{workload.service_account} ({workload.access} artifacts)",
                opts=child(),
            )
            actions = WRITE_ACTIONS if workload.access == "write" else READ_ACTIONS
            key_actions = KEY_WRITE_ACTIONS if workload.access == "write" else KEY_READ_ACTIONS
            role_policy = aws.iam.RolePolicy(
                f"{name}-{workload.role}-s3",
                role=role.id,
                policy=pulumi.Output.all(self.bucket.arn, self.key.arn if self.key else None).apply(
                    functools.partial(_access_policy, actions, key_actions)),
                opts=child(),
            )
            access[workload.role] = WorkloadAccess(
                annotations={"eks.amazonaws.com/role-arn": role.arn}, identity=role_policy
            )
            self._roles[workload.role] = role

        return access

    def _login_right(self, name: str, net: AwsNetwork, login: str) -> aws.iam.RolePolicy:
        """MLflow's role may log in to the database as `login` (its IAM database user)."""
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOptions(provider=self._provider)).account_id
        return aws.iam.RolePolicy(f"{name}-mlflow-db-login", role=self._roles[names.MLFLOW.role].id,
                                  policy=account.apply(functools.partial(_login_policy, net.region, login)), opts=self._opts())


def _login_policy(region: str, login: str, account: str) -> str:
    """rds-db:connect as `login` on the region's instances: an instance is named by its resource id,
    which a restore (a new instance renamed into place) changes, so the user's name, the environment's
    own, is what keeps it to this stack's database.
    Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html"""
    return policy({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "rds-db:connect", "Resource": f"arn:aws:rds-db:{region}:{account}:dbuser:*/{login}"}]})


def _access_policy(actions: list[str], key_actions: list[str], arns: list[Any]) -> str:
    """A workload's rights on the bucket, and on its key where it has one (prod); `arns`: the two."""
    bucket_arn, key_arn = arns
    on_key = [{"Effect": "Allow", "Action": key_actions, "Resource": key_arn}] if key_arn else []
    return policy({"Version": "2012-10-17",
                   "Statement": [{"Effect": "Allow", "Action": actions, "Resource": [bucket_arn, f"{bucket_arn}/*"]}, *on_key]})
