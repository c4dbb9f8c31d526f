"""Where the workloads that load models and artifacts may send HTTPS: an allow-list of address
ranges (the stack's own endpoints and platform:egress.allow, components/egress.py), never every
internet address. A model's pickle runs code; with open egress it could send out what it reads."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from mlops_platform.components import names

from .base import Rule, cidrs_open, describe_open, dig, opens_port, resource_name

HTTPS = 443
# The namespaces held to it (policies/registry.py narrows MLflow's away where its issuer is on the
# internet at addresses the stack cannot know).
NAMESPACES = [names.NS_MODELS, names.NS_DETECTORS, names.NS_MLFLOW]


def _ranges(rule: Mapping[str, Any]) -> list[str] | None:
    """The address ranges a rule sends to (an `except` does not count: an allow-list names what it
    allows); None when it has no `to`, which is every destination."""
    peers = rule.get("to") or []
    if not peers:
        return None
    return [str(dig(peer, "ipBlock", "cidr")) for peer in peers if dig(peer, "ipBlock", "cidr")]


def https_allow_listed(args: Any, config: Mapping[str, Any]) -> Iterator[str]:
    namespace = dig(args.props, "metadata", "namespace")
    if not config.get("requireAllowList") or namespace not in (config.get("namespaces") or ()):
        return
    for rule in dig(args.props, "spec", "egress", default=[]) or []:
        if not opens_port(rule, (HTTPS,)):
            continue
        ranges = _ranges(rule)
        if ranges is None or cidrs_open(ranges):
            reach = "every destination" if ranges is None else describe_open(ranges)
            yield (f"NetworkPolicy {resource_name(args.props, args.name)} lets pods in {namespace} send HTTPS to "
                   f"any internet address ({reach})")


RULES = [
    Rule("egress-https-allow-listed", "kubernetes",
         "MLflow, the models and their detectors send HTTPS only to an allow-list of address ranges (the stack's "
         "own endpoints and platform:egress.allow), never to any internet address.",
         "Remove 0.0.0.0/0 (or ranges that add up to it) from platform:egress.allow: list the ranges the "
         "workloads need (README: Egress).",
         https_allow_listed, ("kubernetes:networking.k8s.io/v1:NetworkPolicy",),
         config_schema={"requireAllowList": {"type": "boolean", "default": True},
                        "namespaces": {"type": "array", "items": {"type": "string"}, "default": NAMESPACES}}),
]
