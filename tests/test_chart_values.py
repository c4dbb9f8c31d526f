"""Every leaf value we pass to a chart changes what it renders: each is perturbed (or left out),
the release re-rendered for real with Helm's Go SDK, and the output compared, for every shipped
stack. A value that changes nothing is dead; one that could be left out is redundant unless it
follows the stack's config."""

from __future__ import annotations

import copy
import functools
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from mlops_platform.planner import chart_render, charts, cluster_objects
from support import SHIPPED_STACKS

SHIPPED = SHIPPED_STACKS


# --- every value we pass changes the render ------------------------------------------------------


def _leaves(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    """Leaf values: scalars, empty containers, and lists of scalars (one value as a whole)."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _leaves(item, (*path, key))
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _schema_enum(schema: Any, path: tuple) -> list[Any]:
    for key in path:
        if not isinstance(schema, dict):
            return []
        schema = (schema.get("properties") or {}).get(key) if isinstance(key, str) else schema.get("items")
    return list((schema or {}).get("enum") or []) if isinstance(schema, dict) else []


def _perturbations(value: Any, enum: list[Any]) -> list[Any]:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, (int, float)):
        return [value + 1]
    if isinstance(value, str):
        return [e for e in enum if e != value] or [value + "x", "x" + value]
    if isinstance(value, list):
        return [[*value, "x.mlops.test"]]
    if isinstance(value, dict):
        return [{"mlops-test": "x"}]
    return ["x"]


def _with(values: dict, path: tuple, new: Any) -> dict:
    out = copy.deepcopy(values)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return out


def _without(values: dict, path: tuple) -> dict:
    out = copy.deepcopy(values)
    target = out
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return out


_READ: set[tuple[str, tuple, str]] = set()  # (archive, path, value) a render was shown to read


@functools.lru_cache(maxsize=None)
def _value_findings(archive: str, values_json: str, release: str, namespace: str, kube: str,
                    apis: tuple) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(dead, redundant) leaf paths. Dead: every perturbation renders exactly as before (or is only
    refused by the values schema, which proves nothing about the templates). Redundant: leaving the
    value out renders the same (it restates the chart's default, or merges into it as a no-op)."""
    path = Path(archive)
    values = json.loads(values_json)
    schema = chart_render.load_chart(path).schema or {}

    def rendered(candidate: dict) -> tuple[str, Any]:
        try:
            return "ok", chart_render.render_templates(path, json.dumps(candidate, sort_keys=True), release, namespace, kube, apis)
        except chart_render.RenderError as err:
            return ("template" if err.in_template else "schema"), str(err)

    base = rendered(values)
    assert base[0] == "ok", base[1]
    leaves = [(p, v) for p, v in _leaves(values) if p]
    # A value the chart was shown to read in another stack's render (same chart, path and value) is
    # not perturbed again: most values are the same in every stack, and kube-prometheus-stack
    # renders are the slowest part of the suite.
    known = {p for p, v in leaves if (archive, p, json.dumps(v, sort_keys=True)) in _READ}
    jobs = [("perturbed", p, _with(values, p, alt)) for p, v in leaves if p not in known
            for alt in _perturbations(v, _schema_enum(schema, p))]
    jobs += [("omitted", p, _without(values, p)) for p, _ in leaves]
    with ThreadPoolExecutor(max_workers=2) as pool:  # the native render releases the GIL
        outcomes = list(pool.map(lambda job: (job[0], job[1], rendered(job[2])), jobs))
    # A perturbation refused by a template was read; one refused by the schema proves nothing. A
    # value that cannot be left out at all (refused either way) is needed.
    changed = {(how, p) for how, p, (kind, text) in outcomes
               if kind == "template" or (kind == "ok" and text != base[1]) or (how == "omitted" and kind == "schema")}
    changed |= {("perturbed", p) for p in known}
    _READ.update((archive, p, json.dumps(v, sort_keys=True)) for p, v in leaves if ("perturbed", p) in changed)
    dotted = [(p, ".".join(map(str, p))) for p, _ in leaves]
    return (tuple(d for p, d in dotted if ("perturbed", p) not in changed),
            tuple(d for p, d in dotted if ("omitted", p) not in changed))


@pytest.fixture(scope="session")
def findings(releases, stack_config, charts_dir) -> Callable[[str], Iterator[tuple[str, tuple[str, ...], tuple[str, ...], int]]]:
    """findings(stack): per release with values, the values that change nothing and those that
    could be left out, and how many values it has."""

    def of(stack: str) -> Iterator[tuple[str, tuple[str, ...], tuple[str, ...], int]]:
        for record, render in releases(stack):
            values = record.input("values") or {}
            if not values:
                continue
            archive = charts.archive_path(render.chart, charts_dir)
            dead, redundant = _value_findings(
                str(archive), json.dumps(values, sort_keys=True), render.release, render.namespace,
                chart_render.kube_version(stack_config(stack).cluster.kubernetes_version),
                (*cluster_objects.BUILTIN_API_VERSIONS, *render.api_versions))
            yield render.release, dead, redundant, sum(1 for p, _ in _leaves(values) if p)

    return of


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_value_we_pass_changes_the_render(stack, findings):
    checked = 0
    for release, dead, _, count in findings(stack):
        assert dead == (), f"{release}: values that change nothing: {dead}"
        checked += count
    assert checked > 100


# Values the render would not miss are allowed only where they follow the stack's config (they
# differ in other stacks) or sit in a container's resources block, which is set as a whole.
FOLLOWS_CONFIG = {
    "traefik": {"deployment.replicas", "nodeSelector", "tolerations"},  # traefik.replicas; kind's ingress node
    "kube-prometheus-stack": {"alertmanager.enabled"},  # monitoring.alertmanager
    "mlflow": {"replicaCount", "serviceAccount.annotations", "extraPodLabels",  # mlflow.replicas; the identity
               "backendStore.postgres.port", "oidcAuth.database.postgres.port",  # the data layer's database
               "oidcAuth.groupsAttribute", "oidcAuth.scope"},  # identity.groupsClaim, identity.scopes
}


@pytest.mark.parametrize("stack", SHIPPED)
def test_no_value_could_be_left_out(stack, findings):
    for release, _, redundant, _ in findings(stack):
        allowed = FOLLOWS_CONFIG.get(release, set())
        needless = [d for d in redundant if d not in allowed and ".resources." not in f".{d}."]
        assert needless == [], f"{release}: leaving these out renders the same: {needless}"
