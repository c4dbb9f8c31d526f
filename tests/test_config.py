"""PlatformConfig: every kind of bad input is one clear line naming the file and the key."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

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
         "cluster": {"apiAllowedCidrs": ["203.0.113.0/24"]}},
        SOURCE,
    )
    assert config.protected and config.enforcement == "mandatory"


def test_config_is_frozen():
    config = PlatformConfig.from_values({"cloud": "local"}, SOURCE)
    with pytest.raises(Exception):
        config.env = "prod"  # type: ignore[misc]
    with pytest.raises(Exception):
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
        ({"cloud": "local", "monitoring": {"retention": "forever"}}, "platform:monitoring.retention", "not a retention"),
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
        ({"cloud": "aws", "env": "prod", "region": "us-east-1", "domain": "ml.example.com",
          "cluster": {"privateEndpoint": True}, "objectStore": {"forceDestroy": True}},
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


def test_every_shipped_stack_is_valid():
    from conftest import shipped_stacks, stack_config

    stacks = shipped_stacks()
    assert "local-dev" in stacks
    for stack in stacks:
        cloud, env = stack.split("-", 1)
        config = stack_config(stack)
        assert (config.cloud, config.env) == (cloud, env)
