"""Progress of up / destroy / refresh, built from the engine's events.

Events arrive on the Automation API's own threads (a gRPC server, or a log-file watcher for older
CLIs); the tracker only records them under a lock. A rich live view on stderr redraws from a
snapshot: resources done of total, operations in flight, elapsed time, failures as they happen.
When stderr is not a terminal, each completion and failure is one plain line instead.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.live import Live


# Past-tense verbs for the summary and the plain-line log.
DONE_VERB = {
    "create": "created",
    "update": "updated",
    "replace": "replaced",
    "create-replacement": "created replacement",
    "delete-replaced": "deleted replaced",
    "delete": "deleted",
    "same": "unchanged",
    "refresh": "refreshed",
    "read": "read",
    "import": "imported",
}
SUMMARY_KEYS = (("create", "created"), ("update", "updated"), ("replace", "replaced"), ("delete", "deleted"), ("same", "unchanged"))


def split_urn(urn: str) -> tuple[str, str]:
    """(type, name) from `urn:pulumi:stack::project::parentType$type::name`."""
    parts = urn.split("::")
    if len(parts) < 4:
        return "", urn
    return parts[2].split("$")[-1], "::".join(parts[3:])


@dataclass
class Failure:
    urn: str
    message: str


@dataclass
class PolicyViolation:
    policy: str
    pack: str
    level: str
    urn: Optional[str]
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.policy, "pack": self.pack, "enforcementLevel": self.level, "urn": self.urn, "message": self.message}


@dataclass
class Snapshot:
    done: int
    total: Optional[int]
    in_flight: list[tuple[str, str, float]]  # (op, urn, started)
    failures: list[Failure]
    elapsed: float


@dataclass
class ProgressTracker:
    """Consumes EngineEvents (thread-safe) and answers what happened."""

    total: Optional[int] = None
    started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _in_flight: dict[str, tuple[str, float]] = field(default_factory=dict)
    done: list[tuple[str, str]] = field(default_factory=list)  # (op, urn)
    failures: list[Failure] = field(default_factory=list)
    policies: list[PolicyViolation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    changes: dict[str, int] = field(default_factory=dict)
    duration: Optional[float] = None
    listeners: list[Any] = field(default_factory=list)

    def __call__(self, event: Any) -> None:
        with self._lock:
            self._record(event)

    def _record(self, event: Any) -> None:
        if event.resource_pre_event is not None:
            meta = event.resource_pre_event.metadata
            if meta.type != "pulumi:pulumi:Stack":
                self._in_flight[meta.urn] = (meta.op.value, time.monotonic())
        elif event.res_outputs_event is not None:
            meta = event.res_outputs_event.metadata
            if meta.type != "pulumi:pulumi:Stack":
                self._in_flight.pop(meta.urn, None)
                self.done.append((meta.op.value, meta.urn))
                self._notify("done", meta.op.value, meta.urn, "")
        elif event.res_op_failed_event is not None:
            meta = event.res_op_failed_event.metadata
            self._in_flight.pop(meta.urn, None)
            message = next((f.message for f in reversed(self.failures) if f.urn == meta.urn and f.message), "")
            if not any(f.urn == meta.urn for f in self.failures):
                self.failures.append(Failure(meta.urn, message))
            self._notify("failed", meta.op.value, meta.urn, message)
        elif event.diagnostic_event is not None:
            diag = event.diagnostic_event
            if diag.severity == "error":
                text = " ".join(diag.message.split())
                if diag.urn:
                    existing = next((f for f in self.failures if f.urn == diag.urn), None)
                    if existing is None:
                        self.failures.append(Failure(diag.urn, text))
                    elif not existing.message:
                        existing.message = text
                else:
                    self.errors.append(text)
        elif event.policy_event is not None:
            policy = event.policy_event
            self.policies.append(
                PolicyViolation(policy.policy_name, policy.policy_pack_name, policy.enforcement_level,
                                policy.resource_urn, " ".join(policy.message.split()))
            )
        elif event.summary_event is not None:
            summary = event.summary_event
            self.changes = {str(k): int(v) for k, v in (summary.resource_changes or {}).items()}
            self.duration = float(summary.duration_seconds)

    def _notify(self, what: str, op: str, urn: str, message: str) -> None:
        for listener in self.listeners:
            listener(what, op, urn, message)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                done=len(self.done),
                total=self.total,
                in_flight=[(op, urn, t) for urn, (op, t) in self._in_flight.items()],
                failures=list(self.failures),
                elapsed=time.monotonic() - self.started,
            )

    def summary(self) -> dict[str, Any]:
        counts = {label: self.changes.get(op, 0) for op, label in SUMMARY_KEYS}
        if not self.changes:  # no summary event (e.g. a failed run): count what we saw
            for op, _urn in self.done:
                label = dict(SUMMARY_KEYS).get(op)
                if label:
                    counts[label] += 1
        return {
            **counts,
            "failed": len(self.failures),
            "durationSeconds": round(self.duration if self.duration is not None else time.monotonic() - self.started, 1),
        }


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def render(snapshot: Snapshot, title: str) -> RenderableType:
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    total = f"/{snapshot.total}" if snapshot.total else ""
    header = Text.assemble(
        (f"{title}: ", "bold"),
        f"{snapshot.done}{total} done, {len(snapshot.in_flight)} in flight, ",
        (f"{len(snapshot.failures)} failed", "red bold" if snapshot.failures else ""),
        f", {_clock(snapshot.elapsed)} elapsed",
    )
    table = Table(show_header=False, box=None, padding=(0, 1))
    now = time.monotonic()
    for op, urn, started in sorted(snapshot.in_flight, key=lambda item: item[2])[:12]:
        kind, name = split_urn(urn)
        table.add_row(f"[cyan]{op}[/cyan]", escape(kind), escape(name), _clock(now - started))
    for failure in snapshot.failures[-5:]:
        kind, name = split_urn(failure.urn)
        table.add_row("[red]failed[/red]", escape(kind), escape(name), escape(failure.message[:120]))
    return Group(header, table)


class LiveProgress:
    """Shows a tracker on stderr while an operation runs."""

    def __init__(self, tracker: ProgressTracker, title: str):
        from .. import display

        self.tracker = tracker
        self.title = title
        self.console = display.err()
        self.live: Optional[Live] = None
        if not self.console.is_terminal:
            tracker.listeners.append(self._line)

    def _line(self, what: str, op: str, urn: str, message: str) -> None:
        from rich.markup import escape

        kind, name = split_urn(urn)
        if what == "failed":
            self.console.print(f"[red]failed[/red] {escape(f'{op} {kind} {name}: {message}')}")
        else:
            self.console.print(escape(f"{DONE_VERB.get(op, op)} {kind} {name}"))

    def __enter__(self) -> "LiveProgress":
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(console=self.console, refresh_per_second=4, transient=False,
                             get_renderable=lambda: render(self.tracker.snapshot(), self.title))
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
