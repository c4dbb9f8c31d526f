"""Every rule, and the per-stack configuration the engine and the offline plan give them."""

from __future__ import annotations

from typing import Any

from mlops_platform.components import names

from .rules import access, aws, azure, cost, egress, gcp, kubernetes, licence, pod_security, reliability, supply_chain
from .rules.base import REQUIRE_KEYS, Rule

RULES: tuple[Rule, ...] = (
    *kubernetes.RULES,
    *egress.RULES,
    *pod_security.RULES,
    *access.RULES,
    *aws.RULES,
    *azure.RULES,
    *gcp.RULES,
    *reliability.RULES,
    *cost.RULES,
    *licence.RULES,
    *supply_chain.RULES,
)
BY_NAME = {rule.name: rule for rule in RULES}
LICENCE_RULE = "licence-source-available-components"
# A pod its namespace refuses cannot run in any environment: never only advisory.
ALWAYS_MANDATORY = ("k8s-pod-security-admission",)


def pack_config(config: Any) -> dict[str, Any]:
    """The policy pack configuration for a stack (the JSON given to `--policy-pack-config`).

    Every rule takes the stack's enforcement (advisory in dev, mandatory in prod, or
    platform:policy.enforcement); the licence rule is off when the stack declares a licence.
    """
    level = config.enforcement
    limits = config.policy.limits
    settings: dict[str, Any] = {
        "all": level,
        "cost-node-count-within-limit": {"enforcementLevel": level, "maxNodes": limits.max_nodes},
        "cost-instance-type-allowed": {"enforcementLevel": level, "allowedInstanceTypes": list(limits.allowed_instance_types)},
        "cost-gpu-only-when-enabled": {
            "enforcementLevel": level,
            "gpuEnabled": config.cluster.gpu.enabled,
            "maxGpuNodes": limits.max_gpu_nodes,
        },
        "reliability-prod-data-protected": {"enforcementLevel": level, "requireProtection": config.is_prod},
        "reliability-prod-database-recoverable": {"enforcementLevel": level, "requireRecovery": config.is_prod},
        "azure-prod-data-locked": {"enforcementLevel": level, "requireLocks": config.is_prod},
        # Customer-managed keys (the rules taking rules/base.py REQUIRE_KEYS): required in prod.
        **{rule.name: {"enforcementLevel": level, "requireKeys": config.is_prod}
           for rule in RULES if REQUIRE_KEYS.keys() <= rule.config_schema.keys()},
        "k8s-metadata-address-closed": {"enforcementLevel": level, "metadataAllowed": config.cloud == "gcp"},
        # Required in prod; MLflow is held to it unless its issuer is on the internet at addresses the
        # stack cannot know (PlatformConfig.issuer_https_open), which only platform:egress.allow can name.
        "egress-https-allow-listed": {"enforcementLevel": level, "requireAllowList": config.is_prod, "namespaces": [
            ns for ns in egress.NAMESPACES if ns != names.NS_MLFLOW or not config.issuer_https_open]},
        # A prod rule (off elsewhere: dev may serve the public example).
        "supply-chain-prod-models-own-store": {"enforcementLevel": level if config.is_prod else "disabled",
                                               "ownStores": list(names.own_store_patterns(config.cloud, config.env))},
        LICENCE_RULE: "disabled" if config.policy.source_available_licence else level,
        # An air-gapped stack cannot pull from anywhere else: never only advisory (off without a mirror).
        "supply-chain-images-from-mirror": {"enforcementLevel": "mandatory" if config.mirror.images else "disabled",
                                            "mirror": config.mirror.images or ""},
        **{name: "mandatory" for name in ALWAYS_MANDATORY},
    }
    return settings


def level_of(rule: Rule, settings: dict[str, Any]) -> str:
    own = settings.get(rule.name)
    if isinstance(own, dict):
        return str(own.get("enforcementLevel", settings.get("all", "advisory")))
    if isinstance(own, str):
        return own
    return str(settings.get("all", "advisory"))


def rule_config(rule: Rule, settings: dict[str, Any]) -> dict[str, Any]:
    """A rule's configuration: its schema defaults overlaid with the stack's values."""
    values = {key: schema.get("default") for key, schema in rule.config_schema.items()}
    own = settings.get(rule.name)
    if isinstance(own, dict):
        values.update({k: v for k, v in own.items() if k != "enforcementLevel"})
    return values
