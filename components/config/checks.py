"""Rules that span several keys of a stack file, each reported as (key, message).

They read a parsed configuration's attributes only (PlatformConfig calls them as its last
validation step), so this module does not import the models.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .. import catalog, names, subnets, versions
from ..azure_regions import PAIRED
from .access import PRESET_CLOUDS
from .errors import shown_text
from .secrets import problem as secrets_problem

if TYPE_CHECKING:
    from .stack import PlatformConfig

_REGION_EXAMPLE = {
    "aws": "an AWS region such as us-east-1",
    "azure": "an Azure location such as eastus",
    "gcp": "a GCP region such as us-central1",
}


def cross_checks(c: PlatformConfig) -> list[tuple[str, str]]:
    """Rules that span several keys, as (key, message)."""
    problems: list[tuple[str, str]] = []
    if c.cloud == "local":
        if c.region is not None:
            problems.append(("region", "a local stack has no region; remove the key"))
        for other in names.MANAGED_CLOUDS:
            if getattr(c, other) is not None:
                problems.append((other, f"settings for {other} in a local stack; remove the key"))
        if c.tls.issuer == "acme":
            problems.append(("tls.issuer", "acme needs a publicly reachable domain; use selfSigned locally"))
        if c.cluster.gpu.enabled:
            problems.append(("cluster.gpu.enabled", "kind has no GPU node pools"))
        if c.cluster.kubernetes_version != versions.KUBERNETES_MINOR:
            problems.append(("cluster.kubernetesVersion", f"kind runs {versions.KIND_NODE_IMAGE.ref}: a local stack is "
                                                          f"Kubernetes {versions.KUBERNETES_MINOR}; remove the key"))
        for index, model in enumerate(c.models):
            if model.resources.gpu:
                problems.append((f"models[{index}].resources.gpu", "kind has no GPUs; remove it for a local stack"))
    problems += _one_cloud_keys(c)
    if c.cloud != "local":
        what = _REGION_EXAMPLE[c.cloud]
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
        for other in names.MANAGED_CLOUDS:
            if other != c.cloud and getattr(c, other) is not None:
                problems.append((other, f"settings for {other} in a {c.cloud} stack; remove the key"))
        if c.cloud == "gcp" and c.gcp is None:
            problems.append(("gcp.project", "required for cloud 'gcp'"))
        if c.cloud == "gcp" and c.gcp is not None and c.region:
            for zone in c.gcp.zones:
                if not zone.startswith(c.region + "-"):
                    problems.append(("gcp.zones", f"zone '{shown_text(str(zone))}' is not in region '{c.region}'"))
        if c.cloud == "aws" and c.aws is not None and c.region:
            for zone in c.aws.availability_zones:
                if not zone.startswith(c.region):
                    problems.append(("aws.availabilityZones", f"zone '{shown_text(str(zone))}' is not in region '{c.region}'"))
        if not c.cluster.private_endpoint and not c.cluster.api_allowed_cidrs:
            problems.append(
                ("cluster.apiAllowedCidrs", "give the CIDRs allowed to reach the Kubernetes API, or set privateEndpoint: true")
            )
    problems += _range_checks(c)
    problems += _access_checks(c)
    problems += _egress_checks(c)
    if c.cloud == "azure" and "force_destroy" in c.object_store.model_fields_set:
        # Ref: https://learn.microsoft.com/azure/storage/common/storage-account-create#delete-a-storage-account
        problems.append(("objectStore.forceDestroy", "has no effect on azure: a storage account is deleted with all its "
                                                     "blobs; keep the data with platform:protect: true"))
    if c.object_store.force_destroy and c.is_prod:
        problems.append(("objectStore.forceDestroy", "not allowed in prod: artifacts would be deleted with the stack"))
    if c.protect is False and c.is_prod:
        problems.append(("protect", "prod stacks keep their data protected; remove the key"))
    # Dependencies between the optional components (cert-manager and Traefik are always installed).
    if c.detectors.enabled:
        for dependency, on in (("kserve", c.kserve.enabled), ("monitoring", c.monitoring.enabled)):
            if not on:
                problems.append((f"{dependency}.enabled", "false, but detectors is on and needs it"))
    if c.models and not c.kserve.enabled:
        problems.append(("models", "models are served by KServe; kserve.enabled is false"))
    if c.cloud != "local":
        for index, model in enumerate(c.models):
            if model.resources.gpu and not c.cluster.gpu.enabled:
                problems.append((f"models[{index}].resources.gpu", "needs the GPU pool: set cluster.gpu.enabled: true"))
    return problems


# Where destroy --keep-data keeps the database, by cloud: KeptData's field and its key.
KEPT_DATABASE = {"aws": ("database_snapshot", "databaseSnapshot"), "gcp": ("database_backup", "databaseBackup"),
                 "azure": ("database_dump", "databaseDump"), "local": ("database_dump", "databaseDump")}


def _one_cloud_keys(c: PlatformConfig) -> list[tuple[str, str]]:
    """Keys that only some clouds take: kept data, the secrets provider's key, geo-redundant backup."""
    problems: list[tuple[str, str]] = []
    kept = c.kept_data
    if kept is not None and getattr(kept, KEPT_DATABASE[c.cloud][0]) is None:
        problems.append(("keptData", f"on {c.cloud}, the kept database is its {KEPT_DATABASE[c.cloud][1]}"))
    elif kept is not None and (c.cloud == "azure") != bool(re.fullmatch(names.STORAGE_ACCOUNT_ID, kept.bucket)):
        problems.append(("keptData.bucket", "on azure, the kept store is its storage account's resource id"
                                            if c.cloud == "azure" else f"on {c.cloud}, the kept store is its bucket's name"))
    elif kept is not None and c.cloud == "local" and kept.bucket != names.ARTIFACTS:
        problems.append(("keptData.bucket", f"on local, the kept backup goes back into the store's bucket {names.ARTIFACTS}"))
    elif kept is not None and c.cloud == "azure" and (
            names.resource_group_id(kept.bucket).rsplit("/", 1)[-1].lower() != names.azure_resource_group(c.env).lower()):
        # The group is imported as the stack's own: another would be replaced (components/cluster/aks.py).
        problems.append(("keptData.bucket", f"the kept account must be in the stack's resource group "
                                            f"{names.azure_resource_group(c.env)}"))
    secrets = secrets_problem(c.cloud, c.secrets_provider)
    if secrets:
        problems.append(("secretsProvider", secrets))
    if c.backup.geo_redundant and c.cloud != "azure":
        problems.append(("backup.geoRedundant", "copies backups to the paired region on Azure only; remove the key"))
    if c.cloud == "azure" and c.is_prod and c.geo_redundant_backup and c.region and c.region not in PAIRED:
        # Prod encrypts the database with a key of its own, and the backups' copy with one in the paired region.
        problems.append(("region", f"'{shown_text(c.region)}' has no paired region for the geo-redundant backup's key; use a "
                                   "paired region (README: Customer-managed keys) or set backup.geoRedundant: false"))
    return problems


def _range_checks(c: PlatformConfig) -> list[tuple[str, str]]:
    """The address ranges against what the cloud module carves out of them (components/subnets.py)."""
    if c.cloud == "aws" and c.aws_zone_count > subnets.AWS_MAX_ZONES:
        return [("aws.availabilityZones", f"{c.aws_zone_count} zones: the platform spreads over at most {subnets.AWS_MAX_ZONES}")]
    try:
        if c.cloud == "aws":
            subnets.aws_subnets(c.aws_settings.vpc_cidr, c.aws_zone_count, c.max_node_total)
        elif c.cloud == "azure":
            subnets.azure_subnets(c.azure_settings.vnet_cidr, c.max_node_total)
    except subnets.RangeError as err:
        return [("aws.vpcCidr" if c.cloud == "aws" else "azure.vnetCidr", str(err))]
    if c.cloud == "gcp" and c.gcp is not None:
        g = c.gcp
        return subnets.gcp_ranges(g.network_cidr, g.pods_cidr, g.services_cidr, g.master_cidr, c.max_node_total)
    return []



def _access_checks(c: PlatformConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if c.cloud == "local":
        for key, set_ in (("ingress.allowedCidrs", bool(c.ingress.allowed_cidrs)), ("ingress.internal", c.ingress.internal)):
            if set_:
                problems.append((key, "a local stack listens on 127.0.0.1 only (kind's port mappings); remove the key"))
    identity = c.identity
    kind = identity.kind
    given: tuple[tuple[str, object], ...] = (
        ("issuer", identity.issuer), ("clientId", identity.client_id), ("clientSecret", identity.client_secret),
        ("endpoints", identity.endpoints),
    )
    if kind == "external":
        for key, value in given:
            if value is None:
                hint = ("as <issuer>/.well-known/openid-configuration states them" if key == "endpoints"
                        else "the OIDC client registered for this stack")
                problems.append((f"identity.{key}", f"required for an external issuer ({hint})"))
    else:
        for key, value in given:
            if value is not None:
                owner = "runs its own issuer" if kind == "dex" else "is created by the stack"
                problems.append((f"identity.{key}", f"provider {kind} {owner} with its own client; remove the key"))
    cloud = PRESET_CLOUDS.get(kind)
    if cloud is not None and c.cloud != cloud:
        problems.append(("identity.provider", f"{kind} is created on {cloud} only; this stack is on {c.cloud} "
                                              "(use dex, or an external issuer)"))
    if c.is_prod and not identity.explicit:
        problems.append(("identity", "a prod stack names its issuer: identity.issuer (with clientId, clientSecret and "
                                     "endpoints) for your company's, or identity.provider: dex"))
    return problems


def _egress_checks(c: PlatformConfig) -> list[tuple[str, str]]:
    """A model must be fetchable: outside what the workloads' HTTPS allow-list reaches (the stack's
    store, components/egress.py), it needs platform:egress.allow. A local stack's HTTPS is open."""
    if c.cloud == "local" or c.egress.allow:
        return []
    reachable = names.reachable_store_patterns(c.cloud, c.env)
    where = {"aws": "S3 (in the stack's region)", "gcp": "Cloud Storage"}.get(c.cloud, "the stack's own storage account")
    return [(f"models[{index}].storageUri",
             f"'{shown_text(model.storage_uri)}' is outside {where}, the only store the models' HTTPS egress reaches: "
             "add its address ranges to platform:egress.allow (0.0.0.0/0 for any)")
            for index, model in enumerate(c.models) if not any(re.match(p, model.storage_uri) for p in reachable)]
