"""Edits of a stack's exported state (`pulumi stack export` format, version 3).

Ref: https://www.pulumi.com/docs/iac/cli/commands/pulumi_state_delete/ (what `release` amounts to)
Ref: https://www.pulumi.com/docs/iac/concepts/state-and-backends/ (the deployment's resources)"""

from __future__ import annotations

from typing import Any, Collection, Mapping


class ReleaseRefused(ValueError):
    """The resources cannot leave the state alone (another resource is their child, or an
    operation on them is still pending)."""


def without(deployment: Mapping[str, Any], urns: Collection[str]) -> dict[str, Any]:
    """The deployment with the resources `urns` taken out and every reference to them dropped from
    the others' dependencies (the others are destroyed next; the order between them and what leaves
    no longer matters). The cloud resources themselves are untouched: nothing deletes them."""
    gone = set(urns)
    kept: list[dict[str, Any]] = []
    for resource in deployment.get("resources") or []:
        if resource.get("urn") in gone:
            continue
        if resource.get("parent") in gone:
            raise ReleaseRefused(f"{resource.get('urn')} is a child of a resource being released; release it too")
        resource = dict(resource)
        if resource.get("dependencies"):
            resource["dependencies"] = [u for u in resource["dependencies"] if u not in gone]
        if resource.get("propertyDependencies"):
            resource["propertyDependencies"] = {
                key: [u for u in value if u not in gone] for key, value in resource["propertyDependencies"].items()}
        if resource.get("deletedWith") in gone:
            resource.pop("deletedWith")
        kept.append(resource)
    pending = [op for op in deployment.get("pending_operations") or [] if (op.get("resource") or {}).get("urn") in gone]
    if pending:
        raise ReleaseRefused(f"an operation on {pending[0]['resource']['urn']} is still pending: run platform refresh first")
    return {**deployment, "resources": kept}
