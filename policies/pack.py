"""The policy pack: the rules in policies/rules/, registered with pulumi_policy."""

from __future__ import annotations


def build_pack():  # -> pulumi_policy.PolicyPack
    from pulumi_policy import EnforcementLevel, PolicyPack

    return PolicyPack(name="mlops-platform", enforcement_level=EnforcementLevel.ADVISORY, policies=[])
