"""A private DNS zone linked to the stack's VNet (no auto-registration): how a private address
answers for a service's name inside the VNet, the Flexible Server's and the storage account's alike.
Ref: https://learn.microsoft.com/azure/dns/private-dns-virtual-network-links
"""

from __future__ import annotations

from typing import Callable

import pulumi
import pulumi_azure_native.privatedns as privatedns

from ..cluster.outputs import AzureNetwork


def linked_zone(resource_name: str, zone_name: pulumi.Input[str], net: AzureNetwork,
                opts: Callable[..., pulumi.ResourceOptions]) -> tuple[privatedns.PrivateZone, privatedns.VirtualNetworkLink]:
    """The zone `resource_name` and its link `<resource_name>-link` to the VNet."""
    zone = privatedns.PrivateZone(resource_name, resource_group_name=net.resource_group_name, private_zone_name=zone_name,
                                  location="global", opts=opts())
    link = privatedns.VirtualNetworkLink(
        f"{resource_name}-link",
        resource_group_name=net.resource_group_name,
        private_zone_name=zone.name,
        location="global",
        virtual_network={"id": net.vnet_id},
        registration_enabled=False,
        opts=opts(),
    )
    return zone, link
