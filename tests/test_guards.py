"""`plan` shows each safeguard a reviewer asks about, read from the policy pack's verdict on the same
plan (planner/guards.py): every prod stack has them all on, dev says what it waives, and a finding
turns its safeguard off in the report, in the human output and in --json."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.planner.guards import GUARDS, guard_states
from mlops_platform.policies.offline import Violation, evaluate

PROD = ["aws-prod", "azure-prod", "gcp-prod"]


def _states(stack, planned, viewed, stack_config):
    config = stack_config(stack)
    rules, violations = evaluate(planned(stack), config, viewed(stack))
    return config, rules, violations, {g.name: g for g in guard_states(config, rules, violations)}


@pytest.mark.parametrize("stack", PROD)
def test_every_prod_stack_has_every_safeguard(stack, planned, viewed, stack_config):
    *_, states = _states(stack, planned, viewed, stack_config)
    assert set(states) == {g.name for g in GUARDS}
    assert {name: g.state for name, g in states.items() if g.state not in ("on", "built in")} == {}
    # Built in only where the cloud does it itself: GKE's audit log and its IAM-only admin.
    built_in = {name for name, g in states.items() if g.state == "built in"}
    assert built_in == ({"cluster audit logs", "no permanent creator admin"} if stack == "gcp-prod" else set())


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-dev"])
def test_dev_says_it_waives_the_keys_instead_of_claiming_them(stack, planned, viewed, stack_config):
    *_, states = _states(stack, planned, viewed, stack_config)
    keys = states["customer-managed keys"]
    assert keys.state == "not required" and ("data-cmk" in keys.detail or "data-cmek" in keys.detail), keys
    assert states["flow logs"].state == "on"


def test_local_lists_only_what_concerns_an_in_cluster_platform(planned, viewed, stack_config):
    *_, states = _states("local-dev", planned, viewed, stack_config)
    assert set(states) == {"metadata address closed (GKE: workload identity only)", "webhooks fail closed"}
    assert {g.state for g in states.values()} == {"on"}


@pytest.mark.parametrize("finding, guard", [
    ("aws-vpc-flow-logs", "flow logs"),
    ("aws-data-cmk", "customer-managed keys"),
    ("k8s-database-server-verified", "database server verified"),
])
def test_a_finding_turns_its_safeguard_off_and_says_why(finding, guard, planned, viewed, stack_config):
    config, rules, violations, _ = _states("aws-prod", planned, viewed, stack_config)
    found = [*violations, Violation(finding, "urn:x", "mandatory", "planted")]
    states = {g.name: g for g in guard_states(config, rules, found)}
    assert (states[guard].state, states[guard].detail) == ("off", f"{finding}: planted")
    assert [g.name for g in states.values() if g.state == "off"] == [guard]


def test_a_rule_that_did_not_run_is_not_claimed(planned, viewed, stack_config):
    config, rules, violations, _ = _states("azure-prod", planned, viewed, stack_config)
    states = {g.name: g for g in guard_states(config, [r for r in rules if r != "azure-vnet-flow-logs"], violations)}
    assert states["flow logs"].state == "not required"


def test_plan_prints_the_safeguards_and_puts_them_in_json(project):
    human = CliRunner().invoke(app, ["plan", "--cloud", "aws"])
    assert human.exit_code == 0, human.stderr
    assert "safeguards" in human.stdout and "database server verified" in human.stdout
    document = json.loads(CliRunner().invoke(app, ["plan", "--cloud", "aws", "--json"]).stdout)
    guards = {g["name"]: g["state"] for g in document["policies"]["guards"]}
    assert guards["flow logs"] == "on" and guards["customer-managed keys"] == "not required"
