"""Monthly cost estimates for the cloud stacks, and the README table that quotes them."""

from __future__ import annotations

import re

import pytest

from mlops_platform.components import prices
from mlops_platform.planner import costs
from support import ROOT, SHIPPED_STACKS

CLOUD_STACKS = [s for s in SHIPPED_STACKS if not s.startswith("local-")]


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_every_line_is_priced(stack, planned, stack_config):
    lines = costs.estimate(planned(stack), stack_config(stack))
    assert lines and not [line.item for line in lines if line.price_key is None]
    assert costs.total(lines) > 50


def test_aws_dev_lines_follow_the_price_table(planned, stack_config):
    lines = {line.item: line for line in costs.estimate(planned("aws-dev"), stack_config("aws-dev"))}
    table = prices.table()["clouds"]["aws"]["items"]
    assert lines["nodes m6i.large"].monthly == round(2 * table["ec2_m6i.large_hour"]["price"] * 730, 2)
    assert lines["EKS control plane (standard support)"].monthly == 73.0
    assert lines["NAT gateways"].quantity == 1


def test_prod_costs_more_than_dev(planned, stack_config):
    for cloud in ("aws", "azure", "gcp"):
        dev = costs.total(costs.estimate(planned(f"{cloud}-dev"), stack_config(f"{cloud}-dev")))
        prod = costs.total(costs.estimate(planned(f"{cloud}-prod"), stack_config(f"{cloud}-prod")))
        assert prod > dev, cloud


def test_local_stack_has_no_cloud_bill(planned, stack_config):
    assert costs.estimate(planned("local-dev"), stack_config("local-dev")) == []


def test_readme_quotes_the_current_estimates(planned, stack_config):
    readme = (ROOT / "README.md").read_text()
    for stack in CLOUD_STACKS:
        expected = costs.total(costs.estimate(planned(stack), stack_config(stack)))
        match = re.search(rf"\|\s*`{stack}`\s*\|[^\n]*\|\s*\$([0-9,]+(?:\.[0-9]+)?)\s*\|", readme)
        assert match, f"README has no cost row for {stack}"
        assert float(match.group(1).replace(",", "")) == expected, stack
    assert prices.table()["as_of"] in readme
