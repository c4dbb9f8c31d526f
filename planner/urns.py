"""What a Pulumi URN says about where a resource sits in the platform.

    urn:pulumi:<stack>::<project>::<parent type>$...$<own type>::<name>

`platform preview` (cli/engine/diff.py) and `platform plan --compare` (planner/compare.py) both
group resources by component_of, so the same resource is under the same heading in both.
"""

from __future__ import annotations

# Resources outside every platform component: providers, and the stack itself.
OUTSIDE = "stack"


def type_chain(urn: str) -> list[str]:
    """The type tokens from the outermost parent to the resource's own type."""
    parts = urn.split("::")
    return parts[2].split("$") if len(parts) > 3 else []


def component_of(urn: str) -> str:
    """The platform component a resource belongs to: the innermost `mlops:` component in its URN
    (a component is its own), by its short name (Traefik, EksCluster; MlopsPlatform for what sits
    directly under the root); OUTSIDE for what sits under none."""
    components = [t.rsplit(":", 1)[-1] for t in type_chain(urn) if t.startswith("mlops:")]
    return components[-1] if components else OUTSIDE
