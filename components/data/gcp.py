"""GcpData: a GCS bucket, Cloud SQL Postgres on private IP, and Workload Identity per workload.

- Bucket: uniform bucket-level access, public access prevention enforced, versioning with old
  versions deleted after 30 days; `force_destroy` only where the stack file asks (not in prod).
- Cloud SQL: private IP only through Private Service Access, TLS required, automated backups
  with point-in-time recovery kept at least 7 days, Enterprise edition (PostgreSQL 16+ defaults to
  Enterprise Plus, which refuses shared-core tiers), deletion protection in prod.
- Identities: one Google service account per workload with objectViewer or objectAdmin on the
  bucket, bound to `PROJECT.svc.id.goog[namespace/name]` with roles/iam.workloadIdentityUser.
- MLflow logs in to the database as its service account (IAM database authentication): no password
  of its own; a token its pod fetches (components/addons/mlflow_login.py). The master's password
  stays with the platform's Jobs.
- Prod stacks `protect` the bucket and the instance, and encrypt both buckets and the instance with
  customer-managed Cloud KMS keys (components/gcp_kms.py): one for GCS's service agent, one for
  Cloud SQL's, each usable by that agent alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_gcp as gcp
import pulumi_random as random

from .. import names, versions
from ..cluster.outputs import ClusterOutputs, GcpNetwork
from ..config import PlatformConfig
from ..config.sections import KeptData
from ..gcp_kms import customer_key
from . import db_trust
from .access_logs import gcs_log_bucket
from .outputs import (
    CLOUD_SQL_IAM_USER,
    CONNECTION_LOG_SETTINGS,
    IAM_AUTHENTICATION_FLAG,
    PGAUDIT_LOG,
    Database,
    DataOutputs,
    IamLogin,
    ManagedDataArgs,
    ObjectStore,
    WorkloadAccess,
)


@dataclass(frozen=True)
class GcpDataArgs(ManagedDataArgs):
    # What `platform destroy --keep-data` kept: the bucket is imported; the database, a retained
    # Cloud SQL backup, is restored onto the new instance by the CLI after the update (cli/backup/keep.py).
    kept: Optional[KeptData] = None


class GcpData(pulumi.ComponentResource):
    outputs: DataOutputs

    @staticmethod
    def args_from(config: PlatformConfig, cluster: ClusterOutputs) -> GcpDataArgs:
        return GcpDataArgs(**ManagedDataArgs.common(config, cluster), kept=config.kept_data)

    def __init__(self, name: str, args: GcpDataArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:data:GcpData", name, None, opts)
        net = args.cluster.network
        assert isinstance(net, GcpNetwork), "GcpData needs a GKE cluster's network"
        self._net = net
        suffix = random.RandomString(
            f"{name}-suffix", length=names.DATABASE_SUFFIX_LENGTH, special=False, upper=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self._customer_keys(name, args)
        self._bucket(name, args, suffix)
        password, database, user = self._database(name, args, suffix)
        access = self._identities(name, args)
        iam_login, iam_user = self._iam_login(name, access)
        self.outputs = DataOutputs(
            object_store=ObjectStore(
                kind="gcs", bucket=self.bucket.name, uri=self.bucket.name.apply(lambda b: f"gs://{b}"), region=net.region
            ),
            database=Database.managed(self.instance.private_ip_address, password.result, self.instance.name,
                                      db_trust.cloud_sql(self.instance.server_ca_certs), self._peering_cidr, iam_login),
            access=access,
            store_ready=(self.bucket,),
            database_ready=(database, user, iam_user),
        )
        self.register_outputs(self.outputs.registered())

    def _opts(self, *depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._net.provider, depends_on=list(depends_on), **extra)

    def _customer_keys(self, name: str, args: GcpDataArgs) -> None:
        """In prod, a key for the buckets and one for the database, each granted to its service's agent
        alone; `_store_key`/`_database_key` are (encryption settings, what to wait for): none elsewhere."""
        self._store_key: tuple[Optional[dict[str, Any]], list[pulumi.Resource]] = (None, [])
        self._database_key: tuple[Any, list[pulumi.Resource]] = (None, [])
        if not args.customer_keys:
            return
        net = self._net
        # GCS's agent encrypts objects; this call also creates it where the project has none yet.
        # Ref: https://cloud.google.com/storage/docs/encryption/using-customer-managed-keys#prereqs
        gcs_agent = gcp.storage.get_project_service_account_output(
            project=net.project, opts=pulumi.InvokeOptions(provider=net.provider))
        # Cloud SQL's agent exists only once asked for. Ref: https://cloud.google.com/sql/docs/postgres/configure-cmek#create-service-account
        sql_agent = gcp.projects.ServiceIdentity(f"{name}-cloudsql-agent", project=net.project,
                                                 service="sqladmin.googleapis.com", opts=self._opts())
        # Each ring in the region of what it encrypts, as GCS and Cloud SQL require.
        key, grant = customer_key(f"{name}-store", "gcs-artifacts", net.region, gcs_agent.member, args.protect, self._opts())
        self._store_key = ({"default_kms_key_name": key.id}, [grant])
        key, grant = customer_key(f"{name}-database", "cloudsql", net.region, sql_agent.member, args.protect, self._opts())
        self._database_key = (key.id, [grant])

    def _bucket(self, name: str, args: GcpDataArgs, suffix: random.RandomString) -> None:
        """The artifact bucket: uniform access, public access prevented, versioned."""
        net = self._net
        encryption, key_ready = self._store_key

        def child(*depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
            # Both buckets wait for GCS's right to their key.
            return self._opts(*depends_on, *key_ready, **extra)

        logs = gcs_log_bucket(name, args.env, suffix, net.region.upper(), args.protect, child, encryption)
        kept = args.kept.bucket if args.kept else None
        # A bucket kept by `destroy --keep-data` is imported by its name. The name is fixed at creation
        # (a change replaces the bucket): ignored afterwards, so the adopted one stays when later updates
        # give the generated name again. Adopting, its logging (into the log bucket the destroy removed)
        # is taken as it is; the next update points it at this stack's log bucket.
        # Ref: https://www.pulumi.com/docs/iac/concepts/resources/options/import/
        self.bucket = gcp.storage.Bucket(
            f"{name}-artifacts",
            name=kept or suffix.result.apply(lambda s: names.bucket_prefix(args.env) + s),
            location=net.region.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning={"enabled": True},
            lifecycle_rules=[
                {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": 30, "with_state": "ARCHIVED"}}
            ],
            # Every request to the bucket, in the log bucket (data/access_logs.py).
            logging={"log_bucket": logs.name, "log_object_prefix": "artifacts"},
            encryption=encryption,
            force_destroy=args.force_destroy,
            opts=child(protect=args.protect, import_=kept,
                       ignore_changes=["name", *(["logging", "forceDestroy"] if kept else [])]),
        )


    def _database(self, name: str, args: GcpDataArgs, suffix: random.RandomString) -> tuple[Any, Any, Any]:
        """Cloud SQL on private IP through Private Service Access, its database and user."""
        child, net = self._opts, self._net
        key_name, key_ready = self._database_key
        peering_range = gcp.compute.GlobalAddress(
            f"{name}-sql-range",
            name=f"{names.env_prefix(args.env)}-sql-range",
            purpose="VPC_PEERING",
            address_type="INTERNAL",
            prefix_length=20,
            network=net.network_id,
            opts=child(),
        )
        # Cloud SQL's private address is in this block (MLflow's egress to the database goes nowhere else).
        self._peering_cidr = pulumi.Output.all(peering_range.address, peering_range.prefix_length).apply(
            lambda parts: f"{parts[0]}/{parts[1]}")
        peering = gcp.servicenetworking.Connection(
            f"{name}-sql-peering",
            network=net.network_id,
            service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[peering_range.name],
            # Deleting the peering while Cloud SQL still holds it fails; abandon it on destroy.
            deletion_policy="ABANDON",
            opts=child(),
        )
        password = random.RandomPassword(
            f"{name}-db-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.instance = gcp.sql.DatabaseInstance(
            f"{name}-postgres",
            # Cloud SQL reserves a deleted instance's name for a week: the suffix keeps re-creates possible.
            name=suffix.result.apply(lambda s: f"{names.env_prefix(args.env)}-{s}"),
            region=net.region,
            database_version=f"POSTGRES_{versions.POSTGRES_MAJOR}",
            deletion_protection=args.protect,
            encryption_key_name=key_name,
            settings={
                "tier": args.database.instance_class,
                "edition": "ENTERPRISE",
                "availability_type": "REGIONAL" if args.database.high_availability else "ZONAL",
                "disk_type": "PD_SSD",
                "disk_size": args.database.storage_gb,
                "disk_autoresize": True,
                "deletion_protection_enabled": args.protect,
                "ip_configuration": {
                    "ipv4_enabled": False,
                    "private_network": net.network_id,
                    "ssl_mode": "ENCRYPTED_ONLY",
                },
                "backup_configuration": {
                    "enabled": True,
                    "point_in_time_recovery_enabled": True,
                    # Days of transaction logs kept for point-in-time recovery: 7 at most below Enterprise Plus.
                    # Ref: https://cloud.google.com/sql/docs/postgres/backup-recovery/pitr
                    "transaction_log_retention_days": min(7, args.database.backup_retention_days),
                    "start_time": args.database.backup_start,
                    "backup_retention_settings": {
                        "retained_backups": args.database.backup_retention_days,
                        "retention_unit": "COUNT",
                    },
                },
                "user_labels": {"mlops-platform-env": args.env},
                # Each connection in the instance's log (Cloud Logging).
                # Ref: https://cloud.google.com/sql/docs/postgres/flags#list-flags-postgres
                # And pgaudit (Cloud SQL restarts the instance to load it).
                # Ref: https://cloud.google.com/sql/docs/postgres/pg-audit
                # IAM database authentication, how MLflow logs in (_iam_login).
                # Ref: https://cloud.google.com/sql/docs/postgres/create-edit-iam-instances
                "database_flags": [*({"name": setting, "value": "on"} for setting in CONNECTION_LOG_SETTINGS),
                                   {"name": IAM_AUTHENTICATION_FLAG, "value": "on"},
                                   {"name": "cloudsql.enable_pgaudit", "value": "on"}, {"name": "pgaudit.log", "value": PGAUDIT_LOG}],
            },
            opts=child(peering, *key_ready, protect=args.protect),
        )
        database = gcp.sql.Database(f"{name}-mlflow-db", name=names.DATABASE_MLFLOW, instance=self.instance.name, opts=child())
        user = gcp.sql.User(
            f"{name}-mlflow-user", name=names.DATABASE_USER, instance=self.instance.name, password=password.result, opts=child()
        )

        return password, database, user

    def _identities(self, name: str, args: GcpDataArgs) -> dict[str, WorkloadAccess]:
        """A Google service account per workload, bound to its Kubernetes one (Workload Identity)."""
        child, net = self._opts, self._net
        access: dict[str, WorkloadAccess] = {}
        self._accounts: dict[str, gcp.serviceaccount.Account] = {}
        for workload in names.WORKLOADS:
            account = gcp.serviceaccount.Account(
                f"{name}-{workload.role}-sa",
                account_id=f"{names.env_prefix(args.env)}-{workload.role}"[:30].rstrip("-"),
                display_name=f"{workload.namespace}/{workload.service_account} ({workload.access} artifacts)",
                opts=child(),
            )
            grant = gcp.storage.BucketIAMMember(
                f"{name}-{workload.role}-bucket",
                bucket=self.bucket.name,
                role="roles/storage.objectAdmin" if workload.access == "write" else "roles/storage.objectViewer",
                member=account.member,
                opts=child(),
            )
            binding = gcp.serviceaccount.IAMMember(
                f"{name}-{workload.role}-wi",
                service_account_id=account.name,
                role="roles/iam.workloadIdentityUser",
                member=f"serviceAccount:{net.workload_pool}[{workload.namespace}/{workload.service_account}]",
                opts=child(grant),  # `identity` below then stands for both
            )
            access[workload.role] = WorkloadAccess(
                annotations={"iam.gke.io/gcp-service-account": account.email}, identity=binding
            )
            self._accounts[workload.role] = account

        return access

    def _iam_login(self, name: str, access: dict[str, WorkloadAccess]) -> tuple[IamLogin, gcp.sql.User]:
        """MLflow's service account as an IAM user of the instance, allowed to log in to this instance
        alone; returns the login (its user: the account's e-mail without `.gserviceaccount.com`)."""
        child, net = self._opts, self._net
        account = self._accounts[names.MLFLOW.role]
        # Ref: https://cloud.google.com/sql/docs/postgres/iam-conditions#allow_users_to_connect_to_specific_instances
        login_right = gcp.projects.IAMMember(
            f"{name}-mlflow-sql-login",
            project=net.project,
            role="roles/cloudsql.instanceUser",
            member=account.member,
            condition={
                "title": "this stack's instance only",
                "expression": pulumi.Output.all(net.project, self.instance.name).apply(
                    lambda parts: f"resource.name == 'projects/{parts[0]}/instances/{parts[1]}' && "
                                  "resource.type == 'sqladmin.googleapis.com/Instance'"),
            },
            opts=child(),
        )
        # Ref: https://cloud.google.com/sql/docs/postgres/add-manage-iam-users#creating-a-database-user
        login = account.email.apply(iam_login_name)
        bound = access[names.MLFLOW.role].identity  # the account's Workload Identity binding
        assert bound is not None, "each GCP workload's access names its binding"
        user = gcp.sql.User(f"{name}-mlflow-iam-user", name=login, instance=self.instance.name,
                            type=CLOUD_SQL_IAM_USER, opts=child(login_right, bound))
        return IamLogin("cloudsql", login), user


def iam_login_name(email: str) -> str:
    """A service account's database user: Cloud SQL drops the e-mail's `.gserviceaccount.com`."""
    return email.removesuffix(".gserviceaccount.com")
