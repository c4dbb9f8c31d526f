"""What a stack leaves in the cloud account once it is destroyed: the post-destroy sweep.

The Pulumi state covers what the program creates. What Kubernetes creates on the platform's behalf
(load balancers behind LoadBalancer Services, disks behind PersistentVolumeClaims, the security
groups, network interfaces and addresses cloud controllers attach to them) is outside it, so a
teardown that races its controllers can leave them billing. The sweep finds them by the tags the
platform (`mlops-platform/stack`, ...) and the cloud controllers (`kubernetes.io/cluster/<name>`,
...) put on them, prices them with components/prices.json, and with `--delete` removes exactly
those: a resource that carries none of the stack's tags is never touched.

Each cloud's module (aws.py, azure.py, gcp.py) talks to the cloud through its own SDK, installed
with the cloud's extra (`pip install 'mlops-platform[aws]'`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Optional

CLUSTER_PREFIX = "mlops-"  # every cloud names the cluster mlops-<env> (components/cluster/*.py)


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


def cluster_name(env: str) -> str:
    return f"{CLUSTER_PREFIX}{env}"


def price(cloud: str, key: str) -> Optional[float]:
    from mlops_platform.planner.costs import price_table

    item = price_table()["clouds"][cloud]["items"].get(key)
    return None if item is None else float(item["price"])


def hours() -> float:
    from mlops_platform.planner.costs import price_table

    return float(price_table()["hours_per_month"])


def monthly_hourly(cloud: str, key: str, quantity: float = 1) -> Optional[float]:
    unit = price(cloud, key)
    return None if unit is None else round(unit * quantity * hours(), 2)


def monthly_per_gb(cloud: str, key: str, gigabytes: float) -> Optional[float]:
    unit = price(cloud, key)
    return None if unit is None else round(unit * gigabytes, 2)


def mark_kept(leftovers: Iterable[Leftover], state_ids: Iterable[str]) -> list[Leftover]:
    """Leftovers whose id matches a resource still in the stack's state (kept: protected data)."""
    from dataclasses import replace

    ids = [i.lower() for i in state_ids if i]  # ARM ids differ in case between APIs
    out = []
    for item in leftovers:
        own = item.id.lower()
        held = any(own == i or own.endswith((f":{i}", f"/{i}")) for i in ids)
        out.append(replace(item, kept=True, deletable=False) if held else item)
    return out
