"""Where the platform's workloads may open HTTPS connections: address ranges, because a
NetworkPolicy names addresses, never host names.

MLflow, the models (KServe's storage initializer) and their detectors reach the stack's object store,
and the cloud's token service for their credentials to it, over HTTPS. Each cloud's stack makes both
reachable at ranges it knows (the network's `https_ranges`, components/cluster/outputs.py):
- AWS: S3 through a gateway endpoint, at its prefix list's ranges; STS through an interface
  endpoint in the VPC (components/cluster/aws_endpoints.py);
- Azure: the storage account through a private endpoint in the VNet
  (components/data/azure_private_blob.py); Entra ID at the ranges Microsoft publishes for it;
- GCP: every Google API at private.googleapis.com's range (components/cluster/gcp_private_access.py);
  the credentials come from GKE's metadata server (components/network.py).
`platform:egress.allow` adds ranges to those, for what the stack cannot know (another cloud's model
store, a mirror). The issuer: the bundled Dex is reached through Traefik; Entra ID at its ranges;
any other (Cognito, an external one) is on the internet at addresses the stack cannot know, so
MLflow and oauth2-proxy reach HTTPS at `egress.allow` when it is set, and anywhere otherwise. (RDS's
CA bundle, on AWS, reaches the pods in a ConfigMap: the program fetches it, components/data/db_trust.py.)
A local (kind) stack has no cloud endpoint: HTTPS anywhere, unless `egress.allow` narrows it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

import pulumi

from . import network

if TYPE_CHECKING:
    from .cluster.outputs import Network
    from .config import PlatformConfig

# Microsoft Entra ID's sign-in and token endpoints (login.microsoftonline.com, graph.microsoft.com):
# the IPv4 ranges of "Microsoft 365 Common" ID 56. Microsoft changes them with notice; add new ones
# to platform:egress.allow until a release takes them.
# Ref: https://learn.microsoft.com/microsoft-365/enterprise/urls-and-ip-address-ranges (ID 56)
ENTRA_RANGES = ("20.190.128.0/18", "40.126.0.0/18")
# private.googleapis.com: every Google API that Private Google Access serves, Cloud Storage included.
# Ref: https://cloud.google.com/vpc/docs/configure-private-google-access#domain-options
GOOGLE_APIS_PRIVATE = "199.36.153.8/30"
GOOGLE_APIS_PRIVATE_ADDRESSES = tuple(str(address) for address in ipaddress.ip_network(GOOGLE_APIS_PRIVATE))


@dataclass(frozen=True)
class HttpsEgress:
    # The store, its credentials' service and egress.allow; None: nothing (local without an allow-list).
    store_ranges: Optional[pulumi.Input[Sequence[str]]]
    # The issuer's: () when the bundled Dex (through Traefik) is it; None: any address.
    issuer_ranges: Optional[Sequence[str]]
    # Models may come from anywhere (local without an allow-list: the example sits in a public bucket).
    models_anywhere: bool = False

    def to_store(self) -> list[dict[str, Any]]:
        """The egress rule of a workload that reads or writes the cloud's object store."""
        if self.store_ranges is None:
            return []
        return [network.to_ranges(self.store_ranges, network.HTTPS_PORT)]

    def to_model_sources(self) -> list[dict[str, Any]]:
        """KServe's storage initializer's: the stack's store, and the ranges egress.allow adds."""
        if self.models_anywhere:
            return [network.to_anywhere(network.HTTPS_PORT)]
        return self.to_store()

    def to_issuer(self) -> list[dict[str, Any]]:
        """The egress rule of a workload that signs people in (oauth2-proxy, MLflow)."""
        if self.issuer_ranges is None:
            return [network.to_anywhere(network.HTTPS_PORT)]
        if not self.issuer_ranges:
            return []
        return [network.to_ranges(self.issuer_ranges, network.HTTPS_PORT)]


def https_egress(config: "PlatformConfig", net: "Network") -> HttpsEgress:
    """The stack's allow-lists: its network's own ranges (none on local) with egress.allow, and the issuer's."""
    allowed = tuple(config.egress.allow)
    own: Optional[pulumi.Output[list[str]]] = getattr(net, "https_ranges", None)
    store: Optional[pulumi.Input[Sequence[str]]]
    if own is None:  # local: the store is in the cluster
        store = list(allowed) if allowed else None
    else:
        store = own.apply(lambda ranges: [*ranges, *allowed])
    issuer: Optional[Sequence[str]]
    if config.issuer_https_open:
        issuer = None
    elif config.identity.kind == "dex":
        issuer = ()
    else:
        issuer = (*(ENTRA_RANGES if config.identity.kind == "entra" else ()), *allowed)
    return HttpsEgress(store, issuer, models_anywhere=own is None and not allowed)
