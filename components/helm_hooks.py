"""Helm hooks, as the planner, `render` and the policy pack read them from a rendered manifest.

A hook is an object Helm creates around an operation instead of keeping it as a release object;
the `test` hooks are created only by `helm test`, never by an install or upgrade.
Ref: https://helm.sh/docs/topics/charts_hooks/#the-available-hooks
"""

from __future__ import annotations

from typing import Any, Collection, Mapping

from .nested import dig

HOOK_ANNOTATION = "helm.sh/hook"
# "test-success" is Helm 2's spelling, still honoured by Helm 3.
TEST_HOOKS = frozenset({"test", "test-success"})


def hooks_of(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """The hooks a manifest's annotation names, in its order (none: a release object)."""
    value = dig(manifest, "metadata", "annotations", HOOK_ANNOTATION, default="")
    return tuple(h.strip() for h in str(value).split(",") if h.strip())


def is_test_hook(hooks: Collection[str]) -> bool:
    return bool(TEST_HOOKS.intersection(hooks))
