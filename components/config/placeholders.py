"""Documentation placeholders the shipped stack files hold until a user replaces them: `plan` lists
them, `up` and `preview` warn, and `up` refuses a prod stack that still has one."""

from __future__ import annotations

from ipaddress import IPv4Network, ip_network
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .stack import PlatformConfig

# Refs: RFC 2606 / RFC 6761 (example domains), RFC 5737 (TEST-NET ranges), the AWS documentation's
# example account 123456789012.
_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
_EXAMPLE_TLDS = ("example", "test", "invalid", "localhost")
_TEST_NETS = tuple(IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
_EXAMPLE_ACCOUNT = "123456789012"
_EXAMPLE_PROJECT = "my-mlops-project"


def _example_domain(domain: str) -> bool:
    domain = domain.lower().rstrip(".")
    return domain.rsplit(".", 1)[-1] in _EXAMPLE_TLDS or any(domain == d or domain.endswith("." + d) for d in _EXAMPLE_DOMAINS)


def placeholders(c: PlatformConfig) -> list[tuple[str, str, str]]:
    """(key, value, what it would do) for every documentation placeholder still in a stack."""
    found: list[tuple[str, str, str]] = []
    if c.domain and _example_domain(c.domain):
        found.append(("domain", c.domain, "an example domain: no DNS record can point at the load balancer"))
    if c.tls.email and _example_domain(c.tls.email.rsplit("@", 1)[-1]):
        found.append(("tls.email", c.tls.email, "an example address: Let's Encrypt rejects it"))
    for cidr in c.cluster.api_allowed_cidrs:
        if any(cidr.subnet_of(net) for net in _TEST_NETS):
            found.append(("cluster.apiAllowedCidrs", str(cidr), "a documentation range: it would lock you out of the Kubernetes API"))
    for cidr_text in c.ingress.allowed_cidrs:
        network = ip_network(cidr_text)
        if isinstance(network, IPv4Network) and any(network.subnet_of(net) for net in _TEST_NETS):
            found.append(("ingress.allowedCidrs", cidr_text, "a documentation range: nobody could reach the platform"))
    if c.identity.issuer and _example_domain(c.identity.issuer.split("://", 1)[-1].split("/", 1)[0]):
        found.append(("identity.issuer", c.identity.issuer, "an example issuer: no one can sign in"))
    if c.gcp is not None and c.gcp.project == _EXAMPLE_PROJECT:
        found.append(("gcp.project", c.gcp.project, "the example project id"))
    for arn in (c.aws.admin_role_arns if c.aws else ()):
        if f":{_EXAMPLE_ACCOUNT}:" in arn:
            found.append(("aws.adminRoleArns", arn, "the AWS documentation's example account"))
    if c.azure is not None:
        for value, key in [(c.azure.subscription_id, "azure.subscriptionId"),
                           *[(g, "azure.adminGroupObjectIds") for g in c.azure.admin_group_object_ids]]:
            if value and value.startswith("00000000-0000-"):
                found.append((key, value, "an all-zero example id"))
    return found

