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


# Each cloud's log sinks, as the plan creates them (read here from the resources), and the rate
# each is priced at: the audit trail's cost by volume, listed beside the total.
SINKS = {
    "aws": {"cloudwatch_logs_ingest_gb", "cloudwatch_logs_storage_gb_month", "s3_standard_gb_month"},
    "azure": {"log_analytics_ingest_gb", "network_flow_logs_gb", "traffic_analytics_60min_gb"},
    "gcp": {"cloud_logging_gb", "gcs_standard_regional_gb_month"},
}


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_the_audit_trails_logs_are_priced_by_volume_and_kept_out_of_the_total(stack, planned, stack_config):
    config = stack_config(stack)
    rates = costs.usage_rates(planned(stack), config)
    assert {r.price_key for r in rates} == SINKS[config.cloud]
    table = prices.table()["clouds"][config.cloud]["items"]
    for rate in rates:
        assert rate.price == table[rate.price_key]["price"] > 0 and "GB" in rate.unit
        assert table[rate.price_key]["source"].startswith("github:")  # a cited figure, like every other price
    summary = costs.summary(costs.estimate(planned(stack), config), config.cloud, usage=rates)
    assert summary["monthly"] == costs.total(costs.estimate(planned(stack), config))
    assert [u["priceKey"] for u in summary["usage"]] == [r.price_key for r in rates]


def test_a_stack_without_a_sink_lists_no_rate_for_it(planned, stack_config):
    run = planned("aws-dev")
    without = type(run)(**{**run.__dict__, "resources": [r for r in run.resources if r.type != "aws:s3/bucketLogging:BucketLogging"]})
    assert "s3_standard_gb_month" not in {r.price_key for r in costs.usage_rates(without, stack_config("aws-dev"))}
    assert costs.usage_rates(planned("local-dev"), stack_config("local-dev")) == []


def test_plan_shows_the_log_rates_under_the_total(project):
    from typer.testing import CliRunner

    from mlops_platform.cli.app import app

    out = CliRunner().invoke(app, ["plan", "--cloud", "gcp"]).stdout
    total_at = out.index("total")
    assert "not in the total" in out[total_at:] and "Cloud Logging: subnet flow logs" in out[total_at:]
    assert "$0.5/GB" in out[total_at:]
