"""What would break or hurt a live upgrade, object by object: each check compares what a release
renders at the deployed version (`old`) with what it renders at the pinned one (`new`).

Each finding has a code, a one-line detail, whether it breaks the upgrade (Helm's upgrade fails,
or data is lost) and how to proceed. The checks are plain functions of manifests, so each is
tested against a violating and a compliant pair (tests/test_upgrade_checks.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Sequence

from .cluster_model import type_token
from .compare import flatten
from .kube_apis import not_served_on, removed_between
from .replacements import kubernetes_immutable

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
# Defaults our checks depend on (Pod Security restricted, the footprint): a change under a key we
# do not set changes what is deployed without any change of ours.
WATCHED_DEFAULTS = ("securityContext", "podSecurityContext", "containerSecurityContext", "resources")


@dataclass(frozen=True)
class Finding:
    code: str
    release: str
    subject: str  # the object (Kind namespace/name), the value path or the release
    detail: str
    breaking: bool
    how: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "release": self.release, "subject": self.subject, "detail": self.detail,
                "breaking": self.breaking, "how": self.how}


def object_id(manifest: Mapping[str, Any]) -> str:
    meta = manifest.get("metadata") or {}
    where = f"{meta.get('namespace')}/" if meta.get("namespace") else ""
    return f"{manifest.get('kind')} {where}{meta.get('name')}"


_ABSENT = object()  # a path one side does not have (None is a value)


def changed_paths(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    before, after = dict(flatten(old)), dict(flatten(new))
    return sorted(p for p in set(before) | set(after) if before.get(p, _ABSENT) != after.get(p, _ABSENT))


def immutable_changes(release: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Finding]:
    """Fields the API server refuses to change (selectors, a StatefulSet's claim templates and
    service name, a Service's clusterIP, a Job's template, a claim's class): Helm's upgrade fails."""
    token = type_token(str(new.get("apiVersion", "")), str(new.get("kind", "")))
    rules = sorted({rule for path in changed_paths(old, new) if (rule := kubernetes_immutable(token, path))})
    if not rules:
        return []
    top = sorted({rule.split("[", 1)[0] for rule in rules})
    return [Finding("IMMUTABLE_FIELD", release, object_id(new), f"changes {', '.join(top)[:200]}, which cannot change in place",
                    True, "delete the object before the upgrade (`kubectl delete --cascade=orphan` keeps its pods or "
                          "volumes), as the chart's upgrade notes describe, then upgrade; or replace the release")]


def _versions(crd: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(v.get("name")): v for v in (crd.get("spec") or {}).get("versions") or []}


def _fields(schema: Mapping[str, Any], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, sub in ((schema or {}).get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else str(name)
        out.add(path)
        out |= _fields(sub, path)
        items = (sub or {}).get("items")
        if isinstance(items, Mapping):
            out |= _fields(items, f"{path}[]")
    return out


def crd_changes(release: str, old: Mapping[str, Any], new: Optional[Mapping[str, Any]]) -> list[Finding]:
    """A CRD the upgrade removes, served versions it stops serving, its storage version, and schema
    fields that disappear (the API server prunes them from stored objects on the next write)."""
    name = object_id(old)
    if new is None:
        return [Finding("CRD_REMOVED", release, name, "the new release no longer has this CRD: deleting it deletes every "
                        "object of its kind", True, "keep the CRD (helm.sh/resource-policy: keep) or migrate its objects first")]
    before, after = _versions(old), _versions(new)
    out: list[Finding] = []
    served_before = {v for v, spec in before.items() if spec.get("served", True)}
    served_after = {v for v, spec in after.items() if spec.get("served", True)}
    gone = sorted(served_before - served_after)
    if gone:
        out.append(Finding("CRD_VERSION_REMOVED", release, name, f"stops serving {', '.join(gone)}, in which objects may be "
                           "stored", True, "migrate the stored objects to a served version first (re-apply them, or "
                           "kube-storage-version-migrator), then remove the version from status.storedVersions"))
    stored = ({v for v, spec in before.items() if spec.get("storage")}, {v for v, spec in after.items() if spec.get("storage")})
    if stored[0] and stored[1] and stored[0] != stored[1]:
        out.append(Finding("CRD_STORAGE_CHANGED", release, name, f"stores {', '.join(sorted(stored[1]))} instead of "
                           f"{', '.join(sorted(stored[0]))}", False, "objects are rewritten on their next update; "
                           "the old version must stay served until then"))
    for version in sorted(set(before) & set(after)):
        lost = sorted(_fields((before[version].get("schema") or {}).get("openAPIV3Schema") or {})
                      - _fields((after[version].get("schema") or {}).get("openAPIV3Schema") or {}))
        if lost:
            out.append(Finding("CRD_FIELD_REMOVED", release, name, f"{version} drops {len(lost)} schema field(s), e.g. "
                               f"{', '.join(lost[:3])}", False, "values in those fields are pruned on the next write"))
    return out


def api_findings(release: str, old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]], from_minor: str,
                 to_minor: str, served: Sequence[str]) -> list[Finding]:
    """New objects at API versions the target cluster does not serve; old objects at versions the
    Kubernetes upgrade removes (the release's stored manifest then blocks Helm's upgrade)."""
    out: list[Finding] = []
    known = set(served)
    for manifest in new:
        api, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
        gone = not_served_on(api, kind, to_minor)
        if gone or (f"{api}/{kind}" not in known):
            why = f"removed in {gone}" if gone else "served by no built-in API or CRD of the stack"
            out.append(Finding("API_NOT_SERVED", release, object_id(manifest), f"{api} {kind}: {why} (Kubernetes {to_minor})",
                               True, "use a chart version written for this Kubernetes minor"))
    if from_minor != to_minor:
        for manifest in old:
            api, kind = str(manifest.get("apiVersion", "")), str(manifest.get("kind", ""))
            gone = removed_between(api, kind, from_minor, to_minor)
            if gone:
                out.append(Finding("API_REMOVED_BY_UPGRADE", release, object_id(manifest),
                                   f"{api} {kind} is removed in {gone}, between {from_minor} and {to_minor}", True,
                                   "upgrade the release to a version without it before the cluster, or rewrite the "
                                   "stored release manifest (helm-mapkubeapis)"))
    return out


def _containers(manifest: Mapping[str, Any]) -> dict[str, str]:
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    pod = ((spec.get("template") or {}).get("spec")) or {}
    return {str(c.get("name")): str(c.get("image")) for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]}


def image_changes(release: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Finding]:
    if new.get("kind") not in WORKLOAD_KINDS:
        return []
    before, after = _containers(old), _containers(new)
    return [Finding("IMAGE_CHANGED", release, f"{object_id(new)} [{name}]", f"{before[name]} -> {after[name]}", False,
                    "the pods roll with the new image")
            for name in sorted(set(before) & set(after)) if before[name] != after[name]]


def _has(defaults: Any, path: Sequence[str]) -> bool:
    for key in path:
        if not isinstance(defaults, Mapping) or key not in defaults:
            return False
        defaults = defaults[key]
    return True


def _leaves(values: Mapping[str, Any], defaults: Any, path: tuple[str, ...] = ()) -> Iterable[tuple[str, ...]]:
    """The keys of `values` down to where the chart's defaults stop being a non-empty map (a free-form
    map the chart passes through): what the chart reads by name."""
    for key, value in values.items():
        here = (*path, str(key))
        sub = defaults.get(key) if isinstance(defaults, Mapping) else None
        if isinstance(value, Mapping) and value and isinstance(sub, Mapping) and sub:
            yield from _leaves(value, sub, here)
        else:
            yield here


def dead_values(release: str, values: Mapping[str, Any], old_defaults: Mapping[str, Any],
                new_defaults: Mapping[str, Any]) -> list[Finding]:
    """Values we pass that the old chart has and the new one no longer does: after the bump they are
    silently ignored."""
    dead = [path for path in _leaves(values, old_defaults) if _has(old_defaults, path) and not _has(new_defaults, path)]
    return [Finding("VALUE_DEAD", release, ".".join(path), "the new chart has no such value: it is ignored after the upgrade",
                    False, "move the setting to the key the new chart reads (its values.yaml and upgrade notes)")
            for path in dead]


def changed_defaults(release: str, values: Mapping[str, Any], old_defaults: Mapping[str, Any],
                     new_defaults: Mapping[str, Any]) -> list[Finding]:
    """Defaults under security contexts and resources that changed where we pass nothing."""
    ours = {path for path, _ in flatten(values)}
    before, after = dict(flatten(old_defaults)), dict(flatten(new_defaults))
    out = []
    for path in sorted(before):
        # A key the old chart did not have comes with something new (a runtime, a feature), not a change.
        if path not in before or before[path] == after.get(path, _ABSENT):
            continue
        parts = path.replace("[", ".[").split(".")
        if not any(part in WATCHED_DEFAULTS for part in parts):
            continue
        if any(p == path or path.startswith(p + ".") or p.startswith(path + ".") for p in ours):
            continue
        out.append(Finding("DEFAULT_CHANGED", release, path, f"{_short(before.get(path))} -> {_short(after.get(path))}",
                           False, "set it in our values if the old default is the one our checks assume"))
    return out


def _short(value: Any) -> str:
    if value is _ABSENT or value is None:
        return "(unset)"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
