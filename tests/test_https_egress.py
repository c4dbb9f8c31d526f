"""MLflow, the models and their detectors send HTTPS only to an allow-list of address ranges: each
cloud's private way to its store and token service, plus `platform:egress.allow`
(components/egress.py). Read here from the NetworkPolicies and the endpoints, zones and records each
plan creates, and the policy `egress-https-allow-listed` that flags HTTPS to the whole internet."""

from __future__ import annotations

import ipaddress

import pytest
from pulumi_policy import ResourceValidationArgs

from mlops_platform.components import cidrs, network
from mlops_platform.components.config import ConfigError, PlatformConfig
from mlops_platform.components.config.loading import read_stack_values
from mlops_platform.planner.guards import guard_states
from mlops_platform.planner.harness import plan_platform
from mlops_platform.planner.mocks import S3_PREFIX_LIST_STAND_IN
from mlops_platform.policies.offline import evaluate
from mlops_platform.policies.registry import BY_NAME, pack_config, rule_config
from support import STACKS, one

RULE = "egress-https-allow-listed"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
WORKLOADS = ("mlflow", "models", "detectors")
ENTRA = {"20.190.128.0/18", "40.126.0.0/18"}  # Microsoft 365 endpoint set 56 (login.microsoftonline.com)
GOOGLE_APIS = "199.36.153.8/30"  # private.googleapis.com


def https_ranges(run, namespace: str) -> set[str] | None:
    """Where a namespace's allow-platform policy sends port 443, as the CIDRs it names (read without the
    program's code); None when a rule reaches every destination or the whole internet."""
    [policy] = [p.inputs for p in run.of_type(NETPOL)
                if p.inputs["metadata"] == {**p.inputs["metadata"], "name": "allow-platform", "namespace": namespace}]
    found: set[str] = set()
    for rule in policy["spec"].get("egress") or []:
        ports = rule.get("ports") or [{}]
        if not any(p.get("port") in (None, 443) for p in ports):
            continue
        peers = rule.get("to") or []
        if not peers:
            return None
        found |= {peer["ipBlock"]["cidr"] for peer in peers if "ipBlock" in peer}
    if cidrs.lets_in_the_internet(found):
        return None
    return found


def variant(stack: str, **values: object) -> PlatformConfig:
    return PlatformConfig.from_values({**read_stack_values(STACKS / f"Pulumi.{stack}.yaml"), **values}, f"{stack} (variant)", stack)


# --- each cloud's own endpoints ------------------------------------------------------------------

def test_on_aws_the_models_and_detectors_reach_the_vpc_and_s3s_prefix_list_only(planned, stack_config):
    run = planned("aws-prod+model")
    vpc_cidr = str(stack_config("aws-prod").aws.vpc_cidr)
    expected = {vpc_cidr, *S3_PREFIX_LIST_STAND_IN}  # the gateway endpoint's ranges, as its outputs hand them over
    assert https_ranges(run, "models") == expected
    assert https_ranges(run, "detectors") == expected
    assert https_ranges(run, "mlflow") is None, "Cognito is on the internet at addresses the stack cannot know"
    # With the bundled Dex, MLflow is held too: RDS's CA bundle reaches it in a ConfigMap, not over the internet.
    config = variant("aws-dev", models=[], egress={})
    assert config.identity.kind == "dex"
    assert https_ranges(plan_platform(config), "mlflow") == {str(config.aws.vpc_cidr), *S3_PREFIX_LIST_STAND_IN}


def test_the_s3_gateway_serves_every_private_route_table_and_sts_answers_inside_the_vpc(planned, stack_config):
    run = planned("aws-prod")
    endpoints = {e.input("vpcEndpointType"): e for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert set(endpoints) == {"Gateway", "Interface"}
    gateway, sts = endpoints["Gateway"], endpoints["Interface"]
    assert gateway.input("serviceName") == "com.amazonaws.us-east-1.s3" and sts.input("serviceName") == "com.amazonaws.us-east-1.sts"
    # Private route tables: those whose default route goes through a NAT gateway.
    natted = {r.input("routeTableId") for r in run.of_type("aws:ec2/route:Route") if r.input("natGatewayId")}
    assert natted and set(gateway.input("routeTableIds")) == natted
    private = [s for s in run.of_type("aws:ec2/subnet:Subnet") if s.input("tags", "kubernetes.io/role/internal-elb") == "1"]
    assert len(sts.input("subnetIds")) == len(private) == stack_config("aws-prod").aws_zone_count
    assert sts.input("privateDnsEnabled") is True, "sts.<region>.amazonaws.com must resolve to the endpoint"
    [group] = [g for g in run.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name.endswith("-sts-endpoint-sg")]
    assert group.input("ingress") == [{"protocol": "tcp", "fromPort": 443, "toPort": 443,
                                       "cidrBlocks": [str(stack_config("aws-prod").aws.vpc_cidr)]}]


def test_on_azure_the_vnet_holds_the_stores_endpoint_and_entra_id_is_at_its_ranges(planned, stack_config):
    run = planned("azure-prod")
    vnet = str(stack_config("azure-prod").azure.vnet_cidr)
    assert https_ranges(run, "mlflow") == {vnet, *ENTRA}
    assert https_ranges(run, "identity") == ENTRA
    served = planned("azure-prod+model")  # workload identity's tokens come from Entra ID
    assert https_ranges(served, "models") == https_ranges(served, "detectors") == {vnet, *ENTRA}
    endpoint = one(run, "azure-native:network:PrivateEndpoint", "-blob-endpoint")
    [connection] = endpoint.input("privateLinkServiceConnections")
    assert connection["groupIds"] == ["blob"]
    account = one(run, "azure-native:storage:StorageAccount", "-storage")
    assert account.urn in endpoint.property_dependencies["privateLinkServiceConnections"], "the endpoint serves the stack's account"
    nodes = one(run, "azure-native:network:Subnet", "-nodes-subnet")
    assert nodes.urn in endpoint.property_dependencies["subnet"]
    zone = [z for z in run.of_type("azure-native:privatedns:PrivateZone") if z.input("privateZoneName") == "privatelink.blob.core.windows.net"]
    assert len(zone) == 1
    links = [link for link in run.of_type("azure-native:privatedns:VirtualNetworkLink") if zone[0].urn in link.property_dependencies["privateZoneName"]]
    assert len(links) == 1 and links[0].input("registrationEnabled") is False
    [group] = run.of_type("azure-native:network:PrivateDnsZoneGroup")
    assert zone[0].urn in group.property_dependencies["privateDnsZoneConfigs"]
    assert endpoint.urn in group.property_dependencies["privateEndpointName"]


def test_on_gcp_every_workload_reaches_google_apis_private_range_only(planned):
    run = planned("gcp-dev")
    for namespace in WORKLOADS:
        assert https_ranges(run, namespace) == {GOOGLE_APIS}, namespace
    assert https_ranges(run, "identity") == set(), "the bundled Dex is reached through Traefik"


def test_the_googleapis_zone_sends_every_name_to_the_private_range(planned):
    run = planned("gcp-prod")
    [zone] = run.of_type("gcp:dns/managedZone:ManagedZone")
    assert zone.input("dnsName") == "googleapis.com." and zone.input("visibility") == "private"
    [vpc] = run.of_type("gcp:compute/network:Network")
    assert vpc.urn in zone.property_dependencies["privateVisibilityConfig"]
    records = {r.input("name"): r for r in run.of_type("gcp:dns/recordSet:RecordSet")}
    assert records["*.googleapis.com."].input("type") == "CNAME"
    assert records["*.googleapis.com."].input("rrdatas") == ["private.googleapis.com."]
    a = records["private.googleapis.com."]
    assert a.input("type") == "A"
    assert sorted(a.input("rrdatas")) == sorted(str(ip) for ip in ipaddress.ip_network(GOOGLE_APIS))
    [subnet] = run.of_type("gcp:compute/subnetwork:Subnetwork")
    assert subnet.input("privateIpGoogleAccess") is True


# --- platform:egress.allow, the issuer, a local stack ---------------------------------------------

def test_egress_allow_adds_its_ranges_and_nothing_else():
    run = plan_platform(variant("gcp-dev", egress={"allow": ["198.51.100.0/24", "2001:db8::/32"]}))
    assert https_ranges(run, "models") == {GOOGLE_APIS, "198.51.100.0/24", "2001:db8::/32"}


def test_an_external_issuer_opens_https_until_egress_allow_names_it():
    issuer = {"issuer": "https://sso.example.com", "clientId": "c", "clientSecret": {"secure": "v1:x"},
              "endpoints": {"authorization": "https://sso.example.com/a", "token": "https://sso.example.com/t",
                            "userinfo": "https://sso.example.com/u"}}
    opened = plan_platform(variant("gcp-dev", identity=issuer))
    assert https_ranges(opened, "identity") is None and https_ranges(opened, "mlflow") is None
    assert https_ranges(opened, "models") == {GOOGLE_APIS}, "the issuer opens only what signs people in"
    closed = plan_platform(variant("gcp-dev", identity=issuer, egress={"allow": ["198.51.100.0/24"]}))
    assert https_ranges(closed, "identity") == {"198.51.100.0/24"}
    assert https_ranges(closed, "mlflow") == {GOOGLE_APIS, "198.51.100.0/24"}


def test_a_local_stack_opens_https_to_the_models_only_until_egress_allow_narrows_it(planned):
    run = planned("local-dev")
    assert https_ranges(run, "models") is None, "the example model sits in a public bucket"
    assert https_ranges(run, "mlflow") == https_ranges(run, "detectors") == set(), "SeaweedFS is in the cluster"
    narrowed = plan_platform(variant("local-dev", egress={"allow": ["198.51.100.0/24"]}))
    assert https_ranges(narrowed, "models") == {"198.51.100.0/24"}


@pytest.mark.parametrize("stack, uri", [
    ("azure-dev", "gs://kfserving-examples/models/sklearn/1.0/model"),
    ("aws-dev", "https://models.example.com/iris"),
    ("gcp-dev", "s3://other/iris"),
])
def test_a_model_the_allow_list_cannot_reach_is_refused_until_egress_allow_is_set(stack, uri):
    model = {"name": "iris", "format": "sklearn", "storageUri": uri, "referenceData": "sklearn:iris"}
    values = {k: v for k, v in read_stack_values(STACKS / f"Pulumi.{stack}.yaml").items() if k != "egress"}
    with pytest.raises(ConfigError, match=r"platform:models\[0\]\.storageUri: .* add its address ranges to platform:egress.allow"):
        PlatformConfig.from_values({**values, "models": [model]}, stack, stack)
    PlatformConfig.from_values({**values, "models": [model], "egress": {"allow": ["0.0.0.0/0"]}}, stack, stack)


def test_an_egress_rule_never_takes_an_empty_list_for_every_address():
    with pytest.raises(ValueError, match="at least one range"):
        network._peers([])


# --- the policy -----------------------------------------------------------------------------------

@pytest.mark.parametrize("stack, held", [
    ("aws-prod+model", {"models", "detectors"}),
    ("azure-prod", {"models", "detectors", "mlflow"}),
    ("gcp-prod+model", {"models", "detectors", "mlflow"}),
])
def test_every_prod_stack_passes_the_rule_on_the_namespaces_it_holds(stack, held, planned, stack_config):
    config = stack_config(stack)
    settings = rule_config(BY_NAME[RULE], pack_config(config))
    assert settings["requireAllowList"] is True and set(settings["namespaces"]) == held
    rules, violations = evaluate(planned(stack), config)
    assert [v for v in violations if v.rule == RULE] == []
    [guard] = [g for g in guard_states(config, rules, violations) if g.name.startswith("HTTPS egress allow-listed")]
    assert (guard.state, guard.detail) == ("on", RULE), "plan reports the safeguard"


def test_a_prod_stack_opening_https_to_everything_is_stopped():
    config = PlatformConfig.from_values({**read_stack_values(STACKS / "Pulumi.gcp-prod.yaml"), "egress": {"allow": ["0.0.0.0/1", "128.0.0.0/1"]}},
                                        "gcp-prod (open)", "gcp-prod")
    _, violations = evaluate(plan_platform(config), config)
    found = [v for v in violations if v.rule == RULE]
    assert {v.level for v in found} == {"mandatory"} and len(found) == 1, found
    assert "lets pods in mlflow send HTTPS to any internet address" in found[0].message


def _flagged(egress: list, namespace: str = "models", **config: object) -> int:
    props = {"metadata": {"name": "p", "namespace": namespace}, "spec": {"podSelector": {}, "egress": egress}}
    args = ResourceValidationArgs(NETPOL, props, "urn:x", "p", None, None, {})
    settings = {**rule_config(BY_NAME[RULE], {}), **config}
    return len(BY_NAME[RULE].violations(args, settings))


ANY = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}
HALVES = [{"ipBlock": {"cidr": "0.0.0.0/1"}}, {"ipBlock": {"cidr": "128.0.0.0/1"}}]


@pytest.mark.parametrize("egress, flagged", [
    ([{"to": [ANY], "ports": [{"port": 443}]}], 1),
    ([{"to": HALVES, "ports": [{"port": 443}]}], 1),  # split, still everything
    ([{"to": [ANY]}], 1),  # every port
    ([{"to": [ANY], "ports": [{"protocol": "TCP"}]}], 1),  # every TCP port
    ([{"ports": [{"port": 443}]}], 1),  # no `to`: every destination
    ([{"to": [ANY], "ports": [{"port": 400, "endPort": 500}]}], 1),
    ([{"to": [{"ipBlock": {"cidr": "::/0"}}], "ports": [{"port": 443}]}], 1),
    ([{"to": [ANY], "ports": [{"port": 80}]}], 0),
    ([{"to": [ANY], "ports": [{"port": "https"}]}], 0),  # a named port is a pod's
    ([{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}, {"ipBlock": {"cidr": GOOGLE_APIS}}], "ports": [{"port": 443}]}], 0),
    ([{"to": [{"namespaceSelector": {}}], "ports": [{"port": 443}]}], 0),
])
def test_the_rule_flags_each_way_a_rule_sends_https_everywhere(egress, flagged):
    assert _flagged(egress) == flagged


def test_the_rule_holds_only_its_namespaces_and_only_where_required():
    everywhere = [{"to": [ANY], "ports": [{"port": 443}]}]
    assert _flagged(everywhere, "monitoring") == 0
    assert _flagged(everywhere, "mlflow", namespaces=["models"]) == 0
    assert _flagged(everywhere, requireAllowList=False) == 0
