"""Every metric name the platform's dashboards and alert rules read, with the component that exports
it and where that is written down. tests/test_dashboards.py parses every PromQL expression and
fails on a name not listed here, so a dashboard cannot silently read a metric nothing exports.
"""

from __future__ import annotations

EXPORTED: dict[str, str] = {
    # Traefik's Prometheus metrics (service labels on by default; the platform enables the metrics Service).
    # Ref: https://doc.traefik.io/traefik/observability/metrics/overview/ (Service metrics)
    "traefik_service_requests_total": "Traefik: requests per service, with code and method labels",
    "traefik_service_request_duration_seconds_bucket": "Traefik: request duration histogram per service",
    # Every Kubernetes service Traefik load-balances gets service metrics, a mirror's target too (the
    # detectors' fan-out): its `service` label is <namespace>-<name>-<port>@kubernetescrd.
    # Ref: traefik/traefik pkg/server/service/service.go (getLoadBalancerServiceHandler) and
    # pkg/provider/kubernetes/crd/kubernetes_http.go (fullServiceName), read at v3.7.9.
    # KServe's Python model servers (sklearn, xgboost, lightgbm), label model_name.
    # Ref: kserve/kserve python/kserve/kserve/metrics.py (PREDICT_HIST_TIME)
    "request_predict_seconds_bucket": "KServe model server: predict latency histogram",
    # MLServer (the mlflow format), labels model and version.
    # Ref: SeldonIO/MLServer mlserver/handlers/dataplane.py (_ModelInferRequestSuccess, ...Failure)
    "model_infer_request_success_total": "MLServer: successful inferences",
    "model_infer_request_failure_total": "MLServer: failed inferences",
    # alibi-detect-server (the detectors), read at the pinned tag v1.17.1 of SeldonIO/seldon-core
    # (never a newer or older copy: the metric types changed between releases), labelled index.
    # Ref: components/alibi-detect-server/adserver/cd_model.py at v1.17.1 (_append_drift_metrcs: GAUGEs)
    "seldon_metric_drift_is_drift": "drift detector: 1 when the last batch drifted",
    "seldon_metric_drift_p_val": "drift detector: p-value per feature",
    "seldon_metric_drift_distance": "drift detector: test statistic per feature",
    "seldon_metric_drift_threshold": "drift detector: the p-value threshold",
    # Ref: components/alibi-detect-server/adserver/od_model.py at v1.17.1: is_outlier is reported with
    # is_count=True, a COUNTER (incremented by 1 per outlier instance), and python/seldon_core/metrics.py
    # exposes COUNTERs through prometheus_client's CounterMetricFamily, which appends `_total`.
    # instance_score is a GAUGE.
    "seldon_metric_outlier_is_outlier_total": "outlier detector: outlier instances seen (a counter)",
    "seldon_metric_outlier_instance_score": "outlier detector: the instance's outlier score",
    # Prometheus itself. Ref: https://prometheus.io/docs/concepts/jobs_instances/ (up),
    # https://prometheus.io/docs/prometheus/latest/configuration/alerting_rules/ (ALERTS)
    "up": "Prometheus: 1 when the last scrape of a target succeeded",
    "ALERTS": "Prometheus: one series per pending or firing alert",
    # cAdvisor, through the kubelet (kube-prometheus-stack scrapes /metrics/cadvisor).
    # Ref: https://github.com/google/cadvisor/blob/master/docs/storage/prometheus.md
    "container_cpu_usage_seconds_total": "cAdvisor: CPU time per container",
    "container_memory_working_set_bytes": "cAdvisor: working set memory per container",
    # kube-state-metrics v2. Ref: https://github.com/kubernetes/kube-state-metrics/tree/main/docs/metrics
    "kube_pod_container_resource_requests": "kube-state-metrics: requests per container (resource, unit labels)",
    "kube_node_status_allocatable": "kube-state-metrics: allocatable per node (resource label)",
}
# Not exported on this platform, so not listed: node-exporter's node_* metrics (monitoring.py turns
# node-exporter off: kind and the managed clusters do not need it for the dashboards above).
