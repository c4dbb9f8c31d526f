"""Azure's region pairs: where a geo-redundant backup's copy lives, and so where the key that
encrypts that copy must be (a Flexible Server with a customer-managed key and geo-redundant backup
needs a vault and an identity there).
Ref: https://learn.microsoft.com/azure/reliability/cross-region-replication-azure#azure-paired-regions
"""

from __future__ import annotations

_MUTUAL = (
    ("eastus", "westus"), ("eastus2", "centralus"), ("westus2", "westcentralus"), ("northcentralus", "southcentralus"),
    ("canadacentral", "canadaeast"), ("northeurope", "westeurope"), ("uksouth", "ukwest"), ("francecentral", "francesouth"),
    ("germanywestcentral", "germanynorth"), ("norwayeast", "norwaywest"), ("switzerlandnorth", "switzerlandwest"),
    ("swedencentral", "swedensouth"), ("eastasia", "southeastasia"), ("japaneast", "japanwest"),
    ("koreacentral", "koreasouth"), ("australiaeast", "australiasoutheast"), ("centralindia", "southindia"),
    ("southafricanorth", "southafricawest"), ("uaenorth", "uaecentral"),
)
# Each region's pair. Two replicate to a region whose own pair is another.
PAIRED: dict[str, str] = {
    **{a: b for a, b in _MUTUAL}, **{b: a for a, b in _MUTUAL},
    "westus3": "eastus", "brazilsouth": "southcentralus",
}
