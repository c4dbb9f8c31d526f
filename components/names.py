"""Namespaces, service accounts and object-store paths that several components must agree on.

Cloud identities are bound to `namespace/service-account` pairs before those service accounts
exist (IRSA trust policies, Azure federated credentials, GKE Workload Identity bindings), so the
names live here, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

# An environment name: a DNS label (pr-123, dev), at most 20 characters, so that every cloud name
# built from it fits (the S3 bucket prefix mlops-<env>-artifacts- is at most 37 characters, GKE
# cluster names 40), with no double hyphen (RDS identifiers refuse one).
ENV_PATTERN = re.compile(r"^(?!.*--)[a-z](?:[a-z0-9-]{0,18}[a-z0-9])?$")
ENV_RULE = "a DNS label of at most 20 characters: lower-case letters, digits and single hyphens, starting with a letter"
# Environments with a stack file of their own; any other name is derived from the cloud's dev file.
BASE_ENV = "dev"


class Cloud(str, Enum):
    """Where a stack runs: the one list of clouds (the CLI's --cloud choices, the stack file's
    platform:cloud, the cloud tables in components/infrastructure.py and cli/sweep/)."""

    local = "local"
    aws = "aws"
    azure = "azure"
    gcp = "gcp"


CLOUDS = tuple(c.value for c in Cloud)
MANAGED_CLOUDS = tuple(c for c in CLOUDS if c != Cloud.local.value)


# The random suffix of a managed database's name (Cloud SQL reserves a deleted instance's name for a
# week, so each create takes a new one): its length, lowercase letters and digits.
DATABASE_SUFFIX_LENGTH = 6


def env_prefix(env: str) -> str:
    """How the cloud names of environment `env` begin: the cluster, the database, buckets, identities."""
    return f"mlops-{env}"


def mlflow_database_login(env: str) -> str:
    """MLflow's IAM database user on RDS: the environment's own name, so that the login right, which
    cannot name an instance that a restore replaces, admits no other environment's MLflow."""
    return f"{env_prefix(env)}-mlflow"


# The artifact store's bucket (local's SeaweedFS) or blob container (Azure).
ARTIFACTS = "mlops-artifacts"


def bucket_prefix(env: str) -> str:
    """The artifact bucket's name before its random suffix (S3 and GCS)."""
    return f"{env_prefix(env)}-artifacts-"


# An Azure storage account's resource id (what destroy --keep-data keeps of an Azure stack's store).
# Ref: https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
STORAGE_ACCOUNT_ID = (r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w.()]{1,90}"
                      r"/providers/Microsoft\.Storage/storageAccounts/[a-z0-9]{3,24}")


def azure_resource_group(env: str) -> str:
    """The resource group that holds an Azure stack's resources (not AKS's node resource group)."""
    return f"{cluster_name(env)}-rg"


def resource_group_id(resource_id: str) -> str:
    """The id of the resource group that holds an Azure resource, from the resource's id."""
    return resource_id.split("/providers/", 1)[0]


def storage_account(env: str, suffix: str) -> str:
    """The Azure storage account (lower-case letters and digits only, at most 24)."""
    return f"mlops{env.replace('-', '')[:6]}{suffix}"[:24]


def own_store_patterns(cloud: str, env: str) -> tuple[str, ...]:
    """Regular expressions matching every URI inside the stack's own artifact store, whatever random
    suffix its name got (a bucket `destroy --keep-data` kept was named so too)."""
    store = {
        "local": rf"s3://{ARTIFACTS}/",
        "aws": rf"s3://{re.escape(bucket_prefix(env))}[a-z0-9]+/",
        "gcp": rf"gs://{re.escape(bucket_prefix(env))}[a-z0-9]+/",
        "azure": rf"https://{re.escape(storage_account(env, ''))}[a-z0-9]+\.blob\.core\.windows\.net/{ARTIFACTS}/",
    }[cloud]
    return ("^" + store,)


# Beyond the stack's own store, where a model may come from with no platform:egress.allow: the same
# cloud's object store, which the workloads' HTTPS allow-list reaches (components/egress.py): S3 in the
# region through the gateway endpoint, any bucket at private.googleapis.com. Azure's private endpoint
# serves the stack's own account only; a local stack's HTTPS is open unless egress.allow narrows it.
_SAME_CLOUD_STORES = {"aws": r"^s3://", "gcp": r"^gs://"}


def reachable_store_patterns(cloud: str, env: str) -> tuple[str, ...]:
    """Regular expressions matching the model URIs the stack's HTTPS egress reaches by default (and
    a volume of the cluster's, which takes no network)."""
    same_cloud = _SAME_CLOUD_STORES.get(cloud)
    return (*own_store_patterns(cloud, env), *((same_cloud,) if same_cloud else ()), r"^pvc://")


def cluster_name(env: str) -> str:
    """The cluster of environment `env`, on every cloud (the sweep finds what its controllers made by it)."""
    return env_prefix(env)


# Every billed resource carries these tags (GCP labels): the stack, its environment, owner and time to
# live. AWS tag keys take a slash; Azure tag and GCP label keys cannot, and take a hyphen.
TAG_FIELDS = ("stack", "env", "owner", "ttl")
_TAG_SEPARATOR = {"aws": "/", "azure": "-", "gcp": "-", "local": "/"}


def tag_key(cloud: str, field: str) -> str:
    """`mlops-platform/stack` on AWS, `mlops-platform-stack` on Azure and GCP."""
    return f"mlops-platform{_TAG_SEPARATOR[cloud]}{field}"

NS_CERT_MANAGER = "cert-manager"
NS_TRAEFIK = "traefik"
NS_KSERVE = "kserve"
NS_MONITORING = "monitoring"
NS_MLFLOW = "mlflow"
NS_MODELS = "models"
NS_DETECTORS = "detectors"
NS_DATA = "data"  # local only: the in-cluster object store and Postgres
NS_IDENTITY = "identity"  # the bundled issuer (Dex) and oauth2-proxy
# The namespaces whose routes Traefik serves: it watches, and may read Secrets in, these only.
TRAEFIK_SERVED = (NS_TRAEFIK, NS_MONITORING, NS_MLFLOW, NS_MODELS, NS_DETECTORS, NS_IDENTITY)

# Release names are fixed so the objects the charts create have predictable names.
RELEASE_CERT_MANAGER = "cert-manager"
RELEASE_TRAEFIK = "traefik"
RELEASE_KSERVE_CRD = "kserve-crd"
RELEASE_KSERVE = "kserve"
RELEASE_KSERVE_RUNTIMES = "kserve-runtimes"
RELEASE_MONITORING = "kube-prometheus-stack"
RELEASE_MLFLOW = "mlflow"
RELEASE_DEX = "dex"
RELEASE_SSO = "oauth2-proxy"  # signs people in for the UIs without OIDC of their own
RELEASE_TOKENS = "oauth2-proxy-tokens"  # checks the bearer token of every model call

INGRESS_CLASS = "traefik"
# How a route says who may use it (components/addons/routes.py, the policy pack's access rules):
# open to anyone who reaches the load balancer ("true"), or signing people in itself ("oidc": the
# app's own OIDC; "issuer": the sign-in itself, which must be reachable to sign in).
PUBLIC_ANNOTATION = "mlops.dev/public"
SIGN_IN_ANNOTATION = "mlops.dev/sign-in"
# What makes each cloud's LoadBalancer Service its internal load balancer (platform:ingress.internal).
# Refs: https://kubernetes.io/docs/reference/labels-annotations-taints/#service-beta-kubernetes-io-aws-load-balancer-internal,
# https://learn.microsoft.com/azure/aks/internal-lb,
# https://cloud.google.com/kubernetes-engine/docs/how-to/internal-load-balancing
INTERNAL_LOAD_BALANCER = {
    "aws": {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"},
    "azure": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"},
    "gcp": {"networking.gke.io/load-balancer-type": "Internal"},
}
CA_ISSUER = "mlops-ca"
ACME_ISSUER = "letsencrypt"

# Traefik entrypoint that fans request logs out to the detectors (cluster-internal only).
DETECTOR_ENTRYPOINT = "detectors"
DETECTOR_ENTRYPOINT_PORT = 9101
# The chart names additional Services "<fullname>-<key>".
TRAEFIK_INTERNAL_SERVICE = "traefik-internal"

BUCKET_PREFIX_MLFLOW = "mlflow"
BUCKET_PREFIX_DETECTORS = "detectors"
DATABASE_MLFLOW = "mlflow"
DATABASE_MLFLOW_AUTH = "mlflow_auth"
DATABASE_USER = "mlflow"
# MLflow's schema Job kept as a suspended CronJob on AWS and GCP (components/addons/mlflow.py): run
# again after a restore of another stack's backup (cli/backup/schema_job.py).
MLFLOW_SCHEMA_TEMPLATE = "mlflow-db-upgrade"


@dataclass(frozen=True)
class Workload:
    """A Kubernetes service account that needs object-store access."""

    role: str
    namespace: str
    service_account: str
    access: str  # "read", "write" (read and write)


MLFLOW = Workload("mlflow", NS_MLFLOW, "mlflow", "write")
MODEL_READER = Workload("model-reader", NS_MODELS, "model-reader", "read")
DETECTOR = Workload("detector", NS_DETECTORS, "detector", "read")
DETECTOR_FITTER = Workload("detector-fitter", NS_DETECTORS, "detector-fitter", "write")

WORKLOADS: tuple[Workload, ...] = (MLFLOW, MODEL_READER, DETECTOR, DETECTOR_FITTER)
# On Azure, the service account of MLflow's schema Job: federated with the identity that is the
# database server's Entra admin, which alone may create MLflow's Entra database user
# (components/data/azure.py _entra_login). No object-store access.
MLFLOW_DB_ADMIN = "mlflow-db-admin"


# What stands for a secret wherever the platform shows a value (plans, renders, the deployment
# record, outputs): the same text everywhere, so a reader and a test know it on sight.
SECRET_MASK = "[secret]"
# The key under which Pulumi marks a special value (a secret, a resource reference) in serialized
# properties and in the state. Ref: pulumi/pulumi sdk/go/common/resource/sig/sig.go (Key)
PULUMI_SIGNATURE_KEY = "4dabf18193072939515e22adb298388d"
