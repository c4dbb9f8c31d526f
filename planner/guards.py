"""The safeguards `plan` reports for a stack, as a reviewer asks about them: audit trails, customer-
managed keys, no permanent creator admin, the metadata address, HTTPS egress, webhooks, the
database's TLS.

Each safeguard is read from the policy pack's verdict on this very plan, never restated: it is "on"
when every rule that proves it ran and found nothing, "off" (with the findings) when one did,
"not required" when this stack's settings waive it (dev's keys) or leave the rule off, and "built in"
where the cloud provides it whatever the stack says. A cloud the safeguard does not concern (local's
in-cluster database) is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from mlops_platform.policies.registry import BY_NAME, level_of, pack_config, rule_config

ALL = "*"  # every target, local included
CLOUDS = ("aws", "azure", "gcp")


@dataclass(frozen=True)
class Guard:
    name: str
    rules: Mapping[str, tuple[str, ...]]  # by target (or ALL): the rules that prove it
    built_in: Mapping[str, str] = field(default_factory=dict)  # by target: what the cloud does itself

    def rules_for(self, target: str) -> tuple[str, ...] | None:
        return self.rules.get(target, self.rules.get(ALL))


def _clouds(rule: str) -> dict[str, tuple[str, ...]]:
    return {cloud: (rule,) for cloud in CLOUDS}


GUARDS = (
    Guard("flow logs", {"aws": ("aws-vpc-flow-logs",), "azure": ("azure-vnet-flow-logs",), "gcp": ("gcp-subnet-flow-logs",)}),
    Guard("cluster audit logs", {"aws": ("aws-eks-control-plane-logging",), "azure": ("azure-aks-audit-logs",)},
          {"gcp": "GKE's Admin Activity audit log, always on in Cloud Logging"}),
    Guard("database logs", {"aws": ("aws-rds-audit-logs",), "azure": ("azure-postgres-connection-logging",),
                            "gcp": ("gcp-cloudsql-connection-logging",)}),
    Guard("bucket access logs", {"aws": ("aws-s3-access-logs",), "azure": ("azure-storage-access-logs",),
                                 "gcp": ("gcp-gcs-access-logs",)}),
    Guard("customer-managed keys", {"aws": ("aws-eks-secrets-encryption", "aws-kms-key-rotation", "aws-data-cmk"),
                                    "azure": ("azure-aks-kms-etcd", "azure-data-cmk"),
                                    "gcp": ("gcp-gke-secrets-cmek", "gcp-data-cmek")}),
    Guard("no permanent creator admin", {"aws": ("aws-eks-no-creator-admin",), "azure": ("azure-aks-local-accounts-disabled",)},
          {"gcp": "GKE gives its creator no cluster role; access is IAM's"}),
    Guard("metadata address closed (GKE: workload identity only)", {ALL: ("k8s-metadata-address-closed",)}),
    Guard("HTTPS egress allow-listed (models, detectors; MLflow where it can be)", _clouds("egress-https-allow-listed")),
    Guard("webhooks fail closed", {ALL: ("k8s-webhooks-fail-closed",)}),
    Guard("database server verified", _clouds("k8s-database-server-verified")),
)


@dataclass(frozen=True)
class GuardState:
    name: str
    state: str  # on | off | not required | built in
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "state": self.state, "detail": self.detail}


def _waived(rule: str, settings: dict[str, Any]) -> bool:
    """Whether this stack's settings switch the rule off or waive what it requires (requireX: false)."""
    if level_of(BY_NAME[rule], settings) == "disabled":
        return True
    return any(key.startswith("require") and value is False for key, value in rule_config(BY_NAME[rule], settings).items())


def guard_states(config: Any, evaluated: Sequence[str], violations: Sequence[Any]) -> list[GuardState]:
    """Each safeguard's state for this stack, from the rules `evaluated` and their `violations`."""
    settings = pack_config(config)
    out: list[GuardState] = []
    for guard in GUARDS:
        if config.cloud in guard.built_in:
            out.append(GuardState(guard.name, "built in", guard.built_in[config.cloud]))
            continue
        rules = guard.rules_for(config.cloud)
        if rules is None:
            continue
        found = [v for v in violations if v.rule in rules]
        if found:
            out.append(GuardState(guard.name, "off", "; ".join(f"{v.rule}: {v.message}" for v in found)))
        elif any(r not in evaluated or _waived(r, settings) for r in rules):
            waived = [r for r in rules if r not in evaluated or _waived(r, settings)]
            out.append(GuardState(guard.name, "not required", f"{', '.join(waived)} waived for {config.stack_name}"))
        else:
            out.append(GuardState(guard.name, "on", ", ".join(rules)))
    return out
