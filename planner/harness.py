"""Run the real Pulumi program under the SDK's mocks and record every resource it registers.

This is the harness behind `platform plan` / `platform render` and the tests: no engine, no
credentials, no network. Each registration is captured from the `RegisterResource` request the
mock monitor receives — type, name, parent, provider, inputs (secrets masked, their paths kept),
dependencies (explicit, through inputs, and the provider reference), and resource options.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from mlops_platform.components import names
from mlops_platform.components.nested import dig

from .gc_pause import gc_paused

SECRET_MASK = names.SECRET_MASK
UNKNOWN_MASK = "[unknown]"
_SIG = names.PULUMI_SIGNATURE_KEY
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
PROJECT = "mlops-platform"


@dataclass
class ResourceRecord:
    urn: str
    type: str
    name: str
    parent: str
    provider: str  # "<provider urn>::<id>", or "" for components and default providers
    custom: bool
    inputs: dict[str, Any]
    secret_paths: set[str] = field(default_factory=set)
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False
    deleted_with: str = ""
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    import_id: str = ""  # the existing resource the engine imports instead of creating (the `import` option)

    @property
    def provider_urn(self) -> str:
        return self.provider.rsplit("::", 1)[0] if self.provider else ""

    @property
    def is_provider(self) -> bool:
        return self.type.startswith("pulumi:providers:")

    def input(self, *path: str, default: Any = None) -> Any:
        return dig(self.inputs, *path, default=default)

    def is_secret(self, path: str) -> bool:
        """Whether the input at dotted `path` (or anything below it) was a secret."""
        return any(p == path or p.startswith(path + ".") or p.startswith(path + "[") for p in self.secret_paths)

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "provider": self.provider,
            "custom": self.custom,
            "inputs": self.inputs,
            "dependencies": sorted(set(self.dependencies) | ({self.provider_urn} if self.provider else set())),
            "options": {
                "protect": self.protect,
                "deletedWith": self.deleted_with,
                "retainOnDelete": self.retain_on_delete,
                "ignoreChanges": self.ignore_changes,
                "replaceOnChanges": self.replace_on_changes,
                "deleteBeforeReplace": self.delete_before_replace,
                **({"import": self.import_id} if self.import_id else {}),
            },
        }


def _plain(value: Any, path: str, secrets: set[str], known: frozenset[str], masked: bool = False) -> Any:
    """Struct JSON -> plain data: secrets masked (paths recorded), references and unknowns shown.

    The paths the engine would treat as secret are recorded. What is shown masks exactly the
    generated secrets (the values the mocks hand out as secret outputs, wherever they reach):
    a Kubernetes Secret's whole `stringData` is secret to the engine, but its PGSSLMODE or a
    database user name is not, and stays readable. A masked map or list keeps its shape. `known` are
    those values: every value the mocks handed out as a provider secret output (generated passwords,
    kubeconfigs).
    """
    if isinstance(value, dict):
        sig = value.get(_SIG)
        if sig == _SECRET_SIG:
            secrets.add(path)
            return _plain(value.get("value"), path, secrets, known, True)
        if sig == _RESOURCE_SIG:
            return value.get("urn", "")
        if sig == _OUTPUT_SIG:
            if value.get("secret"):
                secrets.add(path)
            return _plain(value.get("value", _UNKNOWN), path, secrets, known, masked or bool(value.get("secret")))
        if sig is not None:
            return value.get("value", value.get("path", value.get("uri", "")))
        return {k: _plain(v, f"{path}.{k}" if path else k, secrets, known, masked) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, f"{path}[{i}]", secrets, known, masked) for i, v in enumerate(value)]
    if value == _UNKNOWN:
        return UNKNOWN_MASK
    if masked and (not isinstance(value, str) or any(secret in value for secret in known)):
        return SECRET_MASK
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Struct carries every number as a double
    return value


def _recording_monitor(mocks: Any) -> Any:
    from google.protobuf import json_format
    from pulumi.runtime.mocks import MockMonitor

    class RecordingMonitor(MockMonitor):
        """A MockMonitor that keeps every RegisterResource request it answers."""

        def __init__(self, inner_mocks: Any):
            super().__init__(inner_mocks)
            self.secret_values: set[str] = inner_mocks.secret_values  # what the mocks handed out as secrets
            self.records: list[ResourceRecord] = []

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            if request.type == "pulumi:pulumi:Stack":
                return response
            secrets: set[str] = set()
            inputs = _plain(json_format.MessageToDict(request.object), "", secrets, frozenset(self.secret_values))
            self.records.append(
                ResourceRecord(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    provider=request.provider,
                    custom=bool(request.custom),
                    inputs=inputs,
                    secret_paths=secrets,
                    dependencies=list(request.dependencies),
                    property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                    protect=bool(getattr(request, "protect", False)),
                    deleted_with=getattr(request, "deletedWith", "") or "",
                    retain_on_delete=bool(getattr(request, "retainOnDelete", False)),
                    ignore_changes=list(getattr(request, "ignoreChanges", [])),
                    replace_on_changes=list(getattr(request, "replaceOnChanges", [])),
                    delete_before_replace=bool(getattr(request, "deleteBeforeReplace", False)),
                    import_id=str(getattr(request, "importId", "") or ""),
                )
            )
            return response

    return RecordingMonitor(mocks)


@dataclass
class ProgramRun:
    stack: str
    resources: list[ResourceRecord]
    result: Any = None  # whatever the program function returned (e.g. the platform component)
    secret_values: frozenset[str] = frozenset()  # the values the mocks handed out as secrets (masked)
    bundles_asked: tuple[str, ...] = ()  # the CA bundles the program would fetch when it runs for real

    def of_type(self, type_token: str) -> list[ResourceRecord]:
        return [r for r in self.resources if r.type == type_token]

    def named(self, name: str) -> ResourceRecord:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]

    def by_urn(self) -> dict[str, ResourceRecord]:
        return {r.urn: r for r in self.resources}

    def kubernetes_objects(self) -> list[ResourceRecord]:
        return [
            r
            for r in self.resources
            if r.type.startswith("kubernetes:") and r.custom and not r.type.startswith("kubernetes:helm.sh")
        ]

    def helm_releases(self) -> list[ResourceRecord]:
        return self.of_type("kubernetes:helm.sh/v3:Release")

    def waits_for(self, record: ResourceRecord) -> set[str]:
        """URNs of everything `record` waits for before it is created, transitively: its explicit
        and input dependencies, and its provider (which waits for its own inputs, e.g. a kubeconfig)."""
        by_urn = self.by_urn()
        seen: set[str] = set()
        todo = list(_direct(record))
        while todo:
            urn = todo.pop()
            if urn in seen:
                continue
            seen.add(urn)
            found = by_urn.get(urn)
            if found is not None:
                todo.extend(_direct(found))
        return seen


def _direct(record: ResourceRecord) -> list[str]:
    return [*record.dependencies, *([record.provider_urn] if record.provider else [])]


def run_program(
    program: Callable[[], Any],
    stack: str,
    config: Optional[dict[str, Any]] = None,
    project: str = PROJECT,
) -> ProgramRun:
    """Run `program` as a Pulumi program under mocks; return what it registered.

    `config` maps full keys ("platform:cloud") to values; they reach the program as the engine
    would pass them (strings, objects as JSON).
    """
    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from .mocks import PlatformMocks

    mocks = PlatformMocks()
    monitor = _recording_monitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in (config or {}).items()}
    )
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    holder: dict[str, Any] = {}

    def main() -> None:
        holder["result"] = program()

    from mlops_platform.components.data import db_trust

    fetch = db_trust.bundle_source  # no network offline: the mocks stand in for the published bundle
    db_trust.bundle_source = mocks.published_bundle
    try:
        _sync_await(run_pulumi_func(main))
    finally:
        db_trust.bundle_source = fetch
    return ProgramRun(stack=stack, resources=stable_order(monitor.records), result=holder.get("result"),
                      secret_values=frozenset(mocks.secret_values), bundles_asked=tuple(mocks.bundles_asked))


def stable_order(records: list[ResourceRecord]) -> list[ResourceRecord]:
    """The records in an order that does not depend on how asyncio scheduled the registrations:
    each after its parent, its dependencies and its provider, ties broken by URN. Dependency lists
    are sorted too, so two runs of the same program give identical plans."""
    import heapq

    by_urn = {r.urn: r for r in records}
    before: dict[str, set[str]] = {}
    for record in records:
        record.dependencies = sorted(set(record.dependencies))
        record.property_dependencies = {k: sorted(set(v)) for k, v in sorted(record.property_dependencies.items())}
        before[record.urn] = {u for u in (record.parent, *_direct(record)) if u in by_urn and u != record.urn}
    after: dict[str, list[str]] = {urn: [] for urn in by_urn}
    for urn, needs in before.items():
        for need in needs:
            after[need].append(urn)
    waiting = {urn: len(needs) for urn, needs in before.items()}
    ready = [urn for urn, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[ResourceRecord] = []
    while ready:
        urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        for successor in after[urn]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                heapq.heappush(ready, successor)
    if len(ordered) < len(records):  # a cycle cannot come out of Pulumi; keep the rest by URN
        placed = {r.urn for r in ordered}
        ordered += sorted((r for r in records if r.urn not in placed), key=lambda r: r.urn)
    return ordered


def plan_platform(config: Any) -> ProgramRun:
    """Build MlopsPlatform from a validated PlatformConfig under mocks."""
    with gc_paused():  # the SDK imports and the program allocate in bulk (gc_pause.py)
        from mlops_platform.components.platform import MlopsPlatform

        return run_program(lambda: MlopsPlatform("mlops", config), config.stack_name)
