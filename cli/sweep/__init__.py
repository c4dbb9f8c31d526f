"""What a stack leaves in the cloud account once it is destroyed: the post-destroy sweep.

The Pulumi state covers what the program creates. What Kubernetes creates on the platform's behalf
(load balancers behind LoadBalancer Services, disks behind PersistentVolumeClaims, the security
groups, network interfaces and addresses cloud controllers attach to them) is outside it, so a
teardown that races its controllers can leave them billing. The sweep finds them by the tags the
platform (`mlops-platform/stack`, ...) and the cloud controllers (`kubernetes.io/cluster/<name>`,
...) put on them, prices them with components/prices.py, and with `--delete` removes exactly
those: a resource that carries none of the stack's tags is never touched.

Each cloud's module (aws.py, azure.py, gcp.py) talks to the cloud through its own SDK, installed
with the cloud's extra (`pip install 'mlops-platform[aws]'`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import Any, Iterable, Optional

from mlops_platform.components import names


class SweepError(Exception):
    """The cloud could not be asked (credentials, permissions, network); `str()` is one line."""


@dataclass(frozen=True)
class Leftover:
    kind: str  # "EBS volume", "Network Load Balancer", "managed disk", ...
    id: str
    name: str
    location: str
    detail: str  # size, type, and the tag that ties it to the stack
    monthly: Optional[float]  # USD per month from prices.json; None when the table has no price
    deletable: bool = True  # a leftover of Kubernetes' making; False: listed, never deleted by the sweep
    kept: bool = False  # still in the stack's state (protected data): expected, not a leftover

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "name": self.name, "location": self.location, "detail": self.detail,
                "monthly": self.monthly, "deletable": self.deletable, "kept": self.kept}


@dataclass
class SweepResult:
    cloud: str
    scope: str  # "account 123456789012 (us-east-1)", "subscription ...", "project ..."
    leftovers: list[Leftover] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)  # ids
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)

    @property
    def remaining(self) -> list[Leftover]:
        return [item for item in self.leftovers if not item.kept and item.id not in self.deleted]

    @property
    def clean(self) -> bool:
        return not self.remaining

    def monthly(self) -> float:
        return round(sum(item.monthly or 0 for item in self.remaining), 2)

    def to_json(self) -> dict[str, Any]:
        return {"cloud": self.cloud, "scope": self.scope, "clean": self.clean, "monthly": self.monthly(),
                "complete": all(item.monthly is not None for item in self.remaining),
                "leftovers": [item.to_json() for item in self.leftovers],
                "deleted": self.deleted, "failed": [{"id": i, "reason": r} for i, r in self.failed]}


def mark_kept(leftovers: Iterable[Leftover], state_ids: Iterable[str]) -> list[Leftover]:
    """Leftovers whose id matches a resource still in the stack's state (kept: protected data)."""
    ids = [i.lower() for i in state_ids if i]  # ARM ids differ in case between APIs
    out = []
    for item in leftovers:
        own = item.id.lower()
        held = any(own == i or own.endswith((f":{i}", f"/{i}")) for i in ids)
        out.append(replace(item, kept=True, deletable=False) if held else item)
    return out


class Sweeper(ABC):
    """One cloud's sweep (aws.py, azure.py, gcp.py), built from the stack's config and, in tests,
    the SDK clients to use (`clients`); None: the cloud's default credentials."""

    # The kinds of Leftover it may delete, dependents first: the shared loop (delete) deletes
    # them in this order and never deletes a kind not listed.
    DELETE_ORDER: tuple[str, ...]

    @abstractmethod
    def __init__(self, config: Any, clients: Any = None) -> None: ...

    @abstractmethod
    def scope(self) -> str:
        """Where it looks: "account 123456789012 (us-east-1)", "subscription ...", "project ..."."""

    @abstractmethod
    def scan(self) -> list[Leftover]: ...

    @abstractmethod
    def delete_one(self, item: Leftover) -> None:
        """Delete one leftover and wait until it is gone; raise the SDK's error if it cannot go."""

    def settle(self, kind: str, deleted: list[Leftover]) -> None:
        """After a kind's deletes: wait until what the next kinds depend on is released. By default
        nothing: delete_one waits for each delete's own operation."""
        return None

    def reason(self, err: Exception) -> str:
        """One line for a failed delete."""
        return first_line(err, limit=10_000)

    @staticmethod
    @abstractmethod
    def cloud_errors() -> AbstractContextManager[None]:
        """Turns the SDK's credential, permission and network errors into SweepError."""


def sweeper_class(cloud: str) -> type[Sweeper]:
    """The cloud's sweeper; its SDK is imported only when it is built (the cloud's extra)."""
    if cloud not in names.MANAGED_CLOUDS:
        raise ValueError(f"no sweep for cloud {cloud!r}: a {cloud} stack leaves nothing in a cloud account")
    sweeper: type[Sweeper] = import_module(f"{__name__}.{cloud}").SWEEPER
    return sweeper


def sweep(config: Any, delete: bool = False, state_ids: Iterable[str] = (), clients: Any = None) -> SweepResult:
    """Scan the stack's cloud for its leftovers; with `delete`, remove those the sweep may, in the
    cloud's DELETE_ORDER. SweepError (one line) when the cloud cannot be asked."""
    cls = sweeper_class(config.cloud)
    with cls.cloud_errors():
        sweeper = cls(config, clients)
        result = SweepResult(config.cloud, sweeper.scope())
        result.leftovers = mark_kept(sweeper.scan(), state_ids)
        if delete:
            _delete(sweeper, result)
    return result


def _delete(sweeper: Sweeper, result: SweepResult) -> None:
    targets = [item for item in result.leftovers if item.deletable and not item.kept]
    unordered = {item.kind for item in targets} - set(sweeper.DELETE_ORDER)
    if unordered:  # a scan that marks a kind deletable must say when it goes
        raise AssertionError(f"{type(sweeper).__name__}.DELETE_ORDER lacks {sorted(unordered)}")
    for kind in sweeper.DELETE_ORDER:
        deleted = []
        for item in (t for t in targets if t.kind == kind):
            try:
                sweeper.delete_one(item)
            except Exception as err:  # noqa: BLE001 - each failure is reported by the resource it concerns
                result.failed.append((item.id, sweeper.reason(err)))
            else:
                result.deleted.append(item.id)
                deleted.append(item)
        if deleted:
            sweeper.settle(kind, deleted)


def first_line(err: Exception, limit: int = 200) -> str:
    text = str(err)
    return text.splitlines()[0][:limit] if text.strip() else type(err).__name__
