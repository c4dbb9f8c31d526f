"""Every chart, image, Kubernetes and tool version the platform uses, in one table.

Change a version here and nowhere else. Each pin names where it was read; re-check the source
before bumping, and run the schema tests (`tests/test_rendered_schemas.py`), which validate the
values we pass against the pinned chart's own values and schema.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chart:
    """A Helm chart at a pinned version."""

    name: str
    version: str
    repo: str  # an https chart repository, or "" for an OCI chart (then `name` is the oci:// URL)
    licence: str = "Apache-2.0"
    # The sha256 of the archive its publisher serves; "" until recorded (see STAGED_CHARTS_DIR's note).
    sha256: str = ""

    @property
    def chart_ref(self) -> str:
        """The chart name as Helm expects it (short name for repos, full URL for OCI)."""
        return self.name

    @property
    def short_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]

    @property
    def archive(self) -> str:
        """The file name `helm pull` gives this chart, and the chart cache keeps it under."""
        return f"{self.short_name}-{self.version}.tgz"

    @property
    def is_oci(self) -> bool:
        return self.name.startswith("oci://")

    @property
    def staged(self) -> str:
        """What a Helm release deploys: the verified archive the CLI stages into the project's
        `.charts/` folder before any engine call, relative to the project (where the engine runs the
        program), so the engine never fetches a chart by name and the state names no machine's path.
        Ref: https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/ (local chart)"""
        return f"./{STAGED_CHARTS_DIR}/{self.archive}"


@dataclass(frozen=True)
class Image:
    """A container image at a pinned tag (never `latest`)."""

    repository: str
    tag: str
    licence: str = "Apache-2.0"

    @property
    def written(self) -> str:
        """`repository:tag`, as the pin writes it (what the image lock and chart slots key it by)."""
        return f"{self.repository}:{self.tag}"

    @property
    def ref(self) -> str:
        """`repository:tag`, with `@sha256:...` when the image lock (components/image_lock.py) has it."""
        from .image_lock import pinned

        return pinned(self.written)


# --- Kubernetes and local tooling -------------------------------------------------------------

# Ref: https://github.com/kubernetes-sigs/kind/releases (v0.32.0 ships kindest/node v1.36.1)
KIND_VERSION = "0.32.0"
KIND_NODE_IMAGE = Image("kindest/node", "v1.36.1")
# Managed clusters follow the same minor as kind, so the addons are tested on one API level.
KUBERNETES_MINOR = "1.36"
# The minors a stack may ask for: the pinned one and the two before it, which the three clouds still
# support in standard support and every pinned chart accepts (their kubeVersion floors are 1.25 at
# most). Refs: https://kubernetes.io/releases/ (a minor is patched about 14 months),
# https://docs.aws.amazon.com/eks/latest/userguide/kubernetes-versions-standard.html,
# https://learn.microsoft.com/azure/aks/supported-kubernetes-versions,
# https://cloud.google.com/kubernetes-engine/docs/release-schedule
KUBERNETES_MINORS = ("1.34", "1.35", "1.36")
# The oldest Kubernetes minor each pinned chart installs on: its Chart.yaml `kubeVersion` floor
# (tests/test_upgrade.py reads them from the archives). The KServe charts declare none; KServe 0.20's
# docs ask for 1.32 or newer. `up`, `preview` and `upgrade` refuse a target below a floor; every
# minor in KUBERNETES_MINORS is above them all. The ceilings are what the suite renders against:
# the charts are tested on KUBERNETES_MINOR (a newer minor moves with a new release of the platform).
# Ref: each chart's Chart.yaml at the pinned version; https://kserve.github.io/website/docs/admin-guide/overview
CHART_KUBERNETES_FLOORS = {
    "cert-manager": "1.22",
    "traefik": "1.25",
    "kube-prometheus-stack": "1.25",
    "mlflow": "1.16",
    "dex": "1.14",
    "oauth2-proxy": "1.16",
    "kserve-crd": "1.32",
    "kserve-resources": "1.32",
    "kserve-runtime-configs": "1.32",
}
# The oldest Pulumi CLI the project supports: 3.174 imports a resource and then updates it in one
# deployment, which the `up` after `destroy --keep-data` needs on Azure (the kept storage account's
# network rule names the previous cluster's subnet); older CLIs fail such an import (Pulumi.yaml's
# `runtime.options.toolchain` needs 3.120). Above 3.205 the SDK streams engine events over gRPC,
# below it tails an event-log file; the CLI's progress view works with both
# (pulumi/automation/_stack.py, _setup_event_log).
# Ref: https://github.com/pulumi/pulumi/pull/19339 (CHANGELOG 3.174.0)
# Ref: https://www.pulumi.com/docs/iac/download-install/
PULUMI_CLI_MIN_VERSION = "3.174.0"
# The CLI the generated CI workflows install: the release of the SDK pinned in pyproject.toml
# (Pulumi releases both under one version number).
PULUMI_CLI_VERSION = "3.272.0"
# Helm's own Go SDK, through the helm-python-sdk wheel (pinned in pyproject.toml), renders the charts
# offline; its version decides which built-in API versions templates see.
# Ref: https://pypi.org/project/helm-python-sdk/ (0.2.2 embeds Helm v4.2.3)
HELM_SDK_VERSION = "v4.2.3"

# --- Helm charts ------------------------------------------------------------------------------

# The project folder the CLI stages verified chart archives into (Chart.staged).
STAGED_CHARTS_DIR = ".charts"
# Each chart's `sha256` is the digest of the archive its repository serves. Published digests are
# read from the repository's index.yaml (`digest:`) or the OCI manifest's layer digest, never from an
# archive pulled here: this machine reaches no chart repository, so none is recorded yet and every
# chart reads "unrecorded" (a warning in dev, refused by prod deploys; README: Verified charts).
# An internal mirror that repackages them, and the tests, give theirs with $PLATFORM_CHART_DIGESTS.
# Ref: https://helm.sh/docs/topics/chart_repository/#the-index-file

# Ref: https://cert-manager.io/docs/releases/ (v1.21.1, chart repo charts.jetstack.io)
CERT_MANAGER = Chart("cert-manager", "v1.21.1", "https://charts.jetstack.io")
# Ref: https://github.com/traefik/traefik-helm-chart/releases/tag/v41.3.0 (Traefik Proxy v3.7.11)
TRAEFIK = Chart("traefik", "41.3.0", "https://traefik.github.io/charts")
# Ref: https://github.com/kserve/kserve/releases/tag/v0.20.0 — charts are published as OCI
# artifacts; kserve-crd must be installed before kserve-resources (which serves the webhooks).
KSERVE_CRD = Chart("oci://ghcr.io/kserve/charts/kserve-crd", "v0.20.0", "")
KSERVE_RESOURCES = Chart("oci://ghcr.io/kserve/charts/kserve-resources", "v0.20.0", "")
KSERVE_RUNTIME_CONFIGS = Chart("oci://ghcr.io/kserve/charts/kserve-runtime-configs", "v0.20.0", "")
# Ref: https://github.com/prometheus-community/helm-charts/releases/tag/kube-prometheus-stack-88.5.3
# (prometheus-operator v0.93.1 CRDs)
KUBE_PROMETHEUS_STACK = Chart(
    "kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts"
)
# Ref: https://github.com/community-charts/helm-charts/releases/tag/mlflow-1.11.5 (MLflow 3.15.1)
MLFLOW = Chart("mlflow", "1.11.5", "https://community-charts.github.io/helm-charts", licence="MIT")
# Ref: https://github.com/dexidp/helm-charts/releases/tag/dex-0.24.0 (chart appVersion 2.44.0)
DEX = Chart("dex", "0.24.0", "https://charts.dexidp.io")
# Ref: https://github.com/oauth2-proxy/manifests/releases/tag/oauth2-proxy-10.7.0 (oauth2-proxy v7.15.3)
OAUTH2_PROXY = Chart("oauth2-proxy", "10.7.0", "https://oauth2-proxy.github.io/manifests")

# --- Images we run ourselves ------------------------------------------------------------------

# The MLflow chart's own image at its appVersion (chart 1.11.5 -> 3.15.1); the schema-upgrade Job
# runs the same image. tests/test_chart_render.py keeps the two equal.
# Ref: https://hub.docker.com/r/burakince/mlflow/tags (3.15.1)
MLFLOW_IMAGE = Image("burakince/mlflow", "3.15.1")
# The mlflow-oidc-auth plugin that image's build installs (its poetry.lock at tag 3.15.1: 7.6.0, which
# needs MLflow >= 3.14, < 4): the MLflow chart's oidcAuth runs it. The tests pin the same.
# Ref: https://github.com/burakince/mlflow/blob/3.15.1/poetry.lock
MLFLOW_OIDC_AUTH_VERSION = "7.6.0"
# The alembic head of MLflow 3.15.1's tracking schema: what the schema-upgrade Job brings the database
# to, recorded with each deployment (`platform upgrade` names the migration). tests/test_upgrade.py
# reads the head from the pinned mlflow package.
# Ref: mlflow/store/db_migrations/versions/ at https://github.com/mlflow/mlflow/tree/v3.15.1
MLFLOW_SCHEMA_REVISION = "6f8d9c3b2a1e"
# The schema head of each MLflow release the platform has shipped (the MLflow chart's appVersion):
# the revision a deployment without a recorded one is at. tests/test_mlflow_migration.py reads 3.14.0's
# head from that release and migrates a database it made.
# Ref: mlflow/store/db_migrations/versions/ at https://github.com/mlflow/mlflow/tree/v3.14.0
MLFLOW_SCHEMA_HEADS = {"3.14.0": "b7e4c1a90f23", "3.15.1": MLFLOW_SCHEMA_REVISION}
# The migrations `mlflow db upgrade` runs from the oldest shipped head to the pinned one, in order
# (revision, alembic message); tests/test_upgrade.py walks the pinned package's chain to check it.
MLFLOW_MIGRATIONS = (
    ("a8b9c0d1e2f3", "add MCP server registry tables"),
    ("c1d2e3f4a5b6", "add span experiment and start time index"),
    ("c3d9e7f1a2b4", "add target_value to budget_policies"),
    ("6f8d9c3b2a1e", "Add ON DELETE CASCADE to `trace_info.experiment_id`."),
)
# Dex newer than the chart's appVersion (2.44.0): static passwords carry groups from 2.45.0, which the
# bundled admin user needs (every UI authorizes by group). The chart's config format is unchanged.
# Ref: https://github.com/dexidp/dex/pull/4456, https://github.com/dexidp/dex/releases/tag/v2.45.1
DEX_IMAGE = Image("ghcr.io/dexidp/dex", "v2.45.1")

# Upstream MinIO no longer publishes images; SeaweedFS is Apache-2.0 and ships an S3 gateway.
# Ref: https://hub.docker.com/r/chrislusf/seaweedfs/tags (4.47)
SEAWEEDFS = Image("chrislusf/seaweedfs", "4.47")
# Official image, same major as the managed databases on the clouds (RDS, Flexible Server, Cloud SQL).
# Ref: https://hub.docker.com/_/postgres (17.10-alpine)
POSTGRES = Image("postgres", "17.10-alpine", licence="PostgreSQL")
POSTGRES_MAJOR = "17"
# The last Apache-2.0 line of Seldon's alibi-detect server (alibi-detect 0.11.4). Seldon Core from
# 1.18 and alibi-detect from 0.11.5 are under the Business Source License 1.1.
# Ref: https://github.com/SeldonIO/seldon-core/releases/tag/v1.17.1
ALIBI_DETECT_SERVER = Image("seldonio/alibi-detect-server", "1.17.1")
ALIBI_DETECT_LINE = "0.11.4"
# KServe's own downloader (s3, gs, azure blob, https; IRSA / Workload Identity aware), used by the
# detectors to fetch their fitted artifacts exactly as KServe fetches the model.
KSERVE_STORAGE_INITIALIZER = Image("kserve/storage-initializer", "v0.20.0")
# Writers for the detector-fitting Job, one per object store. Refs: hub.docker.com/r/amazon/aws-cli,
# cloud.google.com/sdk/docs/downloads-docker, mcr.microsoft.com/en-us/product/azure-cli
AWS_CLI = Image("amazon/aws-cli", "2.37.5")
GCLOUD_CLI = Image("gcr.io/google.com/cloudsdktool/google-cloud-cli", "573.0.0-slim")
AZURE_CLI = Image("mcr.microsoft.com/azure-cli", "2.89.1", licence="MIT")

CHARTS: tuple[Chart, ...] = (
    CERT_MANAGER,
    TRAEFIK,
    KSERVE_CRD,
    KSERVE_RESOURCES,
    KSERVE_RUNTIME_CONFIGS,
    KUBE_PROMETHEUS_STACK,
    MLFLOW,
    DEX,
    OAUTH2_PROXY,
)
IMAGES: tuple[Image, ...] = (
    KIND_NODE_IMAGE,
    MLFLOW_IMAGE,
    DEX_IMAGE,
    SEAWEEDFS,
    POSTGRES,
    ALIBI_DETECT_SERVER,
    KSERVE_STORAGE_INITIALIZER,
    AWS_CLI,
    GCLOUD_CLI,
    AZURE_CLI,
)
