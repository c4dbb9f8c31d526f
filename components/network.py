"""NetworkPolicies: every platform namespace denies all traffic, then allows what it needs.

Each namespace gets three policies:
- `default-deny`: no ingress, no egress (podSelector {}, policyTypes [Ingress, Egress]);
- `allow-baseline`: DNS to kube-dns, traffic within the namespace, and scrapes from monitoring;
- `allow-platform`: the namespace's own flows (its callers, its backends, the Kubernetes API).

The Kubernetes API server and admission webhooks' callers are not pods, so API egress is allowed
on ports 443/6443 and webhook ingress on the webhook's port, from anywhere.
Ref: https://kubernetes.io/docs/concepts/services-networking/network-policies/
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from . import k8s as kube
from . import names

if TYPE_CHECKING:
    from .data.outputs import Database, ObjectStore

ANYWHERE = "0.0.0.0/0"
API_SERVER_PORTS = (443, 6443)  # the kubernetes Service, and the API server behind it (post-DNAT)
# The instance-metadata address. Only GKE's workload identity needs it (its metadata server answers
# there, on 80 and 988); on EKS (IRSA: STS over HTTPS) and AKS (a projected token, Entra over HTTPS)
# a pod that reaches it gets at the node's own identity instead, so it stays closed there.
# Ref: https://cloud.google.com/kubernetes-engine/docs/how-to/workload-identity#network-policy
# Ref: https://learn.microsoft.com/azure/aks/operator-best-practices-cluster-security#secure-container-access-to-resources
METADATA = "169.254.169.254/32"
HTTPS_PORT = 443


def ports(*numbers: int, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"port": n, "protocol": protocol} for n in numbers]


def from_namespace(namespace: str, *port_numbers: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]}
    if port_numbers:
        rule["ports"] = ports(*port_numbers)
    return rule


def to_namespace(namespace: str, *port_numbers: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]}
    if port_numbers:
        rule["ports"] = ports(*port_numbers)
    return rule


def from_anywhere(*port_numbers: int) -> dict[str, Any]:
    return {"from": [{"ipBlock": {"cidr": ANYWHERE}}], "ports": ports(*port_numbers)}


def to_anywhere(*port_numbers: int) -> dict[str, Any]:
    """Any address on these ports but the instance-metadata one (cert-manager's port 80 would
    otherwise reach the node's identity on EKS and AKS)."""
    return {"to": [{"ipBlock": {"cidr": ANYWHERE, "except": [METADATA]}}], "ports": ports(*port_numbers)}


def to_kubernetes_api() -> dict[str, Any]:
    return to_anywhere(*API_SERVER_PORTS)


def _peer(cidr: str) -> dict[str, Any]:
    """One address range as a NetworkPolicy peer, the metadata address excepted where it falls inside."""
    block: dict[str, Any] = {"cidr": cidr}
    if ipaddress.ip_address(METADATA.split("/")[0]) in ipaddress.ip_network(cidr):
        block["except"] = [METADATA]
    return {"ipBlock": block}


def _peers(cidrs: Sequence[str]) -> list[dict[str, Any]]:
    if not cidrs:  # a rule with no `to` reaches every address: never let an empty list mean that
        raise ValueError("an egress rule to address ranges needs at least one range")
    return [_peer(c) for c in sorted(set(cidrs))]


def to_ranges(ranges: pulumi.Input[Sequence[str]], *port_numbers: int) -> dict[str, Any]:
    """These address ranges (at least one) on these ports."""
    return {"to": pulumi.Output.from_input(ranges).apply(_peers), "ports": ports(*port_numbers)}


def to_metadata_server() -> dict[str, Any]:
    """GKE's metadata server, where workload identity hands out a pod's Google credentials."""
    return {"to": [{"ipBlock": {"cidr": METADATA}}], "ports": ports(80, 988)}


DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [*ports(53, protocol="UDP"), *ports(53)],
}


def namespace_policies(
    resource_prefix: str,
    namespace: str,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    ingress: Sequence[dict[str, Any]] = (),
    egress: Sequence[dict[str, Any]] = (),
    depends_on: Sequence[pulumi.Resource] = (),
) -> list[k8s.networking.v1.NetworkPolicy]:
    def policy(name: str, spec: dict[str, Any]) -> k8s.networking.v1.NetworkPolicy:
        return k8s.networking.v1.NetworkPolicy(
            f"{resource_prefix}-netpol-{name}",
            metadata={"name": name, "namespace": namespace, "labels": kube.labels(namespace, "network-policy")},
            spec={"podSelector": {}, **spec},
            opts=kube.child(parent, provider, depends_on),
        )

    same_namespace: dict[str, Any] = {"podSelector": {}}
    out = [
        policy("default-deny", {"policyTypes": ["Ingress", "Egress"]}),
        policy(
            "allow-baseline",
            {
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [same_namespace]}, from_namespace(names.NS_MONITORING)],
                "egress": [DNS, {"to": [same_namespace]}],
            },
        ),
    ]
    if ingress or egress:
        spec: dict[str, Any] = {"policyTypes": [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules]}
        if ingress:
            spec["ingress"] = list(ingress)
        if egress:
            spec["egress"] = list(egress)
        out.append(policy("allow-platform", spec))
    return out


def object_store_egress(store: "ObjectStore") -> list[dict[str, Any]]:
    """Egress to the object store besides HTTPS (components/egress.py): SeaweedFS in the data
    namespace, or GKE's metadata server, where GCS credentials come from."""
    if store.endpoint:  # local: the S3 gateway's port, from its address
        return [to_namespace(names.NS_DATA, urlsplit(store.endpoint).port or 80)]
    return [to_metadata_server()] if store.kind == "gcs" else []


def to_database(db: "Database") -> dict[str, Any]:
    """Egress to the tracking database on its port only: the in-cluster Postgres, or the private range
    the managed server's address is in (never the internet on that port)."""
    if db.network is None:  # local
        return to_namespace(names.NS_DATA, db.port)
    return {"to": [{"ipBlock": {"cidr": db.network}}], "ports": ports(db.port)}
