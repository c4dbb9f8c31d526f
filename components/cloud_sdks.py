"""Which Pulumi provider SDK each cloud needs, installed as an extra of this package.

The local stack (kind) needs none of them: `pip install mlops-platform` stays small, and a cloud
is added with `pip install 'mlops-platform[aws]'` (or `[azure]`, `[gcp]`, `[all]`).
"""

from __future__ import annotations

import importlib.util
from typing import Optional

# cloud -> (import names of the provider SDK and the cloud SDKs the sweep and backups use, the extra installing them)
SDKS = {
    "aws": (("pulumi_aws", "boto3", "kubernetes"), "aws"),
    "azure": (("pulumi_azure_native", "pulumi_azuread", "azure.mgmt.resource", "azure.identity", "kubernetes"), "azure"),
    "gcp": (("pulumi_gcp", "google.cloud.compute_v1", "google.cloud.storage", "googleapiclient", "kubernetes"), "gcp"),
}
PACKAGES = {"pulumi_aws": "pulumi-aws", "boto3": "boto3", "pulumi_azure_native": "pulumi-azure-native", "pulumi_azuread": "pulumi-azuread",
            "azure.mgmt.resource": "azure-mgmt-resource", "azure.identity": "azure-identity", "pulumi_gcp": "pulumi-gcp",
            "google.cloud.compute_v1": "google-cloud-compute", "google.cloud.storage": "google-cloud-storage",
            "googleapiclient": "google-api-python-client", "kubernetes": "kubernetes"}


def found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package (azure, google.cloud) is missing
        return False


def missing(cloud: str) -> Optional[str]:
    """The one-line reason a stack on `cloud` cannot run here, or None when its SDKs are installed."""
    if cloud not in SDKS:
        return None
    modules, extra = SDKS[cloud]
    absent = [PACKAGES[m] for m in modules if not found(m)]
    if not absent:
        return None
    return f"{cloud} stacks need {', '.join(absent)}, an optional extra: pip install 'mlops-platform[{extra}]'"
