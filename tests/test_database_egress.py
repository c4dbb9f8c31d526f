"""Only MLflow may reach the tracking database, and only at the database: its namespace's egress on
the database's port goes to the private range the managed server's address is in (or to the data
namespace on local), and no other namespace's egress opens that port at all."""

from __future__ import annotations

import ipaddress

import pytest

from mlops_platform.components import names
from mlops_platform.planner.mocks import GCP_PEERING_ADDRESS
from support import SHIPPED_STACKS
from support.rendered import namespaces_of, of, policy

POSTGRES = 5432
S3_GATEWAY = 8333  # SeaweedFS on local


def _rules_on(egress: list[dict], port: int) -> list[dict]:
    """The egress rules that let traffic out on `port` (a rule with no ports lets every port out)."""
    return [r for r in egress if not r.get("ports") or any(p.get("port") == port for p in r["ports"])]


def _database_range(run, cloud: str) -> str:
    """Where the stack's plan puts the database, read from the cloud resources themselves."""
    if cloud == "aws":
        [vpc] = run.of_type("aws:ec2/vpc:Vpc")
        return vpc.input("cidrBlock")
    if cloud == "azure":
        [subnet] = [s for s in run.of_type("azure-native:network:Subnet") if s.name.endswith("-database-subnet")]
        return subnet.input("addressPrefix")
    [block] = [a for a in run.of_type("gcp:compute/globalAddress:GlobalAddress") if a.input("purpose") == "VPC_PEERING"]
    return f"{GCP_PEERING_ADDRESS}/{block.input('prefixLength')}"  # the address Google allocates (mocked)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_only_mlflow_reaches_the_database_and_only_there(stack, viewed, planned):
    cloud = stack.split("-")[0]
    view = viewed(stack)
    others = [p for p in of(view, "NetworkPolicy") if p["metadata"]["name"] == "allow-platform"
              and p["metadata"]["namespace"] not in (names.NS_MLFLOW, names.NS_DATA)]
    assert len(others) >= 4  # traefik, monitoring, cert-manager, kserve, ... (models and detectors where served)
    for other in others:
        opened = _rules_on(other["spec"].get("egress") or [], POSTGRES)
        assert opened == [], f"{other['metadata']['namespace']} may open connections on {POSTGRES}: {opened}"
    [rule] = _rules_on(policy(view, names.NS_MLFLOW)["egress"], POSTGRES)
    assert [p["port"] for p in rule["ports"]] == [POSTGRES]
    [peer] = rule["to"]
    if cloud == "local":
        assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": names.NS_DATA}}}
        return
    cidr = ipaddress.ip_network(peer["ipBlock"]["cidr"])
    assert str(cidr) == _database_range(planned(stack), cloud) and cidr.is_private, cidr


@pytest.mark.parametrize("namespace", [names.NS_MODELS, names.NS_DETECTORS])
def test_on_local_the_model_namespaces_reach_the_data_namespace_for_objects_only(namespace, viewed):
    egress = policy(viewed("local-dev"), namespace)["egress"]
    to_data = [r for r in egress if namespaces_of(r.get("to") or []) == {names.NS_DATA}]
    assert [p["port"] for r in to_data for p in r["ports"]] == [S3_GATEWAY]
