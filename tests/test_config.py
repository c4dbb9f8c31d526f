"""PlatformConfig: every kind of bad input is one clear line naming the file and the key."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from mlops_platform.components.config import ConfigError, PlatformConfig, pulumi_config_values

SOURCE = "stacks/Pulumi.local-dev.yaml"
IRIS = {
    "name": "iris",
    "format": "sklearn",
    "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
    "referenceData": "sklearn:iris",
}


def error_for(values: dict, stack: str | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        PlatformConfig.from_values(values, SOURCE, stack)
    message = str(caught.value)
    assert "\n" not in message, "errors are one line"
    assert message.startswith(SOURCE + ": "), message
    return message


def write_stack(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "Pulumi.local-dev.yaml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def test_minimal_local_config_gets_secure_defaults():
    config = PlatformConfig.from_values({"cloud": "local"}, SOURCE, "local-dev")
    assert config.stack_name == "local-dev"
    assert config.effective_domain == "127.0.0.1.sslip.io"
    assert config.tls.issuer == "selfSigned"
    assert not config.protected and config.enforcement == "advisory"


def test_prod_is_protected_and_mandatory_by_default():
    config = PlatformConfig.from_values(
        {"cloud": "aws", "env": "prod", "region": "us-east-1", "domain": "ml.example.com",
         "cluster": {"apiAllowedCidrs": ["203.0.113.0/24"]}, "ingress": {"internal": True}, "identity": {"provider": "dex"}},
        SOURCE,
    )
    assert config.protected and config.enforcement == "mandatory"


@pytest.mark.parametrize("provider, claim", [("dex", "groups"), ("cognito", "cognito:groups"), ("entra", "roles")])
def test_the_groups_claim_follows_the_provider_unless_set(provider, claim):
    from mlops_platform.components.config.access import IdentityConfig

    assert IdentityConfig.model_validate({"provider": provider}).claim == claim
    assert IdentityConfig.model_validate({"provider": provider, "groupsClaim": "teams"}).claim == "teams"


def test_config_is_frozen():
    config = PlatformConfig.from_values({"cloud": "local"}, SOURCE)
    with pytest.raises(ValidationError, match="frozen"):
        config.env = "prod"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.cluster.node_count = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "values, key, fragment",
    [
        ({"cloud": "local", "clustr": {}}, "platform:clustr", "unknown key (did you mean 'cluster'?)"),
        ({"cloud": "local", "cluster": {"nodeCont": 2}}, "platform:cluster.nodeCont", "did you mean 'nodeCount'"),
        ({"cloud": "local", "cluster": {"nodeCount": 0}}, "platform:cluster.nodeCount", "must be at least 1 (got 0)"),
        ({"cloud": "local", "cluster": {"nodeCount": -1}}, "platform:cluster.nodeCount", "must be at least 1 (got -1)"),
        ({"cloud": "local", "cluster": {"nodeCount": "3"}}, "platform:cluster.nodeCount", "must be an integer (got '3')"),
        ({"cloud": "local", "cluster": {"nodeCount": True}}, "platform:cluster.nodeCount", "must be an integer"),
        ({"cloud": "local", "cluster": 3}, "platform:cluster", "must be a mapping"),
        ({"cloud": "mars"}, "platform:cloud", "must be one of 'local', 'aws', 'azure' or 'gcp' (got 'mars')"),
        ({}, "platform:cloud", "is required"),
        ({"cloud": "local", "domain": "Bad_Domain"}, "platform:domain", "not a valid DNS domain"),
        ({"cloud": "local", "domain": "localhost"}, "platform:domain", "not a valid DNS domain"),
        ({"cloud": "local", "domain": "a..b.com"}, "platform:domain", "not a valid DNS domain"),
        ({"cloud": "local", "models": [{k: v for k, v in IRIS.items() if k != "storageUri"}]},
         "platform:models[0].storageUri", "is required"),
        ({"cloud": "local", "models": [{**IRIS, "storageUri": "ftp://x/y"}]},
         "platform:models[0].storageUri", "is not a model URI"),
        ({"cloud": "local", "models": [{k: v for k, v in IRIS.items() if k != "referenceData"}]},
         "platform:models[0]", "referenceData is required"),
        ({"cloud": "local", "models": [IRIS, IRIS]}, "platform:models", "repeated: iris"),
        ({"cloud": "local", "models": [{**IRIS, "name": "Iris"}]}, "platform:models[0].name", "DNS label"),
        ({"cloud": "local", "env": "Prod!"}, "platform:env", "not an environment name"),
        ({"cloud": "local", "monitoring": {"retention": "forever"}}, "platform:monitoring.retention", "is not a duration"),
        ({"cloud": "local", "models": [{**IRIS, "resources": {"cpu": "lots"}}]},
         "platform:models[0].resources.cpu", "not a CPU quantity"),
        ({"cloud": "local", "tls": {"issuer": "acme"}}, "platform:tls", "needs an email"),
        ({"cloud": "local", "region": "us-east-1"}, "platform:region", "a local stack has no region"),
        ({"cloud": "local", "monitoring": {"enabled": False}}, "platform:monitoring.enabled",
         "detectors is on and needs it"),
        ({"cloud": "aws", "domain": "ml.example.com", "cluster": {"privateEndpoint": True}},
         "platform:region", "required for cloud 'aws'"),
        ({"cloud": "aws", "region": "mars-1", "domain": "ml.example.com", "cluster": {"privateEndpoint": True}},
         "platform:region", "is not an AWS region"),
        ({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com"},
         "platform:cluster.apiAllowedCidrs", "give the CIDRs"),
        ({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com",
          "cluster": {"apiAllowedCidrs": ["10.0.0.1/8"]}}, "platform:cluster.apiAllowedCidrs[0]", "host bits"),
        ({"cloud": "gcp", "region": "us-central1", "domain": "ml.example.com", "gcp": {"project": "X"},
          "cluster": {"privateEndpoint": True}}, "platform:gcp.project", "not a GCP project id"),
        ({"cloud": "local", "ingress": {"allowedCidrs": ["203.0.113.0/24"]}}, "platform:ingress.allowedCidrs",
         "listens on 127.0.0.1 only"),
        ({"cloud": "local", "ingress": {"internal": True}}, "platform:ingress.internal", "listens on 127.0.0.1 only"),
        ({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com", "cluster": {"privateEndpoint": True},
          "ingress": {"allowedCidrs": ["10.0.0.1/8"]}}, "platform:ingress.allowedCidrs", "host bits"),
        ({"cloud": "local", "identity": {"issuer": "https://login.example.com"}}, "platform:identity.clientId",
         "required for an external issuer"),
        ({"cloud": "local", "identity": {"issuer": "https://login.example.com", "clientId": "c", "clientSecret": {"secure": "v1:x"}}},
         "platform:identity.endpoints", "required for an external issuer"),
        ({"cloud": "local", "identity": {"provider": "dex", "clientId": "c"}}, "platform:identity.clientId",
         "runs its own issuer"),
        ({"cloud": "local", "identity": {"issuer": "http://login.example.com"}}, "platform:identity.issuer",
         "is not an issuer URL"),
        ({"cloud": "local", "identity": {"clientSecret": "hunter2"}}, "platform:identity.clientSecret",
         "pulumi config set --secret"),
        ({"cloud": "local", "identity": {"adminGroups": []}}, "platform:identity.adminGroups", "at least one group"),
        ({"cloud": "gcp", "region": "us-central1", "domain": "ml.example.com", "gcp": {"project": "ml-project"},
          "cluster": {"privateEndpoint": True}, "identity": {"provider": "cognito"}}, "platform:identity.provider",
         "cognito is created on aws only"),
        ({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com", "cluster": {"privateEndpoint": True},
          "identity": {"provider": "entra"}}, "platform:identity.provider", "entra is created on azure only"),
        ({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com", "cluster": {"privateEndpoint": True},
          "identity": {"provider": "cognito", "issuer": "https://login.example.com"}}, "platform:identity.issuer",
         "provider cognito is created by the stack"),
        ({"cloud": "local", "identity": {"provider": "okta"}}, "platform:identity.provider", "cognito"),
        ({"cloud": "local", "allowReplace": ["mlops-cluster-kind"]}, "platform:allowReplace", "is not a resource URN"),
        ({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com", "cluster": {"privateEndpoint": True},
          "backup": {"schedule": "3am"}}, "platform:backup.schedule", "not a daily UTC time"),
        ({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com", "cluster": {"privateEndpoint": True},
          "backup": {"retentionDays": 3}}, "platform:backup.retentionDays", "7"),
        ({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com", "cluster": {"privateEndpoint": True},
          "backup": {"geoRedundant": True}}, "platform:backup.geoRedundant", "on Azure only"),
        ({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com", "cluster": {"privateEndpoint": True},
          "database": {"backupRetentionDays": 14}}, "platform:database.backupRetentionDays", "set backup.retentionDays"),
        ({"cloud": "local", "backup": {"geoRedundant": True}}, "platform:backup.geoRedundant", "on Azure only"),
        ({"cloud": "aws", "env": "prod", "region": "us-east-1", "domain": "ml.example.com",
          "cluster": {"privateEndpoint": True}, "ingress": {"internal": True}}, "platform:identity",
         "a prod stack names its issuer"),
        ({"cloud": "aws", "env": "prod", "region": "us-east-1", "domain": "ml.example.com",
          "cluster": {"privateEndpoint": True}, "objectStore": {"forceDestroy": True}, "ingress": {"internal": True},
          "identity": {"provider": "dex"}},
         "platform:objectStore.forceDestroy", "not allowed in prod"),
    ],
)
def test_bad_input_names_the_key(values, key, fragment):
    message = error_for(values)
    assert f": {key}: " in message, message
    assert fragment in message, message


def test_stack_name_must_match_cloud_and_env():
    message = error_for({"cloud": "aws", "region": "us-east-1", "domain": "ml.example.com",
                         "cluster": {"privateEndpoint": True}}, stack="local-dev")
    assert "platform:cloud" in message and "stack 'local-dev'" in message


def test_stack_file_problems_name_the_file(tmp_path):
    cases = {
        "config:\n  platform:cloud: local\n  platform:cloud: aws\n": "duplicate key 'platform:cloud'",
        "config: [1, 2]\n": "config: must be a mapping",
        "configs:\n  platform:cloud: local\n": "configs: unknown top-level key",
        "config:\n  aws:region: us-east-1\n  platform:cloud: local\n": "aws:region: only platform:* keys are read",
        "config:\n  platform:cloud: local\n  platform:domain:\n    secure: AAABAC==\n": "secret values are not taken",
        "config:\n  platform:cloud: [\n": "not valid YAML at line",
    }
    for body, fragment in cases.items():
        path = write_stack(tmp_path, body)
        with pytest.raises(ConfigError) as caught:
            PlatformConfig.from_stack_file(path, "local-dev")
        assert str(caught.value).startswith(str(path)), caught.value
        assert fragment in str(caught.value), (body, str(caught.value))


def test_missing_stack_file(tmp_path):
    with pytest.raises(ConfigError, match="stack file not found"):
        PlatformConfig.from_stack_file(tmp_path / "Pulumi.nope-dev.yaml")


def test_engine_values_decode_like_the_stack_file():
    """Inside `pulumi up` the engine passes every value as a string (objects as JSON)."""
    from pulumi.runtime import config as runtime_config

    runtime_config.set_all_config(
        {
            "platform:cloud": "local",
            "platform:env": "dev",
            "platform:cluster": json.dumps({"nodeCount": 2}),
            "platform:models": json.dumps([IRIS]),
        }
    )
    try:
        config = PlatformConfig.from_values(pulumi_config_values(), "stack local-dev", "local-dev")
    finally:
        runtime_config.set_all_config({})
    assert config.cluster.node_count == 2
    assert config.models[0].reference_data == "sklearn:iris"


def test_from_pulumi_reports_a_run_error_not_a_traceback():
    import pulumi
    from pulumi.runtime import config as runtime_config

    runtime_config.set_all_config({"platform:cloud": "local", "platform:cluster": json.dumps({"nodeCount": 0})})
    try:
        with pytest.raises(pulumi.RunError, match=r"platform:cluster\.nodeCount: must be at least 1"):
            PlatformConfig.from_pulumi("local-dev")
    finally:
        runtime_config.set_all_config({})


def test_every_shipped_stack_is_valid(stack_config):
    from support import SHIPPED_STACKS

    stacks = SHIPPED_STACKS
    assert "local-dev" in stacks
    for stack in stacks:
        cloud, env = stack.split("-", 1)
        config = stack_config(stack)
        assert (config.cloud, config.env) == (cloud, env)


# --- ranges the cloud modules carve, and names that cannot exist ---------------------------------

from mlops_platform.components.config import (  # noqa: E402
    DEFAULT_MAX_GPU_NODES,
    DEFAULT_MAX_NODES,
    PolicyLimits,
    read_stack_values,
)
from support import ROOT, STACKS  # noqa: E402


def shipped(stack: str, **changes) -> dict:
    """A shipped stack's values with `changes` ("a.b" keys for nested ones)."""
    values = read_stack_values(STACKS / f"Pulumi.{stack}.yaml")
    for dotted, value in changes.items():
        target = values
        *parents, last = dotted.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    return values


def stack_error(stack: str, **changes) -> str:
    with pytest.raises(ConfigError) as caught:
        PlatformConfig.from_values(shipped(stack, **changes), f"stacks/Pulumi.{stack}.yaml", stack)
    return str(caught.value)


@pytest.mark.parametrize("stack, key, cidr, fragment", [
    ("aws-dev", "aws.vpcCidr", "10.40.0.0/30", "is too small: give a /24 or larger"),
    ("aws-dev", "aws.vpcCidr", "10.40.0.0/26", "too small for 2 availability zones"),
    ("aws-prod", "aws.vpcCidr", "10.41.0.0/25", "too small for 3 availability zones"),
    ("aws-dev", "aws.vpcCidr", "10.40.0.0/24", "too few for 40 nodes"),
    ("azure-dev", "azure.vnetCidr", "10.50.0.0/30", "too small for a node subnet and a database subnet"),
    ("azure-dev", "azure.vnetCidr", "10.50.0.0/28", "too small for a node subnet and a database subnet"),
    ("gcp-dev", "gcp.networkCidr", "10.60.0.0/30", "smaller than a /29"),
    ("gcp-dev", "gcp.podsCidr", "10.64.0.0/24", "too few for 2 nodes"),
    ("gcp-dev", "gcp.servicesCidr", "10.60.0.0/24", "overlaps networkCidr"),
])
def test_address_ranges_too_small_for_what_is_carved_are_config_errors(stack, key, cidr, fragment):
    section = key.split(".")[0]
    changes = {f"{section}.{key.split('.')[1]}": cidr}
    if stack == "aws-dev" and "40 nodes" in fragment:
        changes["cluster.maxNodes"] = 40
    message = stack_error(stack, **changes)
    assert f"platform:{key}: " in message and fragment in message, message


def test_the_carving_the_config_checks_is_the_one_the_cluster_uses():
    from ipaddress import IPv4Network

    from mlops_platform.components import subnets

    carved = subnets.aws_subnets(IPv4Network("10.40.0.0/16"), 3)
    assert [str(s) for s in carved.public] == ["10.40.0.0/20", "10.40.16.0/20", "10.40.32.0/20"]
    assert [str(s) for s in carved.private] == ["10.40.64.0/18", "10.40.128.0/18", "10.40.192.0/18"]
    eks = (ROOT / "components" / "cluster" / "eks.py").read_text()
    aks = (ROOT / "components" / "cluster" / "aks.py").read_text()
    assert "subnets.aws_subnets(" in eks and "subnets.azure_subnets(" in aks


@pytest.mark.parametrize("stack, key, value, fragment", [
    ("aws-dev", "region", "us-eats-1", "'us-eats-1' is not an AWS region (did you mean 'us-east-1'?)"),
    ("azure-dev", "region", "eastsu", "did you mean 'eastus'?"),
    ("gcp-dev", "region", "us-centrl1", "did you mean 'us-central1'?"),
    ("aws-dev", "cluster.instanceType", "m6i.lrage", "'m6i.lrage' is not an EC2 instance type (did you mean 'm6i.large'?)"),
    ("aws-dev", "cluster.instanceType", "Standard_D2s_v5", "it looks like an Azure name"),
    ("azure-dev", "cluster.instanceType", "m6i.large", "it looks like an AWS name"),
    ("gcp-dev", "cluster.instanceType", "e2-standrd-4", "did you mean 'e2-standard-4'?"),
    ("aws-dev", "database.instanceClass", "db.t4g.mciro", "did you mean 'db.t4g.micro'?"),
    ("gcp-dev", "database.instanceClass", "db-g1-smal", "did you mean 'db-g1-small'?"),
])
def test_names_that_cannot_exist_are_config_errors_with_the_nearest_name(stack, key, value, fragment):
    message = stack_error(stack, **{key: value})
    assert f"platform:{key}: " in message and fragment in message, message


def test_a_name_that_can_exist_but_has_no_price_makes_the_total_incomplete():
    from mlops_platform.planner import costs
    from mlops_platform.planner.harness import plan_platform

    config = PlatformConfig.from_values(shipped("aws-dev", **{"cluster.instanceType": "m7i.2xlarge"}), "t", "aws-dev")
    lines = costs.estimate(plan_platform(config), config)
    summary = costs.summary(lines, "aws", config.region)
    assert summary["complete"] is False and summary["unpriced"] == ["nodes m7i.2xlarge"]


def test_the_policy_limits_defaults_have_one_source_quoted_by_the_readme():
    from mlops_platform.policies.registry import BY_NAME, rule_config

    readme = (ROOT / "README.md").read_text()
    quoted = re.search(r"`maxNodes` (\d+), `allowedInstanceTypes`, `maxGpuNodes` (\d+)", readme)
    assert quoted and (int(quoted.group(1)), int(quoted.group(2))) == (DEFAULT_MAX_NODES, DEFAULT_MAX_GPU_NODES)
    assert (PolicyLimits().max_nodes, PolicyLimits().max_gpu_nodes) == (DEFAULT_MAX_NODES, DEFAULT_MAX_GPU_NODES)
    assert rule_config(BY_NAME["cost-gpu-only-when-enabled"], {})["maxGpuNodes"] == DEFAULT_MAX_GPU_NODES
    assert DEFAULT_MAX_GPU_NODES > 0


def test_a_gpu_pool_in_prod_passes_the_default_policy():
    from mlops_platform.planner.harness import plan_platform
    from mlops_platform.policies.offline import evaluate

    config = PlatformConfig.from_values(shipped("aws-prod", **{"cluster.gpu": {"enabled": True}}), "t", "aws-prod")
    _, violations = evaluate(plan_platform(config), config)
    assert [v.rule for v in violations] == []


def test_a_plain_client_secret_is_refused_without_echoing_it():
    message = error_for({"cloud": "local", "identity": {"clientSecret": "hunter2-plain"}})
    assert "platform:identity.clientSecret" in message and "hunter2-plain" not in message


def test_backups_reach_each_clouds_database(planned):
    """The backup section's schedule and retention on every cloud; geo-redundant copies in Azure prod only."""
    [rds] = planned("aws-prod").of_type("aws:rds/instance:Instance")
    assert rds.input("backupWindow") == "03:00-04:00" and rds.input("backupRetentionPeriod") == 14
    for stack, geo in (("azure-prod", "Enabled"), ("azure-dev", "Disabled")):
        [server] = planned(stack).of_type("azure-native:dbforpostgresql:Server")
        assert server.input("backup")["geoRedundantBackup"] == geo
    [sql] = planned("gcp-prod").of_type("gcp:sql/databaseInstance:DatabaseInstance")
    backup = sql.input("settings")["backupConfiguration"]
    assert backup["startTime"] == "03:00" and backup["pointInTimeRecoveryEnabled"] is True
    assert backup["transactionLogRetentionDays"] == 7 and backup["backupRetentionSettings"]["retainedBackups"] == 14
