"""Run the policy rules offline, over a mock run, with arguments shaped as the engine hands them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from .registry import RULES, level_of, pack_config, rule_config


@dataclass(frozen=True)
class Violation:
    rule: str
    urn: str
    level: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "urn": self.urn, "enforcementLevel": self.level, "message": self.message}


def _options(protect: bool, ignore_changes: list[str], delete_before_replace: bool, parent: Optional[str],
             deleted_with: Optional[str]) -> Any:  # PolicyResourceOptions
    """pulumi_policy.PolicyResourceOptions, plus deletedWith, which the program declares but the
    engine's analyzer API does not pass on (the rule that needs it runs fully only here)."""
    from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions

    options = PolicyResourceOptions(
        protect=protect,
        ignore_changes=ignore_changes,
        delete_before_replace=delete_before_replace,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=parent,
    )
    setattr(options, "deleted_with", deleted_with)  # noqa: B010 - not a field of the class
    return options


def _record_options(record: Any) -> Any:
    return _options(record.protect, list(record.ignore_changes), record.delete_before_replace,
                    record.parent or None, record.deleted_with or None)


def _object_options(owner: str) -> Any:
    """Options of an object a Helm release or a controller creates: none of its own."""
    return _options(False, [], False, owner, None)


def policy_resources(run: Any, view: Any = None) -> dict[str, Any]:
    """pulumi_policy.PolicyResource for every custom resource of the run, by URN, and for every
    object the cluster view adds: what each Helm release applies and what controllers create."""
    from pulumi_policy import PolicyResource

    out: dict[str, Any] = {}
    records = [r for r in run.resources if r.custom and not r.is_provider]
    for record in records:
        out[record.urn] = PolicyResource(
            resource_type=record.type,
            props=record.inputs,
            urn=record.urn,
            name=record.name,
            opts=_record_options(record),
            provider=None,
            parent=None,
            dependencies=[],
            property_dependencies={},
        )
    for record in records:
        resource = out[record.urn]
        resource.dependencies = [out[u] for u in record.dependencies if u in out]
        resource.property_dependencies = {
            key: [out[u] for u in urns if u in out] for key, urns in record.property_dependencies.items()
        }
    if view is not None:
        for obj in [*(o for r in view.releases for o in r.objects), *view.runtime]:
            out[obj.urn] = PolicyResource(
                resource_type=obj.type_token,
                props=obj.manifest,
                urn=obj.urn,
                name=obj.urn.rsplit("::", 1)[-1],
                opts=_object_options(obj.owner),
                provider=None,
                parent=None,
                dependencies=[],
                property_dependencies={},
            )
    return out


def evaluate(run: Any, config: Any, view: Any = None) -> tuple[list[str], list[Violation]]:
    """(rules evaluated, violations) for a mock run of a stack, and for what its Helm releases
    render and its controllers create when a cluster view is given. Pods modelled from custom
    resources are seen by stack rules (Pod Security admission), not by the per-resource rules,
    which already check the pod spec inside the custom resource."""
    from pulumi_policy import ResourceValidationArgs, StackValidationArgs

    settings = pack_config(config)
    resources = policy_resources(run, view)
    modelled = {o.urn for o in view.runtime} if view is not None else set()
    evaluated: list[str] = []
    violations: list[Violation] = []
    for rule in RULES:
        level = level_of(rule, settings)
        if level == "disabled":
            continue
        evaluated.append(rule.name)
        rule_settings = rule_config(rule, settings)
        if rule.is_stack_rule:
            args = StackValidationArgs(resources=list(resources.values()), config=rule_settings)
            for message, urn in rule.violations(args, args.get_config()):
                violations.append(Violation(rule.name, urn or "", level, message))
            continue
        for resource in resources.values():
            if resource.urn in modelled or not rule.applies_to(resource.resource_type):
                continue
            resource_args = ResourceValidationArgs(
                resource_type=resource.resource_type,
                props=resource.props,
                urn=resource.urn,
                name=resource.name,
                opts=resource.opts,
                provider=None,
                config=rule_settings,
            )
            for message, urn in rule.violations(resource_args, resource_args.get_config()):
                violations.append(Violation(rule.name, urn or resource.urn, level, message))
    return evaluated, violations
