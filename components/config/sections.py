"""The stack file's infrastructure sections: TLS, cluster, each cloud, database, object store, the
addons and the policy pack's settings."""

from __future__ import annotations

import re
from ipaddress import IPv4Network
from typing import Literal, Optional

from pydantic import Field, StrictBool, StrictInt, StrictStr, ValidationInfo, field_validator, model_validator

from .. import durations, names, versions
from ..data.backup_kit.record import ID_PATTERN as BACKUP_ID_PATTERN
from .base import Model, uuid
from .errors import shown_text


class TlsConfig(Model):
    issuer: Literal["selfSigned", "acme"] = "selfSigned"
    email: Optional[StrictStr] = None
    acme_server: Literal["production", "staging"] = "production"

    @model_validator(mode="after")
    def _acme_needs_email(self) -> "TlsConfig":
        if self.issuer == "acme" and not self.email:
            raise ValueError("issuer 'acme' needs an email (Let's Encrypt account contact)")
        if self.email is not None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", self.email):
            raise ValueError(f"email '{self.email}' is not an e-mail address")
        return self


class GpuPoolConfig(Model):
    enabled: StrictBool = False
    instance_type: Optional[StrictStr] = None
    node_count: StrictInt = Field(1, ge=0, le=100)
    max_nodes: Optional[StrictInt] = Field(None, ge=1, le=100)


class ClusterConfig(Model):
    kubernetes_version: StrictStr = versions.KUBERNETES_MINOR
    node_count: StrictInt = Field(1, ge=1, le=100)
    max_nodes: Optional[StrictInt] = Field(None, ge=1, le=100)
    instance_type: Optional[StrictStr] = None
    disk_size_gb: StrictInt = Field(50, ge=20, le=2000)
    # Who may reach the Kubernetes API. Empty on a cloud means a private endpoint only.
    api_allowed_cidrs: tuple[IPv4Network, ...] = ()
    private_endpoint: StrictBool = False
    gpu: GpuPoolConfig = GpuPoolConfig()

    @field_validator("kubernetes_version")
    @classmethod
    def _minor(cls, value: str) -> str:
        if value not in versions.KUBERNETES_MINORS:
            raise ValueError(f"'{shown_text(value)}' is not a supported Kubernetes minor version "
                             f"({', '.join(versions.KUBERNETES_MINORS)})")
        return value

    @model_validator(mode="after")
    def _max_not_below_count(self) -> "ClusterConfig":
        if self.max_nodes is not None and self.max_nodes < self.node_count:
            raise ValueError(f"maxNodes {self.max_nodes} is below nodeCount {self.node_count}")
        return self


class AwsConfig(Model):
    vpc_cidr: IPv4Network = IPv4Network("10.40.0.0/16")
    # At least two AZs: EKS requires subnets in two, and RDS subnet groups too. Empty: the
    # region's first two (three in prod) available zones.
    availability_zones: tuple[StrictStr, ...] = ()
    # IAM roles given cluster-admin through EKS access entries (besides the deployer).
    admin_role_arns: tuple[StrictStr, ...] = ()

    @field_validator("admin_role_arns")
    @classmethod
    def _role_arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not re.match(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", arn):
                raise ValueError(f"'{shown_text(str(arn))}' is not an IAM role ARN")
        return value

    @field_validator("availability_zones")
    @classmethod
    def _two_azs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value and len(set(value)) < 2:
            raise ValueError("give at least two distinct availability zones")
        return value


# Azure Storage's IP rules refuse these (its own service endpoints cover private traffic).
_RFC1918 = (IPv4Network("10.0.0.0/8"), IPv4Network("172.16.0.0/12"), IPv4Network("192.168.0.0/16"))


class AzureConfig(Model):
    subscription_id: Optional[StrictStr] = None
    vnet_cidr: IPv4Network = IPv4Network("10.50.0.0/16")
    # Entra ID groups given cluster-admin through Azure RBAC (besides the deployer).
    admin_group_object_ids: tuple[StrictStr, ...] = ()
    # Public ranges that may reach the storage account besides the cluster's subnet (e.g. to upload
    # a model for serving); MLflow's artifacts go through MLflow itself.
    storage_allowed_cidrs: tuple[IPv4Network, ...] = ()

    @field_validator("storage_allowed_cidrs")
    @classmethod
    def _storage_cidrs(cls, value: tuple[IPv4Network, ...]) -> tuple[IPv4Network, ...]:
        for network in value:
            # Public only, /30 or wider, or one address.
            # Ref: https://learn.microsoft.com/azure/storage/common/storage-network-security-set-ip-rules
            if any(network.subnet_of(private) for private in _RFC1918) or network.prefixlen == 31 or network.prefixlen < 8:
                raise ValueError(f"{network} is not a public range Azure Storage accepts (public addresses, /8 to /30, or one address)")
        return value

    @field_validator("subscription_id")
    @classmethod
    def _subscription(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else uuid(value, "subscription id")

    @field_validator("admin_group_object_ids")
    @classmethod
    def _group_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(uuid(group, "group object id") for group in value)


class GcpConfig(Model):
    project: StrictStr
    # Zones for the nodes (the control plane is regional). Empty: every zone of the region.
    zones: tuple[StrictStr, ...] = ()
    network_cidr: IPv4Network = IPv4Network("10.60.0.0/20")
    pods_cidr: IPv4Network = IPv4Network("10.64.0.0/14")
    services_cidr: IPv4Network = IPv4Network("10.68.0.0/20")
    master_cidr: IPv4Network = IPv4Network("172.16.0.32/28")

    @field_validator("project")
    @classmethod
    def _project_id(cls, value: str) -> str:
        if not re.match(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$", value):
            raise ValueError(f"'{shown_text(str(value))}' is not a GCP project id")
        return value

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for zone in value:
            if not re.match(r"^[a-z]+-[a-z]+[0-9]-[a-z]$", zone):
                raise ValueError(f"'{shown_text(str(zone))}' is not a GCP zone such as us-central1-a")
        return value

    @field_validator("master_cidr")
    @classmethod
    def _master_28(cls, value: IPv4Network) -> IPv4Network:
        if value.prefixlen != 28:
            raise ValueError("the control-plane range must be a /28 (GKE requirement)")
        return value


class DatabaseConfig(Model):
    instance_class: Optional[StrictStr] = None
    storage_gb: StrictInt = Field(20, ge=20, le=16384)
    high_availability: StrictBool = False


class BackupConfig(Model):
    """The database's automated backups. Point-in-time recovery is always on within the retention
    (RDS's automated backups, Flexible Server's, Cloud SQL's transaction logs)."""

    # The daily start of the automated backup, UTC: RDS's backup window (an hour from it) and Cloud
    # SQL's start time; Flexible Server picks its own time.
    schedule: StrictStr = "03:00"
    # 7 at least (the policy pack's floor); 35 is the most RDS and Flexible Server keep.
    # Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_WorkingWithAutomatedBackups.html
    retention_days: StrictInt = Field(7, ge=7, le=35)
    # Azure: backups copied to the paired region; on by default in prod. Chosen when the server is
    # created (changing it replaces the server, which `up` refuses unless allowed).
    # Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-backup-restore
    geo_redundant: Optional[StrictBool] = None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        if not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", value):
            raise ValueError(f"'{shown_text(value)}' is not a daily UTC time such as 03:00")
        return value


class KeptData(Model):
    """What `platform destroy --keep-data` kept of a stack, for its next `up` to adopt. Written by
    that destroy, removed by the `up` that adopted it; not something to write by hand."""

    # The artifact bucket: imported with its settings (Pulumi's `import` option), not created. On
    # Azure, the storage account's resource id (its resource group is kept and imported with it). On
    # local, the bucket the backup's copy goes back into (cli/backup/keep_local.py).
    bucket: StrictStr
    # The database outlives the network the destroy removes only as a backup: on AWS the RDS snapshot
    # the database is created from; on GCP the Cloud SQL backup (retained after its instance) the
    # new instance is restored from; on Azure the backup's pg_dump in the kept account, restored into
    # the new server by the cluster's restore Job; on local that dump in the backup's copy on the
    # machine that ran the destroy. And the backup whose record names it.
    database_snapshot: Optional[StrictStr] = None
    database_backup: Optional[StrictStr] = None
    database_dump: Optional[StrictStr] = None
    backup: StrictStr

    @field_validator("bucket", "database_snapshot", "database_backup", "database_dump", "backup")
    @classmethod
    def _shaped(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        pattern, what = _KEPT_SHAPES[info.field_name or ""]
        if value is not None and not re.fullmatch(pattern, value):
            raise ValueError(f"'{shown_text(value)}' is not {what}")
        return value

    @model_validator(mode="after")
    def _one_database(self) -> "KeptData":
        if [self.database_snapshot, self.database_backup, self.database_dump].count(None) != 2:
            raise ValueError("names the database as one of databaseSnapshot (AWS), databaseBackup (GCP) or databaseDump (Azure, local)")
        return self

    @property
    def database(self) -> str:
        """The kept database's cloud id (the snapshot, the backup's name, or the dump's key)."""
        return self.database_snapshot or self.database_backup or self.database_dump or ""


BUCKET_NAME = r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]"
# Each field of KeptData: the shape its value has, and what it is.
_KEPT_SHAPES = {
    # Ref: https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    # Ref: https://cloud.google.com/storage/docs/buckets#naming (also underscores)
    # Ref: https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftstorage
    "bucket": (rf"{BUCKET_NAME}|{names.STORAGE_ACCOUNT_ID}", "a bucket name or a storage account's resource id"),
    # Ref: https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBSnapshot.html
    "database_snapshot": (r"[A-Za-z](?!.*--)[A-Za-z0-9-]{0,254}(?<!-)", "an RDS snapshot identifier"),
    # Ref: https://cloud.google.com/sql/docs/postgres/backup-recovery/manage-backups-deleted-instance
    "database_backup": (r"projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/backups/[A-Za-z0-9_-]{1,128}",
                        "a Cloud SQL backup name (projects/PROJECT/backups/ID)"),
    "database_dump": (rf"backups/{BACKUP_ID_PATTERN.strip('^$')}/database\.dump", "a backup's dump (backups/ID/database.dump)"),
    "backup": (BACKUP_ID_PATTERN, "a backup id (bk-YYYYMMDDtHHMMSSz-xxxxxx, as platform backups list shows)"),
}


class ObjectStoreConfig(Model):
    # Lets `destroy` delete a bucket that still holds artifacts. Refused in prod.
    force_destroy: StrictBool = False


# host[:port] (a name, or an IPv6 address in brackets) and an optional path of repository components.
_MIRROR_IMAGES = re.compile(r"^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:]+\])(?::[0-9]{1,5})?"
                            r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")


class MirrorConfig(Model):
    """An air-gapped install's one switch: every chart from `charts` and every image from `images`
    (components/image_source.py moves each reference there through the charts' own values)."""

    charts: Optional[StrictStr] = None  # oci://host/path, or an https chart repository holding them all by name
    images: Optional[StrictStr] = None  # host[:port][/prefix]: the source registry's path is kept below it

    @field_validator("charts")
    @classmethod
    def _charts(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not re.match(r"^(oci|https)://[^\s/]+(/\S*)?$", value):
            raise ValueError(f"'{shown_text(value)}' is not a chart mirror (oci://host/path or https://host/path; "
                             "a plain-HTTP mirror is only for `charts pull --mirror` on this machine)")
        return value.rstrip("/") if value else value

    @field_validator("images")
    @classmethod
    def _images(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _MIRROR_IMAGES.match(value.rstrip("/")):
            raise ValueError(f"'{shown_text(value)}' is not a registry path (host[:port][/prefix], no scheme, "
                             "e.g. registry.example/mirror)")
        return value.rstrip("/") if value else value


class ComponentToggle(Model):
    enabled: StrictBool = True


class TraefikConfig(Model):
    replicas: StrictInt = Field(1, ge=1, le=10)


class MlflowConfig(Model):
    enabled: StrictBool = True
    replicas: StrictInt = Field(1, ge=1, le=10)
    # The MLflow server image in place of the chart's: the project's own build (images/mlflow/) from
    # your registry. Its tag starts with the pinned MLflow version, whose schema the upgrade Job applies.
    image: Optional[StrictStr] = None

    @field_validator("image")
    @classmethod
    def _image(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        from ..image_refs import ReferenceError, parse

        try:
            found = parse(value)
        except ReferenceError as err:
            raise ValueError(shown_text(str(err))) from None
        wanted = versions.MLFLOW_IMAGE.tag
        if not found.tag or not (found.tag == wanted or found.tag.startswith(f"{wanted}-")):
            raise ValueError(f"'{shown_text(value)}' must be tagged with MLflow {wanted} (e.g. :{wanted}, or :{wanted}-1 for a "
                             "rebuild): the schema-upgrade Job migrates the database to that version")
        return value


class MonitoringConfig(Model):
    enabled: StrictBool = True
    retention: StrictStr = "24h"
    storage_gb: StrictInt = Field(5, ge=1, le=4096)
    alertmanager: StrictBool = True

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str) -> str:
        durations.hours(value)  # DurationError is a ValueError: reported on the key
        return value


DEFAULT_MAX_NODES = 10
DEFAULT_MAX_GPU_NODES = 4


class PolicyLimits(Model):
    max_nodes: StrictInt = Field(DEFAULT_MAX_NODES, ge=1, le=1000)
    allowed_instance_types: tuple[StrictStr, ...] = ()
    max_gpu_nodes: StrictInt = Field(DEFAULT_MAX_GPU_NODES, ge=0, le=100)


class PolicyConfig(Model):
    # Default: advisory in dev, mandatory in prod.
    enforcement: Optional[Literal["advisory", "mandatory"]] = None
    # Set to true only when you hold a commercial licence for source-available components.
    source_available_licence: StrictBool = False
    limits: PolicyLimits = PolicyLimits()

