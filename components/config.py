"""PlatformConfig: everything a stack file can say, parsed and validated once.

A stack file (`stacks/Pulumi.<cloud>-<env>.yaml`) holds `platform:<key>` entries under `config:`.
They are validated here — by the CLI before any engine call, and by the Pulumi program itself —
into frozen, typed models. Nothing else in the project reads Pulumi config.

Every problem becomes a `ConfigError` naming the file (or stack) and the key, one line each.
"""

from __future__ import annotations

import difflib
import json
import re
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from . import catalog, names, versions

Cloud = Literal["local", "aws", "azure", "gcp"]
CLOUDS: tuple[str, ...] = ("local", "aws", "azure", "gcp")
NAMESPACE = "platform"
# Keys a Pulumi stack file may carry besides `config` (written by the Pulumi CLI itself).
_STACK_FILE_KEYS = {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"}

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_QUANTITY_CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")
_QUANTITY_MEM = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti)$")
_OWNER = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")  # valid as an AWS tag, Azure tag and GCP label value
_TTL = re.compile(r"^([1-9][0-9]{0,3}[hdw]|none)$")
_MODEL_URI = re.compile(r"^(s3|gs|https|pvc|oci|hf)://[^\s]+$")
_REFERENCE_URI = re.compile(r"^(s3|gs|https)://[^\s]+\.(csv|npy)$")
_BUILTIN_REFERENCE = ("sklearn:iris",)
_REGION = {
    "aws": (re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$"), "an AWS region such as us-east-1"),
    "azure": (re.compile(r"^[a-z][a-z0-9]{2,30}$"), "an Azure location such as eastus"),
    "gcp": (re.compile(r"^[a-z]+-[a-z]+[0-9]$"), "a GCP region such as us-central1"),
}
_DEFAULT_INSTANCE = {"aws": "m6i.large", "azure": "Standard_D2s_v5", "gcp": "e2-standard-4"}
_DEFAULT_GPU_INSTANCE = {"aws": "g4dn.xlarge", "azure": "Standard_NC4as_T4_v3", "gcp": "g2-standard-4"}
_DEFAULT_DB_CLASS = {"aws": "db.t4g.small", "azure": "Standard_B1ms", "gcp": "db-g1-small"}


class ConfigError(Exception):
    """A stack file or stack config that cannot be used; `str()` is the one-line message."""

    def __init__(self, source: str, key: Optional[str], message: str):
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


class _Model(BaseModel):
    # camelCase keys in YAML (Pulumi's convention), unknown keys rejected, immutable after parse.
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=False
    )


def _cpu(value: str) -> str:
    if not _QUANTITY_CPU.match(value):
        raise ValueError(f"'{value}' is not a CPU quantity (use e.g. 250m or 1)")
    return value


def _memory(value: str) -> str:
    if not _QUANTITY_MEM.match(value):
        raise ValueError(f"'{value}' is not a memory quantity (use e.g. 256Mi or 1Gi)")
    return value


def _uuid(value: str, what: str) -> str:
    if not re.match(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$", value):
        raise ValueError(f"'{value}' is not a {what} (a lower-case UUID)")
    return value


def cpu_millicores(value: str) -> int:
    """'250m' -> 250, '1.5' -> 1500."""
    return int(value[:-1]) if value.endswith("m") else int(round(float(value) * 1000))


def memory_mebibytes(value: str) -> float:
    """'256Mi' -> 256, '1Gi' -> 1024."""
    factor = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}[value[-2:]]
    return int(value[:-2]) * factor


class Resources(_Model):
    cpu: StrictStr = "100m"
    memory: StrictStr = "256Mi"
    memory_limit: StrictStr = "512Mi"
    # NVIDIA GPUs for the model server: the GPU pool's toleration and node selector come with it.
    gpu: StrictInt = Field(0, ge=0, le=8)

    _check_cpu = field_validator("cpu")(_cpu)
    _check_mem = field_validator("memory", "memory_limit")(_memory)

    @model_validator(mode="after")
    def _limit_not_below_request(self) -> "Resources":
        if memory_mebibytes(self.memory_limit) < memory_mebibytes(self.memory):
            raise ValueError(f"memoryLimit {self.memory_limit} is below memory {self.memory}")
        return self


class TlsConfig(_Model):
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


class GpuPoolConfig(_Model):
    enabled: StrictBool = False
    instance_type: Optional[StrictStr] = None
    node_count: StrictInt = Field(1, ge=0, le=100)
    max_nodes: Optional[StrictInt] = Field(None, ge=1, le=100)


class ClusterConfig(_Model):
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
        if not re.match(r"^1\.[0-9]{2}$", value):
            raise ValueError(f"'{value}' is not a Kubernetes minor version such as 1.36")
        return value

    @model_validator(mode="after")
    def _max_not_below_count(self) -> "ClusterConfig":
        if self.max_nodes is not None and self.max_nodes < self.node_count:
            raise ValueError(f"maxNodes {self.max_nodes} is below nodeCount {self.node_count}")
        return self


class AwsConfig(_Model):
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
                raise ValueError(f"'{arn}' is not an IAM role ARN")
        return value

    @field_validator("availability_zones")
    @classmethod
    def _two_azs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value and len(set(value)) < 2:
            raise ValueError("give at least two distinct availability zones")
        return value


class AzureConfig(_Model):
    subscription_id: Optional[StrictStr] = None
    vnet_cidr: IPv4Network = IPv4Network("10.50.0.0/16")
    # Entra ID groups given cluster-admin through Azure RBAC (besides the deployer).
    admin_group_object_ids: tuple[StrictStr, ...] = ()

    @field_validator("subscription_id")
    @classmethod
    def _subscription(cls, value: Optional[str]) -> Optional[str]:
        return value if value is None else _uuid(value, "subscription id")

    @field_validator("admin_group_object_ids")
    @classmethod
    def _group_ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_uuid(group, "group object id") for group in value)


class GcpConfig(_Model):
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
            raise ValueError(f"'{value}' is not a GCP project id")
        return value

    @field_validator("zones")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for zone in value:
            if not re.match(r"^[a-z]+-[a-z]+[0-9]-[a-z]$", zone):
                raise ValueError(f"'{zone}' is not a GCP zone such as us-central1-a")
        return value

    @field_validator("master_cidr")
    @classmethod
    def _master_28(cls, value: IPv4Network) -> IPv4Network:
        if value.prefixlen != 28:
            raise ValueError("the control-plane range must be a /28 (GKE requirement)")
        return value


class DatabaseConfig(_Model):
    instance_class: Optional[StrictStr] = None
    storage_gb: StrictInt = Field(20, ge=20, le=16384)
    high_availability: StrictBool = False
    backup_retention_days: StrictInt = Field(7, ge=7, le=35)


class ObjectStoreConfig(_Model):
    # Lets `destroy` delete a bucket that still holds artifacts. Refused in prod.
    force_destroy: StrictBool = False


class ComponentToggle(_Model):
    enabled: StrictBool = True


class TraefikConfig(_Model):
    enabled: StrictBool = True
    replicas: StrictInt = Field(1, ge=1, le=10)


class MlflowConfig(_Model):
    enabled: StrictBool = True
    replicas: StrictInt = Field(1, ge=1, le=10)


class MonitoringConfig(_Model):
    enabled: StrictBool = True
    retention: StrictStr = "24h"
    storage_gb: StrictInt = Field(5, ge=1, le=4096)
    alertmanager: StrictBool = True

    @field_validator("retention")
    @classmethod
    def _duration(cls, value: str) -> str:
        if not re.match(r"^[0-9]+(h|d|w)$", value):
            raise ValueError(f"'{value}' is not a retention such as 24h, 15d or 2w")
        return value


class DriftConfig(_Model):
    enabled: StrictBool = True
    p_value: StrictFloat = Field(0.05, gt=0, lt=1)
    batch_size: StrictInt = Field(20, ge=2, le=100000)


class OutlierConfig(_Model):
    enabled: StrictBool = True
    threshold_percentile: StrictFloat = Field(95.0, ge=50, le=100)


class BatcherConfig(_Model):
    # KServe's batcher sidecar: requests are held until maxBatchSize or maxLatency (ms) is reached.
    # Ref: https://kserve.github.io/website/docs/model-serving/predictive-inference/batcher
    max_batch_size: StrictInt = Field(32, ge=1, le=4096)
    max_latency: StrictInt = Field(500, ge=1, le=60000)


class ExplainerConfig(_Model):
    # KServe v0.20's InferenceService explainer spec has one built-in explainer: ART, whose server
    # implements the SquareAttack adversarial method.
    # Ref: the InferenceService CRD (spec.explainer.art), kserve/docs/samples/explanation/art
    type: Literal["art"] = "art"
    attack: Literal["SquareAttack"] = "SquareAttack"
    config: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class RegistryRef(_Model):
    """Where a promoted model comes from: its MLflow registry name and version (`platform models promote`)."""

    name: StrictStr
    version: StrictInt = Field(ge=1)
    alias: Optional[StrictStr] = None


class ModelConfig(_Model):
    name: StrictStr
    # mlflow: an MLflow model directory, served by KServe's MLServer runtime over the v2 protocol.
    format: Literal["sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "onnx", "huggingface", "mlflow"]
    storage_uri: StrictStr
    min_replicas: StrictInt = Field(1, ge=1, le=100)
    max_replicas: Optional[StrictInt] = Field(None, ge=1, le=100)
    resources: Resources = Resources()
    batcher: Optional[BatcherConfig] = None
    explainer: Optional[ExplainerConfig] = None
    registry: Optional[RegistryRef] = None
    # Where the detectors' reference sample comes from: a CSV/NPY of feature rows at a URI,
    # or a dataset bundled with scikit-learn in the detector image (`sklearn:iris`).
    reference_data: Optional[StrictStr] = None
    drift: DriftConfig = DriftConfig()
    outlier: OutlierConfig = OutlierConfig()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        # Leaves room for the -drift / -outlier / -predictor suffixes within 63 characters.
        if not _DNS_LABEL.match(value) or len(value) > 40:
            raise ValueError(f"'{value}' is not a lower-case DNS label of at most 40 characters")
        return value

    @field_validator("storage_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not _MODEL_URI.match(value):
            raise ValueError(f"'{value}' is not a model URI (s3://, gs://, https://, pvc://, oci://, hf://)")
        return value

    @field_validator("reference_data")
    @classmethod
    def _reference(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value not in _BUILTIN_REFERENCE and not _REFERENCE_URI.match(value):
            raise ValueError(
                f"'{value}' is neither {', '.join(_BUILTIN_REFERENCE)} nor an s3://, gs:// or https:// "
                "URI of a .csv or .npy file"
            )
        return value

    @model_validator(mode="after")
    def _detectors_need_reference(self) -> "ModelConfig":
        if (self.drift.enabled or self.outlier.enabled) and self.reference_data is None:
            raise ValueError("referenceData is required while drift or outlier detection is on")
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas {self.max_replicas} is below minReplicas {self.min_replicas}")
        return self

    @property
    def watched(self) -> bool:
        return self.drift.enabled or self.outlier.enabled

    @property
    def protocol(self) -> str:
        """The inference protocol its server speaks: MLServer (mlflow) only the open v2 protocol."""
        return "v2" if self.format == "mlflow" else "v1"


# The policy limits' defaults, here once: the cost rules' schema defaults and README's table read them.
DEFAULT_MAX_NODES = 10
DEFAULT_MAX_GPU_NODES = 4


class PolicyLimits(_Model):
    max_nodes: StrictInt = Field(DEFAULT_MAX_NODES, ge=1, le=1000)
    allowed_instance_types: tuple[StrictStr, ...] = ()
    max_gpu_nodes: StrictInt = Field(DEFAULT_MAX_GPU_NODES, ge=0, le=100)


class PolicyConfig(_Model):
    # Default: advisory in dev, mandatory in prod.
    enforcement: Optional[Literal["advisory", "mandatory"]] = None
    # Set to true only when you hold a commercial licence for source-available components.
    source_available_licence: StrictBool = False
    limits: PolicyLimits = PolicyLimits()


class PlatformConfig(_Model):
    cloud: Cloud
    env: StrictStr = "dev"
    # Who answers for the stack, and how long it may live after its last update (`platform stacks
    # --stale` lists those past it). Both become tags (labels on GCP) on everything the cloud bills.
    owner: Optional[StrictStr] = None
    ttl: Optional[StrictStr] = None
    region: Optional[StrictStr] = None
    domain: Optional[StrictStr] = None
    tls: TlsConfig = TlsConfig()
    protect: Optional[StrictBool] = None
    cluster: ClusterConfig = ClusterConfig()
    aws: Optional[AwsConfig] = None
    azure: Optional[AzureConfig] = None
    gcp: Optional[GcpConfig] = None
    database: DatabaseConfig = DatabaseConfig()
    object_store: ObjectStoreConfig = ObjectStoreConfig()
    cert_manager: ComponentToggle = ComponentToggle()
    traefik: TraefikConfig = TraefikConfig()
    kserve: ComponentToggle = ComponentToggle()
    mlflow: MlflowConfig = MlflowConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    detectors: ComponentToggle = ComponentToggle()
    models: tuple[ModelConfig, ...] = ()
    policy: PolicyConfig = PolicyConfig()

    # --- field checks ---------------------------------------------------------------------

    @field_validator("env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not names.ENV_PATTERN.match(value):
            raise ValueError(f"'{value}' is not an environment name ({names.ENV_RULE}, e.g. dev or pr-123)")
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _OWNER.match(value):
            raise ValueError(f"'{value}' cannot be a tag or label value (lower-case letters, digits, '.', '_', '-'; "
                             "at most 63 characters)")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _TTL.match(value):
            raise ValueError(f"'{value}' is not a time to live such as 12h, 3d, 2w or none")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return value
        labels = value.split(".")
        if (
            len(value) > 253
            or len(labels) < 2
            or not all(_DNS_LABEL.match(label) for label in labels)
            or labels[-1].isdigit()
        ):
            raise ValueError(f"'{value}' is not a valid DNS domain (lower-case labels separated by dots)")
        return value

    @field_validator("models")
    @classmethod
    def _unique_models(cls, value: tuple[ModelConfig, ...]) -> tuple[ModelConfig, ...]:
        names = [m.name for m in value]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"model names must be unique; repeated: {', '.join(duplicates)}")
        return value

    # --- cross-field checks, each raising with the key it concerns --------------------------

    @model_validator(mode="after")
    def _consistent(self) -> "PlatformConfig":
        problems = _cross_checks(self)
        if problems:
            key, message = problems[0]
            raise _KeyedError(key, message)
        return self

    # --- derived values -------------------------------------------------------------------

    @property
    def stack_name(self) -> str:
        return f"{self.cloud}-{self.env}"

    def resource_tags(self, separator: str = "/") -> dict[str, str]:
        """The tags every billed resource carries: stack, environment, owner and time to live.
        AWS keys take a slash; Azure tag and GCP label keys a hyphen."""
        return {
            f"mlops-platform{separator}stack": self.stack_name,
            f"mlops-platform{separator}env": self.env,
            f"mlops-platform{separator}owner": self.owner or "unassigned",
            f"mlops-platform{separator}ttl": self.ttl or "none",
        }

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def protected(self) -> bool:
        """Whether stateful cloud data (database, bucket) carries `protect`."""
        return self.is_prod if self.protect is None else self.protect

    @property
    def enforcement(self) -> str:
        return self.policy.enforcement or ("mandatory" if self.is_prod else "advisory")

    @property
    def effective_domain(self) -> str:
        # Local default: a wildcard DNS name resolving to 127.0.0.1 (kind maps 80/443 there).
        return self.domain or "127.0.0.1.sslip.io"

    @property
    def instance_type(self) -> str:
        return self.cluster.instance_type or _DEFAULT_INSTANCE.get(self.cloud, "")

    @property
    def max_node_total(self) -> int:
        """Every node the cluster can grow to: the general pool, plus the GPU pool when enabled."""
        gpu = self.cluster.gpu
        general = self.cluster.max_nodes or self.cluster.node_count
        return general + ((gpu.max_nodes or max(gpu.node_count, 1)) if gpu.enabled else 0)

    @property
    def aws_zone_count(self) -> int:
        """The zones an EKS stack spreads over: those given, at least two (three in prod)."""
        given = len(self.aws.availability_zones) if self.aws else 0
        return max(given, 3 if self.is_prod else 2)

    @property
    def gpu_instance_type(self) -> str:
        return self.cluster.gpu.instance_type or _DEFAULT_GPU_INSTANCE.get(self.cloud, "")

    @property
    def database_class(self) -> str:
        return self.database.instance_class or _DEFAULT_DB_CLASS.get(self.cloud, "")

    # --- loading --------------------------------------------------------------------------

    @classmethod
    def from_values(cls, values: dict[str, Any], source: str, stack: Optional[str] = None) -> "PlatformConfig":
        """Validate `platform:` values (keys without the namespace). Raises ConfigError."""
        try:
            config = cls.model_validate(values)
        except _KeyedError as err:  # pragma: no cover - pydantic wraps it; kept for clarity
            raise ConfigError(source, f"{NAMESPACE}:{err.key}", err.message) from None
        except ValidationError as err:
            raise _to_config_error(err, source, values) from None
        if stack is not None and stack != config.stack_name:
            raise ConfigError(
                source,
                f"{NAMESPACE}:cloud",
                f"cloud '{config.cloud}' and env '{config.env}' make stack '{config.stack_name}', "
                f"but this is stack '{stack}'",
            )
        return config

    @classmethod
    def from_stack_file(cls, path: Path, stack: Optional[str] = None) -> "PlatformConfig":
        """Read and validate `stacks/Pulumi.<stack>.yaml`. Raises ConfigError."""
        return cls.from_values(read_stack_values(path), str(path), stack)

    @classmethod
    def from_pulumi(cls, stack: str) -> "PlatformConfig":
        """Inside the Pulumi program: validate the stack's config as the engine passed it."""
        import pulumi

        try:
            return cls.from_values(pulumi_config_values(), f"stack {stack}", stack)
        except ConfigError as err:
            # RunError is reported by the engine as one line, without a Python traceback.
            raise pulumi.RunError(str(err)) from None


class _KeyedError(ValueError):
    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(message)


def _cross_checks(c: PlatformConfig) -> list[tuple[str, str]]:
    """Rules that span several keys, as (key, message)."""
    problems: list[tuple[str, str]] = []
    if c.cloud == "local":
        if c.region is not None:
            problems.append(("region", "a local stack has no region; remove the key"))
        for other in ("aws", "azure", "gcp"):
            if getattr(c, other) is not None:
                problems.append((other, f"settings for {other} in a local stack; remove the key"))
        if c.tls.issuer == "acme":
            problems.append(("tls.issuer", "acme needs a publicly reachable domain; use selfSigned locally"))
        if c.cluster.gpu.enabled:
            problems.append(("cluster.gpu.enabled", "kind has no GPU node pools"))
        for index, model in enumerate(c.models):
            if model.resources.gpu:
                problems.append((f"models[{index}].resources.gpu", "kind has no GPUs; remove it for a local stack"))
    else:
        pattern, what = _REGION[c.cloud]
        if c.region is None:
            problems.append(("region", f"required for cloud '{c.cloud}' ({what})"))
        elif catalog.region_problem(c.cloud, c.region):
            problems.append(("region", str(catalog.region_problem(c.cloud, c.region))))
        for key, name, check in (
            ("cluster.instanceType", c.instance_type, catalog.instance_problem),
            ("cluster.gpu.instanceType", c.gpu_instance_type if c.cluster.gpu.enabled else None, catalog.instance_problem),
            ("database.instanceClass", c.database_class, catalog.database_problem),
        ):
            problem = check(c.cloud, name) if name else None
            if problem:
                problems.append((key, problem))
        if c.domain is None:
            problems.append(("domain", f"required for cloud '{c.cloud}' (the DNS zone the UIs are served under)"))
        for other in ("aws", "azure", "gcp"):
            if other != c.cloud and getattr(c, other) is not None:
                problems.append((other, f"settings for {other} in a {c.cloud} stack; remove the key"))
        if c.cloud == "gcp" and c.gcp is None:
            problems.append(("gcp.project", "required for cloud 'gcp'"))
        if c.cloud == "gcp" and c.gcp is not None and c.region:
            for zone in c.gcp.zones:
                if not zone.startswith(c.region + "-"):
                    problems.append(("gcp.zones", f"zone '{zone}' is not in region '{c.region}'"))
        if c.cloud == "aws" and c.aws is not None and c.region:
            for zone in c.aws.availability_zones:
                if not zone.startswith(c.region):
                    problems.append(("aws.availabilityZones", f"zone '{zone}' is not in region '{c.region}'"))
        if not c.cluster.private_endpoint and not c.cluster.api_allowed_cidrs:
            problems.append(
                ("cluster.apiAllowedCidrs", "give the CIDRs allowed to reach the Kubernetes API, or set privateEndpoint: true")
            )
    problems += _range_checks(c)
    if c.object_store.force_destroy and c.is_prod:
        problems.append(("objectStore.forceDestroy", "not allowed in prod: artifacts would be deleted with the stack"))
    if c.protect is False and c.is_prod:
        problems.append(("protect", "prod stacks keep their data protected; remove the key"))
    # Dependencies between components.
    needs = {
        "kserve": (c.kserve.enabled, ("certManager", c.cert_manager.enabled), ("traefik", c.traefik.enabled)),
        "mlflow": (c.mlflow.enabled, ("traefik", c.traefik.enabled), ("certManager", c.cert_manager.enabled)),
        "monitoring": (c.monitoring.enabled, ("traefik", c.traefik.enabled), ("certManager", c.cert_manager.enabled)),
        "detectors": (c.detectors.enabled, ("kserve", c.kserve.enabled), ("monitoring", c.monitoring.enabled)),
    }
    for component, (enabled, *required) in needs.items():
        for dependency, dep_enabled in required:
            if enabled and not dep_enabled:
                problems.append((f"{dependency}.enabled", f"false, but {component} is on and needs it"))
    if c.models and not c.kserve.enabled:
        problems.append(("models", "models are served by KServe; kserve.enabled is false"))
    if c.cloud != "local":
        for index, model in enumerate(c.models):
            if model.resources.gpu and not c.cluster.gpu.enabled:
                problems.append((f"models[{index}].resources.gpu", "needs the GPU pool: set cluster.gpu.enabled: true"))
    return problems


# Names reserved for documentation, which the shipped stack files use until a user replaces them.
# Refs: RFC 2606 / RFC 6761 (example domains), RFC 5737 (TEST-NET ranges), the AWS documentation's
# example account 123456789012.
_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
_EXAMPLE_TLDS = ("example", "test", "invalid", "localhost")
_TEST_NETS = tuple(IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
_EXAMPLE_ACCOUNT = "123456789012"
_EXAMPLE_PROJECT = "my-mlops-project"


def _example_domain(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    return domain.rsplit(".", 1)[-1] in _EXAMPLE_TLDS or any(domain == d or domain.endswith("." + d) for d in _EXAMPLE_DOMAINS)


def placeholders(c: PlatformConfig) -> list[tuple[str, str, str]]:
    """(key, value, what it would do) for every documentation placeholder still in a stack."""
    found: list[tuple[str, str, str]] = []
    if c.domain and _example_domain(c.domain):
        found.append(("domain", c.domain, "an example domain: no DNS record can point at the load balancer"))
    if c.tls.email and _example_domain(c.tls.email.rsplit("@", 1)[-1]):
        found.append(("tls.email", c.tls.email, "an example address: Let's Encrypt rejects it"))
    for cidr in c.cluster.api_allowed_cidrs:
        if any(cidr.subnet_of(net) for net in _TEST_NETS):
            found.append(("cluster.apiAllowedCidrs", str(cidr), "a documentation range: it would lock you out of the Kubernetes API"))
    if c.gcp is not None and c.gcp.project == _EXAMPLE_PROJECT:
        found.append(("gcp.project", c.gcp.project, "the example project id"))
    for arn in (c.aws.admin_role_arns if c.aws else ()):
        if f":{_EXAMPLE_ACCOUNT}:" in arn:
            found.append(("aws.adminRoleArns", arn, "the AWS documentation's example account"))
    if c.azure is not None:
        for value, key in [(c.azure.subscription_id, "azure.subscriptionId"),
                           *[(g, "azure.adminGroupObjectIds") for g in c.azure.admin_group_object_ids]]:
            if value and value.startswith("00000000-0000-"):
                found.append((key, value, "an all-zero example id"))
    return found


def _range_checks(c: PlatformConfig) -> list[tuple[str, str]]:
    """The address ranges against what the cloud module carves out of them (components/subnets.py)."""
    from . import subnets

    if c.cloud == "aws" and c.aws_zone_count > subnets.AWS_MAX_ZONES:
        return [("aws.availabilityZones", f"{c.aws_zone_count} zones: the platform spreads over at most {subnets.AWS_MAX_ZONES}")]
    try:
        if c.cloud == "aws":
            subnets.aws_subnets((c.aws or AwsConfig()).vpc_cidr, c.aws_zone_count, c.max_node_total)
        elif c.cloud == "azure":
            subnets.azure_subnets((c.azure or AzureConfig()).vnet_cidr, c.max_node_total)
    except subnets.RangeError as err:
        return [("aws.vpcCidr" if c.cloud == "aws" else "azure.vnetCidr", str(err))]
    if c.cloud == "gcp" and c.gcp is not None:
        g = c.gcp
        return subnets.gcp_ranges(g.network_cidr, g.pods_cidr, g.services_cidr, g.master_cidr, c.max_node_total)
    return []


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _known_keys(values: Any, loc: tuple[Any, ...]) -> list[str]:
    """The camelCase keys the model accepts at `loc` (for 'did you mean')."""
    model: Any = PlatformConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if to_camel(n) == part), None)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        for arg in list(candidates):
            candidates.extend(getattr(arg, "__args__", ()))
        model = next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return [to_camel(n) for n in model.model_fields]


def _to_config_error(err: ValidationError, source: str, values: dict[str, Any]) -> ConfigError:
    first = err.errors()[0]
    loc = tuple(p for p in first["loc"] if p not in ("function-after",))
    kind = first["type"]
    ctx = first.get("ctx") or {}
    given = first.get("input")
    if kind == "value_error" and isinstance(ctx.get("error"), _KeyedError):
        keyed = ctx["error"]
        prefix = _key_path(loc)
        return ConfigError(source, f"{NAMESPACE}:{prefix + '.' if prefix else ''}{keyed.key}", keyed.message)
    key = f"{NAMESPACE}:{_key_path(loc)}" if loc else None
    if kind == "extra_forbidden":
        known = _known_keys(values, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
        message = "unknown key" + (f" (did you mean '{hint[0]}'?)" if hint else f"; known keys: {', '.join(known)}")
    elif kind == "missing":
        message = "is required"
    elif kind in ("int_type", "int_parsing"):
        message = f"must be an integer (got {given!r})"
    elif kind in ("bool_type", "bool_parsing"):
        message = f"must be true or false (got {given!r})"
    elif kind in ("float_type", "float_parsing"):
        message = f"must be a number (got {given!r})"
    elif kind == "string_type":
        message = f"must be a string (got {given!r})"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        message = f"must be a mapping of keys (got {given!r})"
    elif kind in ("tuple_type", "list_type"):
        message = f"must be a list (got {given!r})"
    elif kind == "literal_error":
        message = f"must be one of {ctx.get('expected')} (got {given!r})"
    elif kind == "greater_than_equal":
        message = f"must be at least {ctx.get('ge')} (got {given!r})"
    elif kind == "greater_than":
        message = f"must be greater than {ctx.get('gt')} (got {given!r})"
    elif kind == "less_than_equal":
        message = f"must be at most {ctx.get('le')} (got {given!r})"
    elif kind == "less_than":
        message = f"must be less than {ctx.get('lt')} (got {given!r})"
    elif kind.startswith("ip_v4"):
        message = f"'{given}' is not an IPv4 network such as 10.0.0.0/16 (host bits must be zero)"
    elif kind == "value_error":
        message = str(ctx.get("error", first["msg"]))
    else:
        message = first["msg"]
    return ConfigError(source, key, message)


def read_stack_values(path: Path) -> dict[str, Any]:
    """The `platform:` entries of a stack file, namespace stripped. Raises ConfigError."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, None, "stack file not found") from None
    except OSError as err:
        raise ConfigError(source, None, f"cannot read the stack file ({err.strerror})") from None
    return stack_values_from_text(text, source)


def stack_values_from_text(text: str, source: str) -> dict[str, Any]:
    """The `platform:` entries of a stack file's text; `source` names it in errors. Raises ConfigError."""
    import yaml

    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # type: ignore[arg-type]  # a loader factory
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(source, None, f"not valid YAML{where}: {problem}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(source, None, "a stack file is a mapping with a 'config:' key")
    for key in document:
        if key not in _STACK_FILE_KEYS:
            raise ConfigError(source, str(key), "unknown top-level key (expected 'config:')")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(source, "config", "must be a mapping of namespace:key entries")
    return _platform_entries(config, source)


def _platform_entries(config: dict[str, Any], source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for raw_key, value in config.items():
        key = str(raw_key).replace(":config:", ":")
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE or not name:
            raise ConfigError(
                source,
                key,
                "only platform:* keys are read (providers are configured from them, never from "
                "ambient provider config)",
            )
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise ConfigError(
                source, key, "secret values are not taken from stack config; the platform generates its own secrets"
            )
        values[name] = value
    return values


def pulumi_config_values() -> dict[str, Any]:
    """The stack's config as the engine handed it to the program, `platform:` keys only."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    entries: dict[str, Any] = {}
    for key, value in raw.items():
        entries[key] = _decode_engine_value(value)
    return _platform_entries(entries, "stack config")


def _decode_engine_value(value: Any) -> Any:
    # The engine passes every value as a string: objects and lists as JSON, scalars as text.
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, (dict, list, bool, int, float)) else value


def _unique_key_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", key_node.start_mark
                )
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


class _LazyLoader:
    """Builds the YAML loader on first use so importing this module stays cheap."""

    _loader: Optional[type] = None

    def __call__(self, stream: Any) -> Any:
        if _LazyLoader._loader is None:
            _LazyLoader._loader = _unique_key_loader()
        return _LazyLoader._loader(stream)


_UniqueKeyLoader = _LazyLoader()


def stack_file_path(project_dir: Path, stack: str) -> Path:
    return project_dir / "stacks" / f"Pulumi.{stack}.yaml"


__all__ = [
    "CLOUDS",
    "placeholders",
    "ConfigError",
    "ModelConfig",
    "PlatformConfig",
    "cpu_millicores",
    "memory_mebibytes",
    "read_stack_values",
    "stack_values_from_text",
    "stack_file_path",
]
