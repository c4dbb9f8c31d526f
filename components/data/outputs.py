"""What every data layer yields: an object store, a Postgres database, and per-workload access.

The contract of a data component (local.py, aws.py, azure.py, gcp.py), the same for each:
`args_from(config, cluster)` builds its arguments (a ManagedDataArgs on the clouds), `outputs` is a
DataOutputs, and `register_outputs` registers `DataOutputs.registered()` (DATA_OUTPUT_KEYS).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional

import pulumi

from .. import names
from .db_trust import DatabaseTrust


@dataclass(frozen=True)
class ObjectStore:
    kind: Literal["s3", "gcs", "azure"]
    bucket: pulumi.Output[str]
    # The URI prefix tools use for this store: s3://bucket, gs://bucket, or
    # https://<account>.blob.core.windows.net/<container> (KServe's Azure form).
    uri: pulumi.Output[str]
    region: Optional[str] = None
    endpoint: Optional[str] = None  # an S3-compatible endpoint inside the cluster (local only)
    account: Optional[pulumi.Output[str]] = None  # Azure storage account name

    def env(self) -> list[dict[str, Any]]:
        """Environment that S3-style clients (boto3, aws-cli, MLflow) need for this store."""
        out: list[dict[str, Any]] = []
        if self.kind == "s3" and self.region:
            out.append({"name": "AWS_DEFAULT_REGION", "value": self.region})
            out.append({"name": "AWS_REGION", "value": self.region})
        if self.endpoint:
            out += [
                {"name": "AWS_ENDPOINT_URL", "value": self.endpoint},
                {"name": "S3_ENDPOINT", "value": self.endpoint.split("://", 1)[-1]},
                {"name": "S3_USE_HTTPS", "value": "1" if self.endpoint.startswith("https") else "0"},
                {"name": "MLFLOW_S3_ENDPOINT_URL", "value": self.endpoint},
            ]
        if self.kind == "azure" and self.account is not None:
            out.append({"name": "AZURE_STORAGE_ACCOUNT", "value": self.account})
        return out


# The key of the stack's `credentials` output that holds MLflow's database password on the clouds
# whose restore runs from the CLI: a restored backup of another instance gets it back
# (cli/backup/logins.py).
LOGIN_CREDENTIAL = "database_password"


@dataclass(frozen=True)
class Database:
    host: pulumi.Output[str]
    port: int
    name: str
    user: str
    password: pulumi.Output[str]  # always a secret
    ssl_mode: str  # the clouds' trust.ssl_mode; "disable" in-cluster (traffic never leaves the node network)
    # The managed server's name in its cloud (RDS identifier, Azure server, Cloud SQL instance):
    # what `platform backup` snapshots. None in-cluster.
    instance: Optional[pulumi.Output[str]] = None
    # How clients verify the managed server (db_trust.py). None in-cluster.
    trust: Optional[DatabaseTrust] = None
    # The private range the managed server's address is in: the only place MLflow's egress may reach
    # on the database's port (components/network.py to_database). None in-cluster.
    network: Optional[pulumi.Input[str]] = None
    # MLflow's login by its cloud identity's token instead of a password (AWS, Azure, GCP:
    # components/addons/mlflow_login.py). None: MLflow's own password login (mlflow_grants.APP_ROLE).
    iam_login: Optional["IamLogin"] = None

    @staticmethod
    def managed(host: pulumi.Output[str], password: pulumi.Input[str], instance: pulumi.Output[str],
                trust: DatabaseTrust, network: pulumi.Input[str], iam_login: Optional["IamLogin"] = None) -> "Database":
        """A cloud's managed Postgres: the platform's database and user, reached over TLS that
        verifies the server."""
        return Database(host=host, port=5432, name=names.DATABASE_MLFLOW, user=names.DATABASE_USER,
                        password=pulumi.Output.secret(password), ssl_mode=trust.ssl_mode, instance=instance, trust=trust,
                        network=network, iam_login=iam_login)


@dataclass(frozen=True)
class IamLogin:
    """The database user MLflow logs in as with a token of its cloud identity, and whose token: "rds"
    (an RDS auth token signed with its IRSA role for `region`, the instance's), "cloudsql" (its
    Google service account's access token) or "entra" (its managed identity's Entra ID token, for
    Flexible Server; `entra` says how the schema Job makes that user)."""

    token: Literal["rds", "cloudsql", "entra"]
    user: pulumi.Output[str]
    region: Optional[str] = None
    entra: Optional["EntraPrincipal"] = None


@dataclass(frozen=True)
class EntraPrincipal:
    """On Azure, what the schema Job needs to make MLflow's database user: only a connection of one
    of the server's Entra admins may create a role for an Entra principal (pgaadauth), so the Job
    logs in as `admin_user`, the identity its service account (names.MLFLOW_DB_ADMIN) is federated
    with, and maps the user to MLflow's identity by `object_id`.
    Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-manage-azure-ad-users"""

    object_id: pulumi.Output[str]
    admin_user: pulumi.Output[str]
    admin_access: WorkloadAccess


# The audit trail every managed Postgres keeps: each connection and disconnection in the server's
# log (who, from where, how long), the settings each cloud takes by these names. The policy pack
# requires them (aws-rds-logs-exported, azure-postgres-connection-logging,
# gcp-cloudsql-connection-logging). Ref: https://www.postgresql.org/docs/current/runtime-config-logging.html
CONNECTION_LOG_SETTINGS = ("log_connections", "log_disconnections")
# Cloud SQL's flag that lets IAM users log in with a token (gcp-cloudsql-iam-login checks it); RDS's
# setting is the instance's iamDatabaseAuthenticationEnabled (aws-rds-iam-login).
IAM_AUTHENTICATION_FLAG = "cloudsql.iam_authentication"
CLOUD_SQL_IAM_USER = "CLOUD_IAM_SERVICE_ACCOUNT"  # a Cloud SQL user's type: a service account's IAM user
# pgaudit's session log on RDS, Cloud SQL and Flexible Server: every statement that changes the schema or a role or a
# privilege (`ddl`, `role`), with the statement's text; not reads or writes of rows, which would log
# each MLflow request. The schema Job creates the extension (components/addons/mlflow_grants.py).
# Ref: https://github.com/pgaudit/pgaudit#pgauditlog
PGAUDIT_LOG = "ddl,role"
# The libraries a server with pgaudit loads at start (RDS's group, Azure's parameter): the list is
# replaced, not extended, so it keeps pg_stat_statements, RDS's own default there, beside pgaudit.
PGAUDIT_PRELOAD = "pg_stat_statements,pgaudit"
# Azure Flexible Server: the log category (its connections and pgaudit's lines) the stack sends to its
# workspace, which the policy checks; and the command the deploy runs to restart the server after its
# preload list changes, which the critical path times.
AZURE_POSTGRES_LOGS = "PostgreSQLLogs"
AZURE_POSTGRES_RESTART = "az postgres flexible-server restart"


# The smallest storage a cloud's managed Postgres takes, in GB, where it is above the stack file's own
# minimum for `database.storageGb` (20, RDS's gp3 floor): Flexible Server's fixed sizes start at
# 32 GiB. A smaller `storageGb` is raised to it.
# Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-storage
MIN_STORAGE_GB = {"azure": 32}


@dataclass(frozen=True)
class DatabaseSpec:
    """What a stack asks of its managed Postgres, whatever the cloud."""

    instance_class: str  # RDS class, Flexible Server SKU or Cloud SQL tier
    storage_gb: int
    high_availability: bool
    backup_retention_days: int
    backup_start: str  # "HH:MM" UTC, the daily automated backup's start
    geo_redundant_backup: bool  # Azure: backups copied to the paired region

    @property
    def backup_window(self) -> str:
        """RDS's preferred backup window: an hour from the start (RDS asks for 30 minutes at least)."""
        hour, minute = (int(part) for part in self.backup_start.split(":"))
        return f"{self.backup_start}-{(hour + 1) % 24:02d}:{minute:02d}"

    @staticmethod
    def from_config(config: Any) -> "DatabaseSpec":  # config: PlatformConfig
        database, backup = config.database, config.backup
        return DatabaseSpec(config.database_class, max(MIN_STORAGE_GB.get(config.cloud, 0), database.storage_gb),
                            database.high_availability, backup.retention_days, backup.schedule, config.geo_redundant_backup)


@dataclass(frozen=True)
class WorkloadAccess:
    """How one service account reaches the object store."""

    # ServiceAccount annotations binding a cloud identity (IRSA role, GKE GSA, Azure client id).
    annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Pod labels some identity webhooks require (Azure Workload Identity).
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    # Static S3 keys (local object store only): (access key id, secret access key), secrets.
    static_keys: Optional[tuple[pulumi.Output[str], pulumi.Output[str]]] = None
    # The cloud identity resource the binding refers to, for explicit ordering.
    identity: Optional[pulumi.Resource] = None


@dataclass(frozen=True)
class ManagedDataArgs:
    """What every cloud's data layer is asked for, under the same names on each cloud."""

    cluster: Any  # ClusterOutputs: its `network` is the cloud's own record
    env: str
    database: DatabaseSpec
    protect: bool
    force_destroy: bool  # let destroy delete an object store that still holds objects
    store_allowed_cidrs: tuple[str, ...] = ()  # public ranges the object store admits besides the cluster (Azure)
    customer_keys: bool = False  # the bucket and the database encrypted with keys of the stack's own (prod)

    @staticmethod
    def common(config: Any, cluster: Any) -> dict[str, Any]:  # config: PlatformConfig
        return {"cluster": cluster, "env": config.env, "database": DatabaseSpec.from_config(config),
                "protect": config.protected, "force_destroy": config.object_store.force_destroy, "customer_keys": config.is_prod,
                "store_allowed_cidrs": tuple(str(c) for c in (config.azure.storage_allowed_cidrs if config.azure else ()))}


DATA_OUTPUT_KEYS = ("bucket", "object_store", "database_host")


@dataclass(frozen=True)
class DataOutputs:
    object_store: ObjectStore
    database: Database
    access: Mapping[str, WorkloadAccess]  # keyed by names.Workload.role
    store_ready: tuple[pulumi.Resource, ...] = ()  # the bucket can be written
    database_ready: tuple[pulumi.Resource, ...] = ()  # the database accepts connections

    @property
    def ready(self) -> tuple[pulumi.Resource, ...]:
        return (*self.store_ready, *self.database_ready)

    def described(self) -> dict[str, Any]:
        """The stack output `data`: where the bucket and the database are, for `platform backup`
        and `restore` (no secret in it)."""
        store, database = self.object_store, self.database
        return {
            "store": store.kind, "bucket": store.bucket, "region": store.region, "account": store.account,
            "endpoint": store.endpoint,
            "database": {"instance": database.instance, "host": database.host, "port": database.port, "name": database.name,
                         **({"iam_login": database.iam_login.user} if database.iam_login is not None else {})},
        }

    def registered(self) -> dict[str, Any]:
        """What a data component registers as its outputs (DATA_OUTPUT_KEYS)."""
        return {"bucket": self.object_store.bucket, "object_store": self.object_store.uri, "database_host": self.database.host}
