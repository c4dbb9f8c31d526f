"""Google APIs at private.googleapis.com's range, for every address in the VPC: a private Cloud DNS
zone for googleapis.com that answers every name in it with that range's four addresses. With it,
Cloud Storage, IAM and every other API the workloads call sit in one /30, so their HTTPS egress can
be an allow-list (components/egress.py) instead of the internet. The node subnet has Private Google
Access on, and a new VPC's default route takes the range.
Ref: https://cloud.google.com/vpc/docs/configure-private-google-access#config-domain
"""

from __future__ import annotations

from typing import Callable

import pulumi
import pulumi_gcp as gcp

from ..egress import GOOGLE_APIS_PRIVATE, GOOGLE_APIS_PRIVATE_ADDRESSES

ZONE = "googleapis.com."
PRIVATE_NAME = f"private.{ZONE}"


def private_google_apis(name: str, opts: Callable[..., pulumi.ResourceOptions], cluster_name: str,
                        network: gcp.compute.Network) -> pulumi.Output[list[str]]:
    """Creates the zone and its two records; returns the ranges the workloads reach Google APIs at."""
    zone = gcp.dns.ManagedZone(
        f"{name}-googleapis-zone",
        name=f"{cluster_name}-googleapis",
        dns_name=ZONE,
        description="Google APIs through Private Google Access (mlops-platform)",
        visibility="private",
        private_visibility_config={"networks": [{"network_url": network.id}]},
        opts=opts(),
    )
    gcp.dns.RecordSet(f"{name}-googleapis-private", managed_zone=zone.name, name=PRIVATE_NAME, type="A", ttl=300,
                      rrdatas=list(GOOGLE_APIS_PRIVATE_ADDRESSES), opts=opts())
    gcp.dns.RecordSet(f"{name}-googleapis-all", managed_zone=zone.name, name=f"*.{ZONE}", type="CNAME", ttl=300,
                      rrdatas=[PRIVATE_NAME], opts=opts())
    return pulumi.Output.from_input([GOOGLE_APIS_PRIVATE])
