"""Grafana dashboards as code: models, drift and outliers, and the platform's resources.

Monitoring ships each as a ConfigMap labelled `grafana_dashboard`, which kube-prometheus-stack's
Grafana sidecar loads (it watches the release's namespace); every query reads the Prometheus data
source the chart provisions (uid `prometheus`). The model and detector dashboards select a model
with a variable listing the stack's models. Every metric they read is in metrics.py.
Ref: kube-prometheus-stack values grafana.sidecar.dashboards (label grafana_dashboard) and
grafana.sidecar.datasources.uid
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

from .. import names
from .backend_ports import DETECTOR_PORT  # the detectors' Service port too, in Traefik's service label

SIDECAR_LABEL = "grafana_dashboard"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
MODELS_UID, DRIFT_UID, PLATFORM_UID = "mlops-models", "mlops-drift", "mlops-platform"
WINDOW = "5m"


def outlier_fraction(model: str, window: str, port: int) -> str:
    """Outlier instances per request a model's outlier detector received over `window`: the increase of
    the detector's is_outlier counter over the increase of the requests Traefik's fan-out sent it
    (metrics.py says where each comes from). With one instance per request, as the logged
    predictions of a single row are, it is the fraction of outliers."""
    outliers = f'seldon_metric_outlier_is_outlier_total{{namespace="{names.NS_DETECTORS}",service="{model}-outlier"}}'
    received = f'traefik_service_requests_total{{service="{names.NS_DETECTORS}-{model}-outlier-{port}@kubernetescrd"}}'
    return f"sum(increase({outliers}[{window}])) / sum(increase({received}[{window}]))"


def _panel(title: str, targets: Sequence[tuple[str, str]], x: int, y: int, unit: str = "short", kind: str = "timeseries",
           w: int = 12, h: int = 8) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
    }


def _model_variable(models: Sequence[str]) -> dict[str, Any]:
    return {
        "name": "model",
        "label": "model",
        "type": "custom",
        "query": ",".join(models),
        "current": {"text": models[0] if models else "", "value": models[0] if models else ""},
        "options": [{"text": m, "value": m, "selected": i == 0} for i, m in enumerate(models)],
    }


def _dashboard(uid: str, title: str, panels: list[dict[str, Any]], variables: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    for index, panel in enumerate(panels, start=1):
        panel["id"] = index
    return {
        "uid": uid,
        "title": title,
        "tags": ["mlops-platform"],
        "timezone": "browser",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": list(variables)},
        "panels": panels,
    }


def models_dashboard(models: Sequence[str]) -> dict[str, Any]:
    # Traefik names a Kubernetes Ingress backend <namespace>-<service>-<port>; KServe's Ingress for a
    # model points at <model>-predictor.
    traefik = f'service=~"{names.NS_MODELS}-$model-predictor-.*"'
    requests = f"traefik_service_requests_total{{{traefik}}}"
    buckets = f"traefik_service_request_duration_seconds_bucket{{{traefik}}}"
    return _dashboard(MODELS_UID, "MLOps: models", [
        _panel("Requests per second", [(f"sum(rate({requests}[{WINDOW}]))", "$model")], 0, 0, "reqps"),
        _panel("Error ratio (5xx)", [
            (f'sum(rate(traefik_service_requests_total{{{traefik},code=~"5.."}}[{WINDOW}])) / sum(rate({requests}[{WINDOW}]))',
             "5xx / all")], 12, 0, "percentunit"),
        _panel("Latency through Traefik", [
            (f"histogram_quantile({q}, sum by (le) (rate({buckets}[{WINDOW}])))", f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)
        ], 0, 8, "s"),
        _panel("Model server predict latency (KServe servers)", [
            (f"histogram_quantile({q}, sum by (le) (rate(request_predict_seconds_bucket"
             f'{{namespace="{names.NS_MODELS}",model_name="$model"}}[{WINDOW}])))', f"p{int(q * 100)}")
            for q in (0.5, 0.95, 0.99)
        ], 12, 8, "s"),
        _panel("Inferences per second (MLServer: mlflow models)", [
            (f'sum(rate(model_infer_request_success_total{{namespace="{names.NS_MODELS}",model="$model"}}[{WINDOW}]))', "success"),
            (f'sum(rate(model_infer_request_failure_total{{namespace="{names.NS_MODELS}",model="$model"}}[{WINDOW}]))', "failure"),
        ], 0, 16, "reqps", w=24),
    ], [_model_variable(models)])


def drift_dashboard(models: Sequence[str]) -> dict[str, Any]:
    detectors = f'namespace="{names.NS_DETECTORS}"'
    drift = f'{detectors},service="$model-drift"'
    return _dashboard(DRIFT_UID, "MLOps: drift and outliers", [
        _panel("Drift p-value per feature (below the threshold: drift)", [
            (f"seldon_metric_drift_p_val{{{drift}}}", "feature {{index}}"),
            (f"max(seldon_metric_drift_threshold{{{drift}}})", "threshold"),
        ], 0, 0),
        _panel("Drift distance per feature", [(f"seldon_metric_drift_distance{{{drift}}}", "feature {{index}}")], 12, 0),
        _panel("Drifted (last batch)", [(f"max(seldon_metric_drift_is_drift{{{drift}}})", "drift")], 0, 8, kind="stat", w=6),
        _panel("Outliers per request (15 min)", [(outlier_fraction("$model", "15m", DETECTOR_PORT), "outliers")],
               6, 8, "percentunit", w=6),
        _panel("Firing alerts", [('count(ALERTS{alertstate="firing",model="$model"}) or vector(0)', "firing")], 12, 8,
               kind="stat", w=6),
        _panel("Detectors scraped", [(f'up{{{detectors},service=~"$model-(drift|outlier)"}}', "{{service}}")], 18, 8,
               kind="stat", w=6),
    ], [_model_variable(models)])


def platform_dashboard() -> dict[str, Any]:
    used_cpu = f'sum by (namespace) (rate(container_cpu_usage_seconds_total{{container!=""}}[{WINDOW}]))'
    used_memory = 'sum by (namespace) (container_memory_working_set_bytes{container!=""})'
    return _dashboard(PLATFORM_UID, "MLOps: platform resources", [
        _panel("CPU used and requested, by namespace", [
            (used_cpu, "{{namespace}} used"),
            ('sum by (namespace) (kube_pod_container_resource_requests{resource="cpu"})', "{{namespace}} requested"),
        ], 0, 0, "cores"),
        _panel("Memory used and requested, by namespace", [
            (used_memory, "{{namespace}} used"),
            ('sum by (namespace) (kube_pod_container_resource_requests{resource="memory"})', "{{namespace}} requested"),
        ], 12, 0, "bytes"),
        # Per node from the containers' own use (cAdvisor, by kubelet): the platform runs no node-exporter.
        _panel("Node CPU: used by containers, requested, allocatable", [
            (f'sum by (instance) (rate(container_cpu_usage_seconds_total{{container!=""}}[{WINDOW}]))', "{{instance}} used"),
            ('sum by (node) (kube_pod_container_resource_requests{resource="cpu"})', "{{node}} requested"),
            ('sum by (node) (kube_node_status_allocatable{resource="cpu"})', "{{node}} allocatable"),
        ], 0, 8, "cores"),
        _panel("Node memory: used by containers, requested, allocatable", [
            ('sum by (instance) (container_memory_working_set_bytes{container!=""})', "{{instance}} used"),
            ('sum by (node) (kube_pod_container_resource_requests{resource="memory"})', "{{node}} requested"),
            ('sum by (node) (kube_node_status_allocatable{resource="memory"})', "{{node}} allocatable"),
        ], 12, 8, "bytes"),
    ])


def dashboards(models: Sequence[str]) -> dict[str, dict[str, Any]]:
    """ConfigMap name -> dashboard. The model dashboards exist only when there are models."""
    out = {"mlops-dashboard-platform": platform_dashboard()}
    if models:
        out["mlops-dashboard-models"] = models_dashboard(models)
        out["mlops-dashboard-drift"] = drift_dashboard(models)
    return out


def as_configmap_data(dashboard: dict[str, Any]) -> dict[str, str]:
    return {f"{dashboard['uid']}.json": json.dumps(dashboard, indent=1, sort_keys=True)}


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
