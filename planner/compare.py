"""Two offline plans of one stack, compared: what a change to the platform's code or stack file does.

Both sides are `platform plan --json` documents: the base is read from a file (the base branch's
plan, saved in CI), the head is the plan just computed. Resources are matched by URN:
- added and removed resources; a resource whose changed inputs include one its provider cannot
  update in place (planner/replacements.py) is replaced, as `pulumi preview` would show it;
- changed inputs, by property path;
- the monthly cost, in total and per component;
- the CPU and memory the cluster's workloads request, in total and per workload;
- policy violations that are new in the head, and those it resolves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional

from .replacements import forcing
from .urns import component_of

PLAN_KEYS = ("stack", "resources", "summary", "policies")
OP_ORDER = {"replace": 0, "delete": 1, "update": 2, "create": 3}
MAX_VALUE = 80  # characters of a changed value shown in text and markdown


class PlanFileError(Exception):
    """A base plan that cannot be used; `str()` is one line naming the file and the problem."""


@dataclass(frozen=True)
class Change:
    path: str
    before: Any
    after: Any
    forces_replacement: Optional[str] = None  # the rule by which this change replaces the resource


@dataclass(frozen=True)
class ResourceDiff:
    op: str  # "create", "delete", "replace" or "update"
    urn: str
    type: str
    name: str
    component: str
    changes: tuple[Change, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "op": self.op, "urn": self.urn, "type": self.type, "name": self.name, "component": self.component,
            "changes": [{"path": c.path, "before": c.before, "after": c.after,
                         **({"forcesReplacement": c.forces_replacement} if c.forces_replacement else {})}
                        for c in self.changes],
        }


@dataclass(frozen=True)
class Delta:
    before: float
    after: float

    @property
    def change(self) -> float:
        return round(self.after - self.before, 3)

    def to_json(self) -> dict[str, float]:
        return {"before": self.before, "after": self.after, "change": self.change}


@dataclass
class Comparison:
    stack: str
    resources: list[ResourceDiff] = field(default_factory=list)
    cost: Optional[Delta] = None  # None for stacks with no cost (local)
    cost_by_component: dict[str, Delta] = field(default_factory=dict)
    cost_complete: bool = True
    cpu: Delta = field(default_factory=lambda: Delta(0, 0))  # cores
    memory: Delta = field(default_factory=lambda: Delta(0, 0))  # GiB
    workloads: dict[str, tuple[Optional[tuple[int, int]], Optional[tuple[int, int]]]] = field(default_factory=dict)
    new_violations: list[dict[str, Any]] = field(default_factory=list)
    resolved_violations: list[dict[str, Any]] = field(default_factory=list)
    head_mandatory: list[dict[str, Any]] = field(default_factory=list)

    def count(self, op: str) -> int:
        return sum(1 for r in self.resources if r.op == op)

    @property
    def unchanged(self) -> bool:
        return not self.resources and not self.new_violations and not self.resolved_violations

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "counts": {op: self.count(op) for op in ("create", "update", "replace", "delete")},
            "resources": [r.to_json() for r in self.resources],
            "cost": None if self.cost is None else {
                **self.cost.to_json(), "complete": self.cost_complete,
                "byComponent": {k: v.to_json() for k, v in sorted(self.cost_by_component.items())},
            },
            "requests": {
                "cpuCores": self.cpu.to_json(), "memoryGiB": self.memory.to_json(),
                "workloads": {name: {"before": _workload_json(b), "after": _workload_json(a)}
                              for name, (b, a) in sorted(self.workloads.items())},
            },
            "policies": {
                "new": self.new_violations, "resolved": self.resolved_violations,
                "headMandatory": len(self.head_mandatory),
            },
        }


def _workload_json(value: Optional[tuple[int, int]]) -> Optional[dict[str, str]]:
    return None if value is None else {"cpu": f"{value[0]}m", "memory": f"{value[1]}Mi"}


MAX_PLAN_BYTES = 64 * 1024 * 1024  # a plan is a few hundred kilobytes
MAX_DEPTH = 100  # nesting of a plan's JSON (a resource's inputs go about 15 levels deep)


def load_plan(path: Path) -> dict[str, Any]:
    """A saved `platform plan --json` document, checked to have the shape compare reads, or PlanFileError."""
    try:
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise PlanFileError(f"{path} is larger than {MAX_PLAN_BYTES // 2**20} MiB: not a plan")
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise PlanFileError(f"{path} is not a text file") from None
    except json.JSONDecodeError as err:
        raise PlanFileError(f"{path} is not JSON (line {err.lineno}: {err.msg})") from None
    except RecursionError:
        raise PlanFileError(f"{path} is nested too deeply to be a plan") from None
    missing = [k for k in PLAN_KEYS if not isinstance(document, dict) or k not in document]
    if missing:
        raise PlanFileError(f"{path} is not a plan: it has no {', '.join(missing)}")
    problem = plan_problem(document)
    if problem:
        raise PlanFileError(f"{path} is not a plan: {problem}")
    return document


def _too_deep(value: Any) -> bool:
    todo = [(value, 0)]
    while todo:
        item, depth = todo.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            todo.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            todo.extend((v, depth + 1) for v in item)
    return False


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plan_problem(document: Mapping[str, Any]) -> Optional[str]:
    """What in a plan document compare cannot read, in a few words; None when it has the shape
    `platform plan --json` writes (the parts compare reads: resources, requests, cost, policies)."""
    if _too_deep(document):
        return f"nested more than {MAX_DEPTH} levels deep"
    if not isinstance(document["stack"], str):
        return "its stack is not a name"
    resources, summary, policies = document["resources"], document["summary"], document["policies"]
    if not isinstance(resources, list) or not isinstance(summary, dict) or not isinstance(policies, dict):
        return "resources is not a list, or summary or policies not a mapping"
    for index, resource in enumerate(resources):
        if not isinstance(resource, dict):
            return f"resources[{index}] is not a mapping"
        for key in ("urn", "type", "name"):
            if not isinstance(resource.get(key), str) or not resource[key]:
                return f"resources[{index}].{key} is not a non-empty string"
        if not isinstance(resource.get("inputs", {}), dict) or not isinstance(resource.get("options", {}), dict):
            return f"resources[{index}] has inputs or options that are not a mapping"
    requests = summary.get("requests", {})
    if not isinstance(requests, dict) or not all(_number(requests.get(k, 0)) for k in ("cpuCores", "memoryGiB")):
        return "summary.requests does not hold cpuCores and memoryGiB as numbers"
    for workload in requests.get("workloads") or []:
        if not (isinstance(workload, dict) and isinstance(workload.get("name"), str)
                and re.fullmatch(r"[0-9.]+m", str(workload.get("cpu"))) and re.fullmatch(r"[0-9.]+Mi", str(workload.get("memory")))):
            return "summary.requests.workloads holds an entry without a name, cpu (m) and memory (Mi)"
    cost = summary.get("cost")
    if cost is not None:
        if not isinstance(cost, dict) or not isinstance(cost.get("lines", []), list):
            return "summary.cost is not a mapping with lines"
        if not all(isinstance(line, dict) and _number(line.get("monthly")) for line in cost.get("lines", [])):
            return "summary.cost.lines holds an entry without a monthly number"
    violations = policies.get("violations", [])
    if not isinstance(violations, list) or not all(isinstance(v, dict) for v in violations):
        return "policies.violations is not a list of mappings"
    return None


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(property path, leaf value) pairs: maps by key (a.b), lists by index (a[0]); empty maps and
    lists are leaves."""
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    before, after = dict(flatten(base.get("inputs") or {})), dict(flatten(head.get("inputs") or {}))
    options = head.get("options") or {}
    out = []
    for path in sorted(set(before) | set(after)):
        old, new = before.get(path), after.get(path)
        if old != new or (path in before) != (path in after):
            out.append(Change(path, old, new, forcing(str(head["type"]), path, options)))
    return out


def compare(base: Mapping[str, Any], head: Mapping[str, Any]) -> Comparison:
    result = Comparison(str(head["stack"]))
    base_resources = {r["urn"]: r for r in base["resources"] if r.get("custom", True)}
    head_resources = {r["urn"]: r for r in head["resources"] if r.get("custom", True)}
    for urn in sorted(set(base_resources) | set(head_resources)):
        old, new = base_resources.get(urn), head_resources.get(urn)
        record = new or old
        assert record is not None
        kind, name, component = str(record["type"]), str(record["name"]), component_of(urn)
        if old is None:
            result.resources.append(ResourceDiff("create", urn, kind, name, component))
        elif new is None:
            result.resources.append(ResourceDiff("delete", urn, kind, name, component))
        else:
            changes = _changes(old, new)
            if changes:
                op = "replace" if any(c.forces_replacement for c in changes) else "update"
                result.resources.append(ResourceDiff(op, urn, kind, name, component, tuple(changes)))
    # The riskiest first: replacements, removals, then changes and additions.
    result.resources.sort(key=lambda r: (OP_ORDER[r.op], r.component, r.type, r.name))
    _compare_cost(base, head, result)
    _compare_requests(base, head, result)
    _compare_policies(base, head, result)
    return result


def _cost_lines(document: Mapping[str, Any]) -> Optional[list[Mapping[str, Any]]]:
    cost = (document.get("summary") or {}).get("cost")
    return None if cost is None else list(cost.get("lines") or [])


def _compare_cost(base: Mapping[str, Any], head: Mapping[str, Any], result: Comparison) -> None:
    before, after = _cost_lines(base), _cost_lines(head)
    if before is None and after is None:
        return
    totals = [sum(float(line["monthly"]) for line in lines or []) for lines in (before, after)]
    result.cost = Delta(round(totals[0], 2), round(totals[1], 2))
    result.cost_complete = bool(((head.get("summary") or {}).get("cost") or {}).get("complete", True))
    by_component: dict[str, list[float]] = {}
    for side, lines in enumerate((before, after)):
        for line in lines or []:
            slot = by_component.setdefault(str(line.get("component") or "other"), [0.0, 0.0])
            slot[side] += float(line["monthly"])
    result.cost_by_component = {k: Delta(round(b, 2), round(a, 2)) for k, (b, a) in by_component.items()
                                if round(a - b, 2) != 0}


def _requests(document: Mapping[str, Any]) -> Mapping[str, Any]:
    return (document.get("summary") or {}).get("requests") or {}


def _quantity(text: str, unit: str) -> int:
    return int(round(float(str(text).removesuffix(unit))))


def _compare_requests(base: Mapping[str, Any], head: Mapping[str, Any], result: Comparison) -> None:
    old, new = _requests(base), _requests(head)
    result.cpu = Delta(float(old.get("cpuCores", 0)), float(new.get("cpuCores", 0)))
    result.memory = Delta(float(old.get("memoryGiB", 0)), float(new.get("memoryGiB", 0)))
    workloads = [{w["name"]: (_quantity(w["cpu"], "m"), _quantity(w["memory"], "Mi")) for w in side.get("workloads") or []}
                 for side in (old, new)]
    for name in sorted(set(workloads[0]) | set(workloads[1])):
        b, a = workloads[0].get(name), workloads[1].get(name)
        if b != a:
            result.workloads[name] = (b, a)


def _violations(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list((document.get("policies") or {}).get("violations") or [])


def _violation_key(v: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(v.get("rule")), str(v.get("urn")), str(v.get("message")))


def _compare_policies(base: Mapping[str, Any], head: Mapping[str, Any], result: Comparison) -> None:
    old, new = _violations(base), _violations(head)
    old_keys, new_keys = {_violation_key(v) for v in old}, {_violation_key(v) for v in new}
    result.new_violations = [v for v in new if _violation_key(v) not in old_keys]
    result.resolved_violations = [v for v in old if _violation_key(v) not in new_keys]
    result.head_mandatory = [v for v in new if v.get("enforcementLevel") == "mandatory"]


# --- output -------------------------------------------------------------------------------------

SYMBOL = {"create": "+", "delete": "-", "replace": "+-", "update": "~"}


def _money(value: float) -> str:
    sign = "+" if value > 0 else "-" if value < 0 else "±"
    return f"{sign}${abs(value):,.2f}"


def _signed(value: float, unit: str, digits: int = 2) -> str:
    sign = "+" if value > 0 else "-" if value < 0 else "±"
    return f"{sign}{abs(value):.{digits}f}{unit}"


def _short(value: Any) -> str:
    if isinstance(value, str) and "\n" in value:  # a file's contents (a script, a dashboard): its size, not its text
        return f"<text, {value.count(chr(10)) + 1} lines, {len(value)} characters>"
    text = "(none)" if value is None else json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def headline(c: Comparison) -> list[str]:
    """The totals, one fact a line, shared by text and markdown."""
    lines = [f"resources: {c.count('create')} to add, {c.count('update')} to change, "
             f"{c.count('replace')} to replace, {c.count('delete')} to remove"]
    if c.cost is not None:
        lines.append(f"monthly cost: ${c.cost.before:,.2f} -> ${c.cost.after:,.2f} ({_money(c.cost.change)})"
                     + ("" if c.cost_complete else " (incomplete: some items have no price)"))
    lines.append(f"requests: {c.cpu.before:.2f} -> {c.cpu.after:.2f} CPU ({_signed(c.cpu.change, '')}), "
                 f"{c.memory.before:.2f} -> {c.memory.after:.2f} GiB ({_signed(c.memory.change, '')})")
    lines.append(f"policy violations: {len(c.new_violations)} new, {len(c.resolved_violations)} resolved"
                 + (f"; {len(c.head_mandatory)} mandatory in this plan" if c.head_mandatory else ""))
    return lines


def _change_line(change: Change) -> str:
    forced = f"  (forces replacement: {change.forces_replacement})" if change.forces_replacement else ""
    return f"{change.path}: {_short(change.before)} -> {_short(change.after)}{forced}"


def to_text(c: Comparison) -> str:
    out = [f"Plan changes for stack {c.stack}"] + [f"  {line}" for line in headline(c)]
    if c.resources:
        out.append("")
        for r in c.resources:
            out.append(f"{SYMBOL[r.op]:>2} {r.type}  {r.name}  [{r.component}]")
            out.extend(f"      {_change_line(ch)}" for ch in r.changes)
    if c.cost_by_component:
        out.append("")
        out.append("monthly cost by component:")
        out.extend(f"  {k:<12} ${d.before:,.2f} -> ${d.after:,.2f} ({_money(d.change)})" for k, d in sorted(c.cost_by_component.items()))
    if c.workloads:
        out.append("")
        out.append("requests by workload:")
        out.extend(f"  {name}: {_workload(b)} -> {_workload(a)}" for name, (b, a) in sorted(c.workloads.items()))
    for title, violations in (("new policy violations:", c.new_violations), ("resolved policy violations:", c.resolved_violations)):
        if violations:
            out.append("")
            out.append(title)
            out.extend(f"  {v.get('enforcementLevel')} {v.get('rule')} ({str(v.get('urn', '')).rsplit('::', 1)[-1]}): {v.get('message')}"
                       for v in violations)
    if c.unchanged and c.cost is not None and c.cost.change == 0:
        out.append("  no changes")
    return "\n".join(out) + "\n"


def _workload(value: Optional[tuple[int, int]]) -> str:
    return "(none)" if value is None else f"{value[0]}m/{value[1]}Mi"


def _resource_name(violation: Mapping[str, Any]) -> str:
    return str(violation.get("urn", "")).rsplit("::", 1)[-1]


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


MARKER = "<!-- mlops-platform plan comparison: {stack} -->"


def to_markdown(c: Comparison) -> str:
    """A pull-request comment: the totals first, every detail folded away. The first line is a
    hidden marker, so that CI can find and update its own comment."""
    status = "❌ mandatory policy violations" if c.head_mandatory else "no changes" if c.unchanged else "changes"
    out = [MARKER.format(stack=c.stack), f"### `platform plan` · {c.stack} · {status}", ""]
    out.append("| | before | after | change |")
    out.append("|---|---:|---:|---:|")
    out.append(f"| resources | | | {c.count('create')} to add, {c.count('update')} to change, "
               f"{c.count('replace')} to replace, {c.count('delete')} to remove |")
    if c.cost is not None:
        suffix = "" if c.cost_complete else " (incomplete)"
        out.append(f"| monthly cost (USD) | {c.cost.before:,.2f} | {c.cost.after:,.2f} | {_money(c.cost.change)}{suffix} |")
    out.append(f"| CPU requested (cores) | {c.cpu.before:.2f} | {c.cpu.after:.2f} | {_signed(c.cpu.change, '')} |")
    out.append(f"| memory requested (GiB) | {c.memory.before:.2f} | {c.memory.after:.2f} | {_signed(c.memory.change, '')} |")
    out.append(f"| policy violations | | | {len(c.new_violations)} new, {len(c.resolved_violations)} resolved |")
    if c.new_violations:
        out += ["", "**New policy violations**", ""]
        out += [f"- **{v.get('enforcementLevel')}** `{v.get('rule')}` ({_md(_resource_name(v))}): {_md(str(v.get('message')))}"
                for v in c.new_violations]
    if c.resources:
        out += ["", f"<details><summary>Resources ({len(c.resources)})</summary>", "",
                "| | resource | type | component |", "|---|---|---|---|"]
        out += [f"| {SYMBOL[r.op]} | {_md(r.name)} | `{r.type}` | {r.component} |" for r in c.resources]
        out += ["", "</details>"]
        changed = [r for r in c.resources if r.changes]
        if changed:
            out += ["", "<details><summary>Changed inputs</summary>", "", "```"]
            for r in changed:
                out.append(f"{SYMBOL[r.op]} {r.name}")
                out.extend(f"    {_change_line(ch)}" for ch in r.changes)
            out += ["```", "", "</details>"]
    if c.cost_by_component:
        out += ["", "<details><summary>Monthly cost by component</summary>", "",
                "| component | before | after | change |", "|---|---:|---:|---:|"]
        out += [f"| {k} | {d.before:,.2f} | {d.after:,.2f} | {_money(d.change)} |" for k, d in sorted(c.cost_by_component.items())]
        out += ["", "</details>"]
    if c.workloads:
        out += ["", "<details><summary>Requests by workload</summary>", "",
                "| workload | before | after |", "|---|---:|---:|"]
        out += [f"| {_md(name)} | {_workload(b)} | {_workload(a)} |" for name, (b, a) in sorted(c.workloads.items())]
        out += ["", "</details>"]
    if c.resolved_violations:
        out += ["", "<details><summary>Resolved policy violations</summary>", ""]
        out += [f"- `{v.get('rule')}` ({_md(_resource_name(v))}): {_md(str(v.get('message')))}"
                for v in c.resolved_violations]
        out += ["", "</details>"]
    return "\n".join(out) + "\n"
