"""The policy pack the engine runs (`--policy-pack policies/`): every rule as a pulumi_policy policy."""

from __future__ import annotations

from typing import Any

from .registry import RULES
from .rules.base import Rule

PACK_NAME = "mlops-platform"


def _policy(rule: Rule) -> Any:
    """A pulumi_policy policy running `rule`: a stack policy when it sees the whole stack."""
    from pulumi_policy import PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy

    def validate(args: Any, report_violation: Any) -> None:
        if not rule.is_stack_rule and not rule.applies_to(args.resource_type):
            return
        for message, urn in rule.violations(args, args.get_config()):
            report_violation(message, urn)

    kind = StackValidationPolicy if rule.is_stack_rule else ResourceValidationPolicy
    return kind(
        name=rule.name,
        description=rule.description,
        validate=validate,
        remediation_steps=rule.remediation,
        config_schema=PolicyConfigSchema(properties={k: dict(v) for k, v in rule.config_schema.items()}) if rule.config_schema else None,
        tags=[rule.area],
    )


def policies() -> list[Any]:
    return [_policy(rule) for rule in RULES]


def build_pack() -> None:
    """Serve the pack to the engine (blocks: pulumi_policy's PolicyPack starts its gRPC server)."""
    from pulumi_policy import EnforcementLevel, PolicyPack

    PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.ADVISORY, policies=policies())
