"""The policy pack's own files, its per-stack configuration and its documentation: what the engine
loads, the levels each stack gets, and README's table."""

from __future__ import annotations

from mlops_platform.components.config import PlatformConfig, read_stack_values
from mlops_platform.policies.registry import RULES, pack_config
from support import ROOT


def test_pack_files_describe_a_python_pack():
    import yaml

    meta = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    assert meta["runtime"] == "python" and meta["version"]
    assert "build_pack()" in (ROOT / "policies" / "__main__.py").read_text()


def test_readme_lists_every_rule():
    readme = (ROOT / "README.md").read_text()
    missing = [r.name for r in RULES if f"`{r.name}`" not in readme]
    assert not missing, missing


def test_enforcement_advisory_in_dev_mandatory_in_prod(stack_config):
    assert pack_config(stack_config("aws-dev"))["all"] == "advisory"
    prod = pack_config(stack_config("aws-prod"))
    assert prod["all"] == "mandatory" and prod["licence-source-available-components"] == "mandatory"
    assert prod["reliability-prod-data-protected"]["requireProtection"] is True
    assert prod["reliability-prod-database-recoverable"]["requireRecovery"] is True
    values = read_stack_values(ROOT / "stacks" / "Pulumi.aws-prod.yaml")
    licensed = PlatformConfig.from_values({**values, "policy": {"sourceAvailableLicence": True}}, "t")
    assert pack_config(licensed)["licence-source-available-components"] == "disabled"
    relaxed = PlatformConfig.from_values({**values, "policy": {"enforcement": "advisory"}}, "t")
    assert pack_config(relaxed)["all"] == "advisory"
