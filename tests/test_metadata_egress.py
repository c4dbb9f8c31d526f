"""The instance-metadata address is closed to the platform's pods except on GKE (whose workload
identity is served there): the NetworkPolicies the program plans on each cloud, and the policy
`k8s-metadata-address-closed` that flags any egress rule reaching it."""

from __future__ import annotations

import ipaddress

import pytest
from pulumi_policy import StackValidationArgs

from mlops_platform.policies.offline import evaluate
from mlops_platform.policies.registry import BY_NAME
from support.policy_resources import resource

RULE = "k8s-metadata-address-closed"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
METADATA = ipaddress.ip_address("169.254.169.254")


def _open_to_metadata(policy: dict) -> list[dict]:
    """Egress rules of a planned NetworkPolicy that name a block holding the metadata address and do
    not except it (read here without the rule's code)."""
    found = []
    for rule in policy["spec"].get("egress") or []:
        for peer in rule.get("to") or []:
            block = peer.get("ipBlock")
            if block and METADATA in ipaddress.ip_network(block["cidr"]) and not any(
                    METADATA in ipaddress.ip_network(c) for c in block.get("except") or []):
                found.append(rule)
    return found


@pytest.mark.parametrize("stack", ["aws-dev", "azure-dev", "aws-prod", "azure-prod"])
def test_no_pod_reaches_the_metadata_address_on_eks_or_aks(planned, stack_config, stack):
    run = planned(stack)
    policies = [r.inputs for r in run.of_type(NETPOL)]
    assert policies and all(_open_to_metadata(p) == [] for p in policies)
    _, violations = evaluate(run, stack_config(stack))
    assert [v for v in violations if v.rule == RULE] == []


def test_on_gke_the_workloads_reading_gcs_reach_the_metadata_server_only(planned, stack_config):
    run = planned("gcp-dev")
    opened: dict[str, list[dict]] = {}
    for policy in run.of_type(NETPOL):
        opened.setdefault(policy.inputs["metadata"]["namespace"], []).extend(_open_to_metadata(policy.inputs))
    reaching = {ns for ns, rules in opened.items() if rules}
    assert reaching == {"mlflow", "models", "detectors"}, reaching
    for ns in reaching:
        (rule,) = opened[ns]
        assert [peer["ipBlock"]["cidr"] for peer in rule["to"]] == ["169.254.169.254/32"]
        assert sorted(p["port"] for p in rule["ports"]) == [80, 988]
    _, violations = evaluate(run, stack_config("gcp-dev"))
    assert [v for v in violations if v.rule == RULE] == []


def _flagged(egress: list, metadata_allowed: bool = False) -> int:
    policy = resource(NETPOL, {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"podSelector": {}, "egress": egress}})
    args = StackValidationArgs(resources=[policy], config={"metadataAllowed": metadata_allowed})
    return len(BY_NAME[RULE].violations(args, args.get_config()))


ANY = {"ipBlock": {"cidr": "0.0.0.0/0"}}
CLOSED = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}


@pytest.mark.parametrize("egress, flagged", [
    ([{"to": [ANY], "ports": [{"port": 80}]}], 1),
    ([{"to": [ANY]}], 1),  # every port
    ([{}], 1),  # no `to`: every destination
    ([{"to": [{"ipBlock": {"cidr": "169.254.0.0/16"}}], "ports": [{"port": 1, "endPort": 1024}]}], 1),
    ([{"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}], "ports": [{"port": 988}]}], 1),
    ([{"to": [CLOSED], "ports": [{"port": 80}]}], 0),
    ([{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]}], 0),
    ([{"to": [ANY], "ports": [{"port": 443}, {"port": 5432}]}], 0),
    ([{"to": [{"namespaceSelector": {}}], "ports": [{"port": 80}]}], 0),
    ([{"to": [ANY], "ports": [{"port": "http"}]}], 0),
])
def test_the_rule_flags_each_way_an_egress_rule_reaches_the_metadata_address(egress, flagged):
    assert _flagged(egress) == flagged


def test_on_gke_the_rule_allows_it():
    assert _flagged([{"to": [ANY], "ports": [{"port": 80}]}], metadata_allowed=True) == 0


def test_a_plan_that_opens_the_metadata_address_is_flagged_on_eks_and_not_on_gke(monkeypatch, stack_config):
    from mlops_platform.components import network
    from mlops_platform.planner.harness import plan_platform

    monkeypatch.setattr(network, "to_anywhere", lambda *ports: {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                                                "ports": network.ports(*ports)})
    for stack, flagged in (("aws-dev", True), ("gcp-dev", False)):
        _, violations = evaluate(plan_platform(stack_config(stack)), stack_config(stack))
        assert bool([v for v in violations if v.rule == RULE]) is flagged, stack
