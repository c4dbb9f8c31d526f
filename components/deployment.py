"""What a deployment runs, recorded with it: the platform release; per Helm release the chart,
version and a digest of the values it was given; the Kubernetes minor; the MLflow schema revision
the release brings the database to. The stack exports it as `deployment` (the platform builds it from its releases), `plan --json`
carries the same record (planner/upgrade.py), and `platform upgrade` and the skew check of `up` read
it back.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from typing import Any, Iterable, Mapping, Optional, Sequence

import pulumi

from . import names, versions

SECRET_MASK = names.SECRET_MASK


def values_digest(values: Optional[Mapping[str, Any]]) -> str:
    """A short digest of a release's values: whether two deployments passed the same, without
    carrying the values (which hold secrets) in the record."""
    return hashlib.sha256(json.dumps(_canonical(values or {}), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _canonical(value: Any) -> Any:
    """Numbers as the engine hands them back: a value read from state went through protobuf's
    Struct, where every number is a double (30080 comes back 30080.0)."""
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def record(kubernetes: str, mlflow: bool, releases: Iterable[tuple[str, str, str, Optional[Mapping[str, Any]]]]) -> dict[str, Any]:
    """The record from (release name, chart, version, values) of each release."""
    from importlib import metadata

    return {
        # The release that deployed it: what `upgrade --rehearse` stands up first.
        "platform": metadata.version("mlops-platform"),
        "kubernetes": kubernetes,
        "mlflowSchema": versions.MLFLOW_SCHEMA_REVISION if mlflow else None,
        "releases": {name: {"chart": chart, "version": version, "valuesDigest": values_digest(values)}
                     for name, chart, version, values in sorted(releases, key=lambda r: r[0])},
    }


# Each release's values as given, secrets masked: what its digest is taken of (the plan masks the same).
_VALUES: "weakref.WeakKeyDictionary[Any, pulumi.Output[Any]]" = weakref.WeakKeyDictionary()


def note_values(release: Any, values: Optional[Mapping[str, Any]]) -> None:
    """Remember what `release` was given (components/k8s.py helm_release)."""
    _VALUES[release] = masked(values or {})


def masked(value: Any) -> pulumi.Output[Any]:
    """`value` resolved, with each secret in it replaced by SECRET_MASK, and not itself secret: the
    digest of a password must not make the whole record secret, nor depend on the password."""
    if isinstance(value, pulumi.Output):
        secret: pulumi.Output[bool] = pulumi.Output.from_input(value.is_secret())  # an awaitable is an Input
        return pulumi.Output.unsecret(pulumi.Output.all(value, secret).apply(lambda parts: SECRET_MASK if parts[1] else parts[0]))
    if isinstance(value, Mapping):
        keys = list(value)
        return pulumi.Output.all(*[masked(value[k]) for k in keys]).apply(lambda parts: dict(zip(keys, parts, strict=True)))
    if isinstance(value, (list, tuple)):
        return pulumi.Output.all(*[masked(v) for v in value]).apply(list)
    return pulumi.Output.from_input(value)


def deployment_output(kubernetes: str, mlflow: bool, releases: Sequence[Any]) -> pulumi.Output[dict[str, Any]]:
    """The record of the Helm releases the program registered, once their inputs are known."""
    parts = [pulumi.Output.all(r.name, r.chart, r.version, _VALUES.get(r, {})) for r in releases]
    # Not secret: each value was unsecreted (and its secrets masked) by masked().
    return pulumi.Output.all(*parts).apply(lambda resolved: record(kubernetes, mlflow, [tuple(p) for p in resolved]))
