"""The preview's diff, from the engine's planning events, grouped by platform component.

Each resource appears once: `+ create`, `~ update`, `+- replace`, `- delete` (unchanged ones are
counted, not listed), with the changed property paths from the detailed diff and, for a
replacement, the properties that force it. Replacing a cluster, a database or a bucket is called
out: it loses data or takes the platform down.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Optional

from mlops_platform.planner.urns import component_of

from .progress import PolicyViolation, split_urn

SYMBOL = {"create": "+ create", "import": "= import", "update": "~ update", "replace": "+- replace", "delete": "- delete"}
COLOR = {"create": "green", "import": "cyan", "update": "yellow", "replace": "magenta", "delete": "red"}
# Engine ops folded into the four a reader cares about.
_FOLD = {
    "create": "create",
    "update": "update",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    # `import` (an existing resource taken into the state: what destroy --keep-data kept) stays itself;
    # an import that replaces what the state holds is a replacement, which the guard weighs.
    "import-replacement": "replace",
    "delete": "delete",
    "same": "same",
    "read": "same",
    "refresh": "same",
}
# What holds data or identity: replacing or deleting one loses it (or takes the platform down).
# `up` refuses such a step unless its URN is allowed (--allow-replace, platform:allowReplace).
CRITICAL_TYPES = {
    "command:local:Command": "the kind cluster",
    "aws:eks/cluster:Cluster": "the EKS cluster",
    "aws:rds/instance:Instance": "the database",
    "aws:s3/bucket:Bucket": "the artifact bucket",
    "azure-native:containerservice:ManagedCluster": "the AKS cluster",
    "azure-native:dbforpostgresql:Server": "the database",
    "azure-native:storage:StorageAccount": "the artifact storage account",
    "gcp:container/cluster:Cluster": "the GKE cluster",
    "gcp:sql/databaseInstance:DatabaseInstance": "the database",
    "gcp:storage/bucket:Bucket": "the artifact bucket",
    "aws:kms/key:Key": "an encryption key (what it encrypted becomes unreadable)",
    "gcp:kms/cryptoKey:CryptoKey": "an encryption key (what it encrypted becomes unreadable)",
    "gcp:kms/keyRing:KeyRing": "an encryption key's ring (its keys with it)",
    "kubernetes:core/v1:PersistentVolumeClaim": "a volume claim (its volume's data)",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition": "a CRD (every stored object of its kind)",
    "aws:cognito/userPool:UserPool": "the user directory (every person's account)",
    "aws:cognito/userPoolClient:UserPoolClient": "the issuer's client (every sign-in and token)",
    "azuread:index/application:Application": "the issuer's app registration (every sign-in and token)",
}


def critical_reason(resource_type: str, name: str) -> Optional[str]:
    # Locally the database is a Deployment: its replacement restarts Postgres on the same volume.
    if resource_type == "kubernetes:apps/v1:Deployment":
        return "the local database" if name.endswith("-postgres") else None
    return CRITICAL_TYPES.get(resource_type)


@dataclass
class Step:
    op: str
    urn: str
    type: str
    name: str
    component: str
    diffs: list[str] = field(default_factory=list)
    replace_reasons: list[str] = field(default_factory=list)

    @property
    def critical(self) -> Optional[str]:
        return critical_reason(self.type, self.name) if self.op in ("replace", "delete") else None

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "component": self.component,
            "diffs": self.diffs,
            "replaceReasons": self.replace_reasons,
            "critical": self.critical,
        }


@dataclass
class DiffCollector:
    """Consumes planning events (thread-safe) into one Step per resource."""

    steps: dict[str, Step] = field(default_factory=dict)
    unchanged: int = 0
    policies: list[PolicyViolation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, event: Any) -> None:
        with self._lock:
            if event.resource_pre_event is not None:
                self._step(event.resource_pre_event.metadata)
            elif event.policy_event is not None:
                p = event.policy_event
                self.policies.append(PolicyViolation(p.policy_name, p.policy_pack_name, p.enforcement_level,
                                                     p.resource_urn, " ".join(p.message.split())))
            elif event.diagnostic_event is not None and event.diagnostic_event.severity == "error":
                self.errors.append(" ".join(event.diagnostic_event.message.split()))
            elif event.summary_event is not None:
                self.changes = {str(k): int(v) for k, v in (event.summary_event.resource_changes or {}).items()}

    def _step(self, meta: Any) -> None:
        if meta.type == "pulumi:pulumi:Stack":
            return
        op = _FOLD.get(meta.op.value, meta.op.value)
        if op == "same":
            if meta.urn not in self.steps:
                self.unchanged += 1
            return
        resource_type, name = split_urn(meta.urn)
        step = self.steps.get(meta.urn)
        if step is None:
            step = self.steps[meta.urn] = Step(op, meta.urn, meta.type or resource_type, name, component_of(meta.urn))
        elif op == "replace":
            step.op = "replace"
        detailed = meta.detailed_diff or {}
        paths = sorted(detailed) if detailed else sorted(meta.diffs or [])
        for path in paths:
            if path not in step.diffs:
                step.diffs.append(path)
        reasons = [p for p, d in detailed.items() if d.diff_kind.value.endswith("-replace")] or list(meta.keys or [])
        if op == "replace":
            for reason in reasons:
                if reason not in step.replace_reasons:
                    step.replace_reasons.append(reason)

    def has_changes(self) -> bool:
        return bool(self.steps)

    def mandatory_violations(self) -> list[PolicyViolation]:
        return [p for p in self.policies if p.level == "mandatory"]

    def to_json(self, stack: str) -> dict[str, Any]:
        counts = {op: 0 for op in SYMBOL}
        for step in self.steps.values():
            counts[step.op] = counts.get(step.op, 0) + 1
        counts["same"] = self.unchanged
        return {
            "stack": stack,
            "changes": counts,
            "steps": [s.to_json() for s in self.ordered()],
            "policies": [p.to_json() for p in self.policies],
        }

    def ordered(self) -> list[Step]:
        return sorted(self.steps.values(), key=lambda s: (s.component, s.type, s.name))


def guarded(collector: DiffCollector, allowed: set[str]) -> list[Step]:
    """The replacements and deletions of data or identity that no one allowed by URN."""
    return [step for step in collector.ordered() if step.critical and step.urn not in allowed]


def print_diff(collector: DiffCollector, stack: str, console: Any = None) -> None:
    """The diff as text: on stdout for `preview` (it is the data), on stderr before `up` asks."""
    from rich.markup import escape

    from .. import display

    console = console or display.out()
    steps = collector.ordered()
    if not steps:
        console.print(escape(f"stack {stack}: no changes ({collector.unchanged} resources unchanged)"))
    current = None
    for step in steps:
        if step.component != current:
            current = step.component
            console.print(f"[bold]{escape(current)}[/bold]")
        color = COLOR[step.op]
        line = f"  [{color}]{SYMBOL[step.op]:<10}[/{color}] {escape(step.type)}  {escape(step.name)}"
        if step.diffs and step.op not in ("create", "import"):
            line += f"  [dim]{escape(', '.join(step.diffs[:8]))}{' …' if len(step.diffs) > 8 else ''}[/dim]"
        console.print(line)
        if step.replace_reasons:
            console.print(f"      replaced because of: {escape(', '.join(step.replace_reasons))}")
        if step.critical:
            console.print(f"      [bold red]!! this {step.op}s {escape(step.critical)}[/bold red]")
    if collector.policies:
        console.print("[bold]policies[/bold]")
        for policy in collector.policies:
            level_color = "red" if policy.level == "mandatory" else "yellow"
            where = f" ({escape(split_urn(policy.urn)[1])})" if policy.urn else ""
            console.print(f"  [{level_color}]{policy.level}[/{level_color}] {escape(policy.policy)}{where}: {escape(policy.message)}")
    counts = collector.to_json(stack)["changes"]
    console.print(
        f"{counts['create']} to create, " + (f"{counts['import']} to import, " if counts["import"] else "") +
        f"{counts['update']} to update, {counts['replace']} to replace, "
        f"{counts['delete']} to delete, {counts['same']} unchanged"
    )
