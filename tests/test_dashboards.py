"""Dashboards and alert rules as code: every PromQL expression parses (promql-parser, the Prometheus
parser's Rust port), and every metric it reads is one its component exports
(components/addons/metrics.py, each name with its source)."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from mlops_platform.components.addons import dashboards
from mlops_platform.components.addons.metrics import EXPORTED
from support import SHIPPED_STACKS, WITH_MODEL


def metric_names(node: Any) -> Iterator[str]:
    import promql_parser as p

    if isinstance(node, p.VectorSelector):
        if node.name:
            yield node.name
        for matcher in node.matchers.matchers if node.matchers else []:
            if matcher.name == "__name__":
                yield matcher.value
    elif isinstance(node, p.MatrixSelector):
        yield from metric_names(node.vector_selector)
    elif isinstance(node, p.Call):
        for arg in node.args:
            yield from metric_names(arg)
    elif isinstance(node, p.BinaryExpr):
        yield from metric_names(node.lhs)
        yield from metric_names(node.rhs)
    elif isinstance(node, (p.AggregateExpr, p.ParenExpr, p.SubqueryExpr, p.UnaryExpr)):
        yield from metric_names(node.expr)
        if isinstance(node, p.AggregateExpr) and node.param is not None:
            yield from metric_names(node.param)


def expressions_of(planned, stack: str) -> list[tuple[str, str]]:
    """(where, expr) for every dashboard panel and alert rule the stack creates."""
    run = planned(stack)
    out = []
    for record in run.of_type("kubernetes:core/v1:ConfigMap"):
        if (record.input("metadata", "labels") or {}).get(dashboards.SIDECAR_LABEL) == "1":
            for key, text in (record.input("data") or {}).items():
                for expr in dashboards.expressions(json.loads(text)):
                    out.append((f"{record.name}/{key}", expr))
    for record in run.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule"):
        for group in record.input("spec", "groups") or []:
            for rule in group["rules"]:
                out.append((f"{record.name}/{rule.get('alert') or rule.get('record')}", rule["expr"]))
    return out


# The prod stacks serve a model of their own store here: each stack's model dashboards and alerts too.
@pytest.mark.parametrize("stack", [s + WITH_MODEL if s.endswith("-prod") else s for s in SHIPPED_STACKS])
def test_every_expression_parses_and_reads_only_exported_metrics(stack, planned):
    import promql_parser

    expressions = expressions_of(planned, stack)
    assert len(expressions) > 20
    for where, expr in expressions:
        tree = promql_parser.parse(expr)
        names = set(metric_names(tree))
        assert names, f"{where}: reads no metric: {expr}"
        unknown = names - set(EXPORTED)
        assert not unknown, f"{where}: {unknown} not in components/addons/metrics.py"


def test_the_parser_check_can_fail():
    import promql_parser

    with pytest.raises(ValueError):
        promql_parser.parse('sum(rate(traefik_service_requests_total{service="x"}[5m])')
    assert set(metric_names(promql_parser.parse("rate(node_cpu_seconds_total[5m])"))) - set(EXPORTED) == {"node_cpu_seconds_total"}


def test_every_listed_metric_is_read_somewhere_and_has_a_source(planned):
    used = {name for stack in ("local-dev",) for _, expr in expressions_of(planned, stack)
            for name in metric_names(__import__("promql_parser").parse(expr))}
    assert set(EXPORTED) - used <= {"seldon_metric_outlier_instance_score"}, "a stale entry in metrics.py"
    assert all(len(source) > 10 for source in EXPORTED.values())


def test_the_dashboards_and_their_panels():
    boards = dashboards.dashboards(["iris", "wine"])
    assert set(boards) == {"mlops-dashboard-platform", "mlops-dashboard-models", "mlops-dashboard-drift"}
    titles = {b["uid"]: [p["title"] for p in b["panels"]] for b in boards.values()}
    assert titles["mlops-models"] == ["Requests per second", "Error ratio (5xx)", "Latency through Traefik",
                                      "Model server predict latency (KServe servers)", "Inferences per second (MLServer: mlflow models)"]
    assert "Drift p-value per feature (below the threshold: drift)" in titles["mlops-drift"] and "Firing alerts" in titles["mlops-drift"]
    assert titles["mlops-platform"][0] == "CPU used and requested, by namespace"
    variable = boards["mlops-dashboard-models"]["templating"]["list"][0]
    assert variable["query"] == "iris,wine" and variable["name"] == "model"
    for board in boards.values():
        for panel in board["panels"]:
            assert panel["datasource"] == {"type": "prometheus", "uid": "prometheus"}
    assert dashboards.dashboards([]).keys() == {"mlops-dashboard-platform"}


def test_dashboards_are_linked_from_the_endpoints(local_run):
    for record in local_run.of_type("kubernetes:core/v1:ConfigMap"):
        if str(record.input("metadata", "name") or "").startswith("mlops-dashboard-"):
            assert record.input("metadata", "namespace") == "monitoring"
            assert record.input("metadata", "labels")["grafana_dashboard"] == "1"
    endpoints = local_run.result.endpoints
    assert endpoints["dashboard models"] == "https://grafana.127.0.0.1.sslip.io/d/mlops-models"
    assert {"dashboard drift", "dashboard platform"} <= set(endpoints)


def _counted(node: Any, inside: bool = False) -> Iterator[tuple[str, bool]]:
    """(metric, read through rate()/increase()) for every selector of an expression."""
    import promql_parser as p

    if isinstance(node, p.VectorSelector):
        yield from ((name, inside) for name in metric_names(node))
    elif isinstance(node, p.MatrixSelector):
        yield from _counted(node.vector_selector, inside)
    elif isinstance(node, p.Call):
        counting = node.func.name in ("rate", "increase", "irate")
        for arg in node.args:
            yield from _counted(arg, inside or counting)
    elif isinstance(node, p.BinaryExpr):
        yield from _counted(node.lhs, inside)
        yield from _counted(node.rhs, inside)
    elif isinstance(node, (p.AggregateExpr, p.ParenExpr, p.SubqueryExpr, p.UnaryExpr)):
        yield from _counted(node.expr, inside)


@pytest.mark.parametrize("stack", ["local-dev", "aws-prod"])
def test_counters_are_read_as_rates_and_gauges_as_values(stack, planned):
    """A counter (Prometheus names it *_total, or *_bucket for a histogram) means something only as a
    rate or an increase; a gauge never is one. The outlier detector's is_outlier is a COUNTER at the
    pinned tag v1.17.1, exposed as seldon_metric_outlier_is_outlier_total (metrics.py)."""
    import promql_parser

    for where, expr in expressions_of(planned, stack):
        for name, as_rate in _counted(promql_parser.parse(expr)):
            counter = name.endswith(("_total", "_bucket"))
            assert counter == as_rate, f"{where}: {name} is {'a counter' if counter else 'a gauge'} in {expr}"
    assert "seldon_metric_outlier_is_outlier" not in EXPORTED, "the pinned detector server never exports it"


def test_the_outlier_fraction_divides_by_what_traefik_sent_that_detector(planned):
    """Its denominator is Traefik's service metric for the outlier Service the fan-out mirrors to,
    named as Traefik's CRD provider names it: <namespace>-<service>-<port>@kubernetescrd."""
    run = planned("local-dev")
    service = next(r for r in run.of_type("kubernetes:core/v1:Service") if r.input("metadata", "name") == "iris-outlier")
    port = service.input("spec", "ports")[0]["port"]
    mirror = next(r for r in run.of_type("kubernetes:traefik.io/v1alpha1:TraefikService"))
    assert {"name": "iris-outlier", "port": port, "percent": 100} in mirror.input("spec", "mirroring", "mirrors")
    expressions = expressions_of(planned, "local-dev")
    alert = next(expr for where, expr in expressions if where.endswith("/ModelOutlierRateHigh"))
    assert alert == (f'sum(increase(seldon_metric_outlier_is_outlier_total{{namespace="detectors",service="iris-outlier"}}[15m])) / '
                     f'sum(increase(traefik_service_requests_total{{service="detectors-iris-outlier-{port}@kubernetescrd"}}[15m])) > 0.2')
    panel = next(expr for where, expr in expressions if "outlier_is_outlier" in expr and "dashboard" in where)
    assert panel == alert.removesuffix(" > 0.2").replace("iris", "$model")
