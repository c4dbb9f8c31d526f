"""PlatformConfig: a whole stack's configuration, the one object the program and the CLI read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

from pydantic import StrictBool, StrictStr, ValidationError, field_validator, model_validator

from .. import durations, names
from .access import EgressConfig, IdentityConfig, IngressConfig
from .base import DNS_LABEL, Model
from .checks import cross_checks
from .errors import ConfigError, KeyedError, shown_text
from .loading import NAMESPACE, pulumi_config_values, read_stack_values
from .secrets import PASSPHRASE
from .sections import (
    AwsConfig,
    AzureConfig,
    BackupConfig,
    ClusterConfig,
    ComponentToggle,
    DatabaseConfig,
    GcpConfig,
    KeptData,
    MirrorConfig,
    MlflowConfig,
    MonitoringConfig,
    ObjectStoreConfig,
    PolicyConfig,
    TlsConfig,
    TraefikConfig,
)
from .serving import ModelConfig
from .translate import to_config_error

CLOUDS: tuple[str, ...] = names.CLOUDS
_OWNER = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")  # valid as an AWS tag, Azure tag and GCP label value
_DEFAULT_INSTANCE = {"aws": "m6i.large", "azure": "Standard_D2s_v5", "gcp": "e2-standard-4"}
_DEFAULT_GPU_INSTANCE = {"aws": "g4dn.xlarge", "azure": "Standard_NC4as_T4_v3", "gcp": "g2-standard-4"}
_DEFAULT_DB_CLASS = {"aws": "db.t4g.small", "azure": "Standard_B1ms", "gcp": "db-g1-small"}


class PlatformConfig(Model):
    cloud: StrictStr
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
    backup: BackupConfig = BackupConfig()
    object_store: ObjectStoreConfig = ObjectStoreConfig()
    traefik: TraefikConfig = TraefikConfig()
    ingress: IngressConfig = IngressConfig()
    identity: IdentityConfig = IdentityConfig()
    egress: EgressConfig = EgressConfig()
    kserve: ComponentToggle = ComponentToggle()
    mlflow: MlflowConfig = MlflowConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    detectors: ComponentToggle = ComponentToggle()
    models: tuple[ModelConfig, ...] = ()
    policy: PolicyConfig = PolicyConfig()
    mirror: MirrorConfig = MirrorConfig()
    # What encrypts the stack's secrets: `passphrase`, or a key of the cloud's KMS (config/secrets.py).
    secrets_provider: StrictStr = PASSPHRASE
    # Resources holding data or identity that `up` may replace or delete (their URNs, as `preview`
    # lists them); any other such replacement is refused (cli/engine/diff.py, guarded).
    allow_replace: tuple[StrictStr, ...] = ()
    # Written by `platform destroy --keep-data`: the data the next `up` adopts (sections.KeptData).
    kept_data: Optional[KeptData] = None

    # --- field checks ---------------------------------------------------------------------

    @field_validator("cloud")
    @classmethod
    def _cloud(cls, value: str) -> str:
        if value not in CLOUDS:
            choices = ", ".join(repr(c) for c in CLOUDS[:-1]) + f" or {CLOUDS[-1]!r}"
            raise ValueError(f"must be one of {choices} (got {shown_text(repr(value))})")
        return value

    @field_validator("allow_replace")
    @classmethod
    def _allow_replace(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for urn in value:
            if not urn.startswith("urn:pulumi:") or urn.count("::") < 3:
                raise ValueError(f"'{shown_text(urn)}' is not a resource URN (urn:pulumi:<stack>::<project>::<type>::<name>, "
                                 "as platform preview lists it)")
        return value

    @field_validator("env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not names.ENV_PATTERN.match(value):
            raise ValueError(f"'{shown_text(str(value))}' is not an environment name ({names.ENV_RULE}, e.g. dev or pr-123)")
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _OWNER.match(value):
            raise ValueError(f"'{shown_text(str(value))}' cannot be a tag or label value (lower-case letters, digits, '.', '_', '-'; "
                             "at most 63 characters)")
        return value

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value != "none":
            durations.hours(value)  # DurationError is a ValueError: reported on the key
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
            or not all(DNS_LABEL.match(label) for label in labels)
            or labels[-1].isdigit()
        ):
            raise ValueError(f"'{shown_text(str(value))}' is not a valid DNS domain (lower-case labels separated by dots)")
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
        problems = cross_checks(self)
        if problems:
            key, message = problems[0]
            raise KeyedError(key, message)
        return self

    # --- derived values -------------------------------------------------------------------

    @property
    def stack_name(self) -> str:
        return f"{self.cloud}-{self.env}"

    def resource_tags(self) -> dict[str, str]:
        """The tags every billed resource carries: stack, environment, owner and time to live, with
        the cloud's key spelling (components/names.py: tag_key)."""
        values = {"stack": self.stack_name, "env": self.env, "owner": self.owner or "unassigned", "ttl": self.ttl or "none"}
        return {names.tag_key(self.cloud, field): values[field] for field in names.TAG_FIELDS}

    @property
    def is_prod(self) -> bool:
        return self.env == "prod"

    @property
    def issuer_https_open(self) -> bool:
        """Whether sign-in keeps MLflow's and oauth2-proxy's HTTPS open to any address: an issuer at
        addresses the stack cannot know (Cognito, an external one), and no egress.allow (egress.py)."""
        return self.identity.kind not in ("dex", "entra") and not self.egress.allow

    @property
    def protected(self) -> bool:
        """Whether stateful cloud data (database, bucket) carries `protect`."""
        return self.is_prod if self.protect is None else self.protect

    @property
    def geo_redundant_backup(self) -> bool:
        """Azure: the database's backups copied to the paired region (prod's default)."""
        geo = self.backup.geo_redundant
        return geo if geo is not None else (self.is_prod and self.cloud == "azure")

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
    def aws_settings(self) -> AwsConfig:
        """The aws section, or its defaults when the stack file has none."""
        return self.aws or AwsConfig()

    @property
    def azure_settings(self) -> AzureConfig:
        """The azure section, or its defaults when the stack file has none."""
        return self.azure or AzureConfig()

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
        except ValidationError as err:
            raise to_config_error(err, source, cls) from None
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
