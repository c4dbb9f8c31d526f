"""How the cloud modules carve their address ranges, as pure functions.

components/cluster/eks.py and aks.py take their subnets from here, and PlatformConfig checks a
stack's ranges with the same functions before anything runs: a range too small for the subnets and
nodes it must hold is a configuration error naming the key, never a crash inside the program.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network
from itertools import islice

# Addresses each cloud keeps in every subnet.
# Refs: https://docs.aws.amazon.com/vpc/latest/userguide/subnet-sizing.html (5),
# https://learn.microsoft.com/azure/virtual-network/virtual-networks-faq (5),
# https://cloud.google.com/vpc/docs/subnets#unusable-ip-addresses-in-every-subnet (4)
AWS_RESERVED, AZURE_RESERVED, GCP_RESERVED = 5, 5, 4
# With the VPC CNI every pod takes a VPC address: a node plus the pods it can hold (29 on an
# m6i.large). Ref: https://github.com/awslabs/amazon-eks-ami/blob/main/templates/shared/runtime/eni-max-pods.txt
AWS_ADDRESSES_PER_NODE = 30
AWS_MAX_ZONES = 3  # the private /(p+2) blocks after the first: room for three zones
# GKE gives each node a /24 of the pods range (110 pods per node, the default).
# Ref: https://cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr
GKE_POD_PREFIX_PER_NODE = 24
GCP_SMALLEST_SUBNET = 29  # Ref: https://cloud.google.com/vpc/docs/subnets#valid-ranges


class RangeError(ValueError):
    """A range that cannot hold what the platform carves out of it; `str()` says why."""


def usable(network: IPv4Network, reserved: int) -> int:
    return max(network.num_addresses - reserved, 0)


@dataclass(frozen=True)
class AwsSubnets:
    public: tuple[IPv4Network, ...]  # one per zone: load balancers and NAT gateways
    private: tuple[IPv4Network, ...]  # one per zone: the nodes and their pods


def aws_subnets(vpc: IPv4Network, zones: int, max_nodes: int = 0) -> AwsSubnets:
    """Public /(p+4) subnets (at most /28) from the start of the VPC, private /(p+2) subnets (at
    most /26, room for pod addresses) from the second quarter on, one of each per zone."""
    if zones > AWS_MAX_ZONES:
        raise RangeError(f"{zones} availability zones: the platform spreads over at most {AWS_MAX_ZONES}")
    public_prefix, private_prefix = min(vpc.prefixlen + 4, 28), min(vpc.prefixlen + 2, 26)
    if public_prefix < vpc.prefixlen or private_prefix < vpc.prefixlen:
        raise RangeError(f"'{vpc}' is too small: give a /24 or larger (a /16 leaves room for pod addresses)")
    public = tuple(islice(vpc.subnets(new_prefix=public_prefix), zones))
    private = tuple(islice(vpc.subnets(new_prefix=private_prefix), 1, 1 + zones))
    if len(private) < zones or len(public) < zones:
        raise RangeError(
            f"'{vpc}' is too small for {zones} availability zones (a public and a private subnet each): "
            "give a /24 or larger (a /16 leaves room for pod addresses)"
        )
    room = sum(usable(s, AWS_RESERVED) for s in private)
    if max_nodes * AWS_ADDRESSES_PER_NODE > room:
        raise RangeError(
            f"'{vpc}' leaves {room} addresses for nodes and pods, too few for {max_nodes} nodes "
            f"(each takes up to {AWS_ADDRESSES_PER_NODE} with the VPC CNI): give a larger range"
        )
    return AwsSubnets(public, private)


@dataclass(frozen=True)
class AzureSubnets:
    nodes: IPv4Network
    database: IPv4Network  # delegated to the Postgres flexible server


def azure_subnets(vnet: IPv4Network, max_nodes: int = 0) -> AzureSubnets:
    """Two /(p+4) subnets (at most /28) from the start of the VNet: the nodes (Azure CNI overlay:
    pods take no VNet address) and the database's delegated subnet."""
    prefix = min(vnet.prefixlen + 4, 28)
    blocks = tuple(islice(vnet.subnets(new_prefix=prefix), 2)) if prefix >= vnet.prefixlen else ()
    if len(blocks) < 2:
        raise RangeError(f"'{vnet}' is too small for a node subnet and a database subnet: give a /27 or larger")
    nodes, database = blocks
    # One address more than the pool's maximum: the surge node of an upgrade.
    if max_nodes + 1 > usable(nodes, AZURE_RESERVED):
        raise RangeError(f"'{vnet}' gives the node subnet {nodes} {usable(nodes, AZURE_RESERVED)} addresses, "
                         f"too few for {max_nodes} nodes and an upgrade surge: give a larger range")
    return AzureSubnets(nodes, database)


def gcp_ranges(network: IPv4Network, pods: IPv4Network, services: IPv4Network, master: IPv4Network,
               max_nodes: int = 0) -> list[tuple[str, str]]:
    """Problems with a GKE cluster's ranges, as (key, message): the node subnet and the pods
    range hold every node, and no two ranges overlap."""
    problems = []
    if network.prefixlen > GCP_SMALLEST_SUBNET:
        problems.append(("gcp.networkCidr", f"'{network}' is smaller than a /{GCP_SMALLEST_SUBNET}, the smallest GCP subnet"))
    elif max_nodes > usable(network, GCP_RESERVED):
        problems.append(("gcp.networkCidr", f"'{network}' has {usable(network, GCP_RESERVED)} node addresses, "
                                            f"too few for {max_nodes} nodes"))
    node_ranges = 2 ** max(GKE_POD_PREFIX_PER_NODE - pods.prefixlen, 0) if pods.prefixlen <= GKE_POD_PREFIX_PER_NODE else 0
    if max_nodes > node_ranges:
        problems.append(("gcp.podsCidr", f"'{pods}' holds {node_ranges} node pod ranges (/{GKE_POD_PREFIX_PER_NODE} each), "
                                         f"too few for {max_nodes} nodes"))
    named = [("gcp.networkCidr", network), ("gcp.podsCidr", pods), ("gcp.servicesCidr", services), ("gcp.masterCidr", master)]
    for index, (key, first) in enumerate(named):
        for other_key, second in named[index + 1:]:
            if first.overlaps(second):
                problems.append((other_key, f"'{second}' overlaps {key.split('.')[-1]} '{first}'"))
    return problems
