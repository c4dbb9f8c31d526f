"""Which cloud regions, machine types and database classes can exist: a dated catalog per cloud.

Kept beside the price table (components/prices.json, same date): PlatformConfig checks a stack's
names against it before anything runs, so a typo is one line naming the key with the nearest name,
not a plan that silently leaves a node pool out of the monthly cost. A name that can exist but has
no price in the table is accepted, and the cost estimate says its total is incomplete.

As of 2026-11-23. Refs:
- AWS: https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html,
  https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html,
  https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Concepts.DBInstanceClass.Types.html
- Azure: `az account list-locations`, https://learn.microsoft.com/azure/virtual-machines/vm-naming-conventions
- GCP: https://cloud.google.com/compute/docs/regions-zones, https://cloud.google.com/compute/docs/machine-resource,
  https://cloud.google.com/sql/docs/postgres/instance-settings
"""

from __future__ import annotations

import difflib
import re
from typing import Optional

AWS_REGIONS = (
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ca-central-1", "ca-west-1", "mx-central-1", "sa-east-1",
    "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1",
    "af-south-1", "il-central-1", "me-south-1", "me-central-1",
    "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
    "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6",
    "ap-southeast-7", "us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1",
)
AZURE_REGIONS = (
    "eastus", "eastus2", "centralus", "northcentralus", "southcentralus", "westcentralus", "westus", "westus2",
    "westus3", "canadacentral", "canadaeast", "mexicocentral", "brazilsouth", "brazilsoutheast", "chilecentral",
    "northeurope", "westeurope", "uksouth", "ukwest", "francecentral", "francesouth", "germanywestcentral",
    "germanynorth", "switzerlandnorth", "switzerlandwest", "norwayeast", "norwaywest", "swedencentral",
    "swedensouth", "polandcentral", "italynorth", "spaincentral", "austriaeast", "belgiumcentral",
    "uaenorth", "uaecentral", "qatarcentral", "israelcentral", "southafricanorth", "southafricawest",
    "centralindia", "southindia", "westindia", "jioindiacentral", "jioindiawest", "eastasia", "southeastasia",
    "japaneast", "japanwest", "koreacentral", "koreasouth", "australiaeast", "australiasoutheast",
    "australiacentral", "australiacentral2", "newzealandnorth", "indonesiacentral", "malaysiawest",
)
GCP_REGIONS = (
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4",
    "northamerica-northeast1", "northamerica-northeast2", "northamerica-south1", "southamerica-east1",
    "southamerica-west1", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1", "europe-west1",
    "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10",
    "europe-west12", "me-central1", "me-central2", "me-west1", "africa-south1", "asia-east1", "asia-east2",
    "asia-northeast1", "asia-northeast2", "asia-northeast3", "asia-south1", "asia-south2", "asia-southeast1",
    "asia-southeast2", "australia-southeast1", "australia-southeast2",
)
REGIONS = {"aws": AWS_REGIONS, "azure": AZURE_REGIONS, "gcp": GCP_REGIONS}

# EC2 families (the part before the dot) and sizes.
AWS_FAMILIES = (
    "m5", "m5a", "m5d", "m5n", "m6a", "m6g", "m6gd", "m6i", "m6id", "m6in", "m7a", "m7g", "m7gd", "m7i", "m7i-flex",
    "m8g", "c5", "c5a", "c5d", "c5n", "c6a", "c6g", "c6gd", "c6gn", "c6i", "c6id", "c6in", "c7a", "c7g", "c7gd",
    "c7gn", "c7i", "c7i-flex", "c8g", "r5", "r5a", "r5b", "r5d", "r5n", "r6a", "r6g", "r6gd", "r6i", "r6id",
    "r6in", "r7a", "r7g", "r7gd", "r7i", "r7iz", "r8g", "t3", "t3a", "t4g", "x2gd", "x2idn", "x2iedn", "z1d",
    "i3", "i3en", "i4g", "i4i", "im4gn", "is4gen", "d3", "d3en", "g4ad", "g4dn", "g5", "g5g", "g6", "g6e", "gr6",
    "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "inf1", "inf2", "trn1", "trn1n", "trn2", "dl1", "hpc6a",
    "hpc7g",
)
AWS_SIZES = re.compile(r"^(nano|micro|small|medium|large|xlarge|[1-9][0-9]?xlarge|metal(-[0-9]+xl)?)$")
# RDS classes: db.<family>.<size>.
AWS_DB_FAMILIES = ("t3", "t4g", "m5", "m5d", "m6g", "m6gd", "m6i", "m6id", "m7g", "m7i", "r5", "r5b", "r5d",
                   "r6g", "r6gd", "r6i", "r6id", "r7g", "r7i", "x2g")
# Azure sizes: Standard_<family letters><vCPUs><features>[_<accelerator>]_v<generation> (B-series: no version).
AZURE_SIZE = re.compile(r"^Standard_(?P<family>[A-Z]+)(?P<cpus>[0-9]+)(-[0-9]+)?(?P<features>[a-z]*)(_[A-Z][A-Za-z0-9]*)?(_v[0-9]+)?$")
AZURE_FAMILIES = ("A", "B", "D", "DC", "E", "EC", "F", "FX", "H", "HB", "HC", "HX", "L", "M", "NC", "ND", "NG", "NP", "NV")
# GCP machine types: <series>-<class>-<vCPUs> (or e2-micro/small/medium, custom types).
GCP_SERIES = ("e2", "n1", "n2", "n2d", "n4", "n4d", "c2", "c2d", "c3", "c3d", "c4", "c4a", "c4d", "t2a", "t2d", "m1",
              "m2", "m3", "m4", "a2", "a3", "a4", "g2", "g4", "h3", "h4d", "z3")
GCP_MACHINE = re.compile(r"^(?P<series>[a-z][a-z0-9]*)-(?P<rest>(micro|small|medium)|"
                         r"(standard|highmem|highcpu|highgpu|megagpu|ultragpu|edgegpu|ultramem|megamem|hypermem)-[0-9]+(-lssd|-metal|g)?|"
                         r"custom-[0-9]+-[0-9]+(-ext)?)$")
GCP_SQL_TIER = re.compile(r"^db-(f1-micro|g1-small|custom-[0-9]+-[0-9]+|perf-optimized-n-[0-9]+|n1-(standard|highmem)-[0-9]+)$")

# What each cloud's names look like, to tell a name meant for another cloud.
_LOOKS_LIKE = {
    "aws": re.compile(r"^(db\.)?[a-z][a-z0-9-]*\.[a-z0-9-]+$"),
    "azure": re.compile(r"^Standard_"),
    "gcp": re.compile(r"^(db-)?[a-z][a-z0-9]*-[a-z]"),
}
_CLOUD_NAMES = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}
_WITH_ARTICLE = {"aws": "an AWS", "azure": "an Azure", "gcp": "a GCP"}


def _nearest(name: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _other_cloud(cloud: str, name: str) -> str:
    for other, pattern in _LOOKS_LIKE.items():
        if other != cloud and pattern.match(name) and not _LOOKS_LIKE[cloud].match(name):
            return f"; it looks like {_WITH_ARTICLE[other]} name"
    return ""


def region_problem(cloud: str, region: str) -> Optional[str]:
    known = REGIONS[cloud]
    if region in known:
        return None
    return f"'{region}' is not {_WITH_ARTICLE[cloud]} region{_nearest(region, known)}"


def _aws_instance(name: str, families: tuple[str, ...], prefix: str = "") -> Optional[str]:
    family, _, size = name[len(prefix):].partition(".")
    if not name.startswith(prefix) or not size or family not in families or not AWS_SIZES.match(size):
        sizes = ("micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge")
        known = [f"{prefix}{f}.{s}" for f in families for s in sizes]
        return _nearest(name, known) or (f" (known families: {', '.join(families[:8])}, ...)" if family not in families else "")
    return None


def instance_problem(cloud: str, name: str) -> Optional[str]:
    """Why `name` cannot be a node machine type on `cloud`, or None."""
    what = {"aws": "an EC2 instance type", "azure": "an Azure VM size", "gcp": "a GCE machine type"}[cloud]
    if cloud == "aws":
        hint = _aws_instance(name, AWS_FAMILIES)
    elif cloud == "azure":
        match = AZURE_SIZE.match(name)
        hint = None if match and match.group("family") in AZURE_FAMILIES else _nearest(name, _AZURE_EXAMPLES)
    else:
        match = GCP_MACHINE.match(name)
        hint = None if match and match.group("series") in GCP_SERIES else _nearest(name, _GCP_EXAMPLES)
    if hint is None:
        return None
    return f"'{name}' is not {what}{hint}{_other_cloud(cloud, name)}"


def database_problem(cloud: str, name: str) -> Optional[str]:
    """Why `name` cannot be the managed Postgres instance class on `cloud`, or None."""
    what = {"aws": "an RDS instance class", "azure": "a Postgres flexible server SKU", "gcp": "a Cloud SQL tier"}[cloud]
    if cloud == "aws":
        hint = _aws_instance(name, AWS_DB_FAMILIES, prefix="db.")
    elif cloud == "azure":
        match = AZURE_SIZE.match(name)
        hint = None if match and match.group("family") in ("B", "D", "E") else _nearest(name, _AZURE_DB_EXAMPLES)
    else:
        hint = None if GCP_SQL_TIER.match(name) else _nearest(name, _GCP_SQL_EXAMPLES)
    if hint is None:
        return None
    return f"'{name}' is not {what}{hint}{_other_cloud(cloud, name)}"


_AZURE_EXAMPLES = tuple(f"Standard_{f}{n}{x}_v{v}" for f in ("D", "E", "F") for n in (2, 4, 8, 16) for x in ("s", "ds", "as")
                        for v in (4, 5, 6)) + ("Standard_B2ms", "Standard_B4ms", "Standard_NC4as_T4_v3", "Standard_NC6s_v3")
_AZURE_DB_EXAMPLES = ("Standard_B1ms", "Standard_B2s", "Standard_B2ms", "Standard_D2ds_v5", "Standard_D4ds_v5",
                      "Standard_E2ds_v5", "Standard_E4ds_v5")
_GCP_EXAMPLES = tuple(f"{s}-{c}-{n}" for s in ("e2", "n2", "n2d", "c3", "n4") for c in ("standard", "highmem", "highcpu")
                      for n in (2, 4, 8, 16)) + ("g2-standard-4", "e2-medium")
_GCP_SQL_EXAMPLES = ("db-f1-micro", "db-g1-small", "db-custom-2-8192", "db-custom-4-16384")
