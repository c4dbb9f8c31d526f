"""The storage account's blob endpoint inside the VNet: a private endpoint in the node subnet, and the
privatelink zone linked to the VNet, so that <account>.blob.core.windows.net resolves there to the
endpoint's private address. Pods then reach their artifacts at an address in the VNet, and their
HTTPS egress can be an allow-list (components/egress.py) instead of the internet.
Ref: https://learn.microsoft.com/azure/storage/common/storage-private-endpoints,
https://learn.microsoft.com/azure/private-link/private-endpoint-dns (privatelink.blob.core.windows.net)
"""

from __future__ import annotations

from typing import Callable

import pulumi
import pulumi_azure_native.network as network
import pulumi_azure_native.storage as storage

from ..cluster.outputs import AzureNetwork
from .azure_private_dns import linked_zone

ZONE = "privatelink.blob.core.windows.net"
GROUP = "blob"  # the storage account's sub-resource the endpoint serves


def private_blob_endpoint(name: str, opts: Callable[..., pulumi.ResourceOptions], net: AzureNetwork,
                          account: storage.StorageAccount) -> network.PrivateEndpoint:
    rg = net.resource_group_name
    zone, _ = linked_zone(f"{name}-blob-dns", ZONE, net, opts)
    endpoint = network.PrivateEndpoint(
        f"{name}-blob-endpoint",
        resource_group_name=rg,
        location=net.region,
        subnet={"id": net.node_subnet_id},
        private_link_service_connections=[
            {"name": GROUP, "private_link_service_id": account.id, "group_ids": [GROUP]},
        ],
        opts=opts(),
    )
    # The endpoint's address goes into the zone as the account's A record, and leaves it with the endpoint.
    network.PrivateDnsZoneGroup(
        f"{name}-blob-dns-group",
        resource_group_name=rg,
        private_endpoint_name=endpoint.name,
        private_dns_zone_group_name=GROUP,
        private_dns_zone_configs=[{"name": GROUP, "private_dns_zone_id": zone.id}],
        opts=opts(),
    )
    return endpoint
