"""The pod ports Prometheus scrapes outside its own namespace, by namespace: its egress
(monitoring.py) reaches those and no other (the API server's, the kubelets' and an issuer's on 443
aside). A NetworkPolicy sees the pod's port, after the Service's translation; tests/test_scrape_ports.py
follows every ServiceMonitor and PodMonitor of the rendered cluster to its pods' ports.
Ref: https://prometheus-operator.dev/docs/developer/getting-started/#using-servicemonitors
"""

from __future__ import annotations

from typing import Any

from .. import names, network
from .backend_ports import DETECTOR_PORT, MLFLOW_PORT, MODEL_PORT

CERT_MANAGER_METRICS_PORT = 9402  # the cert-manager chart's controller (http-metrics)
TRAEFIK_METRICS_PORT = 9100  # the traefik chart's `metrics` entrypoint
# The cluster's own DNS, which kube-prometheus-stack's coreDns monitor scrapes: CoreDNS (k8s-app:
# kube-dns) on EKS, AKS and kind serves its metrics there; GKE's kube-dns has no such port to scrape.
# Ref: https://coredns.io/plugins/metrics/
KUBE_SYSTEM = "kube-system"
COREDNS_METRICS_PORT = 9153

SCRAPED: dict[str, tuple[int, ...]] = {
    names.NS_CERT_MANAGER: (CERT_MANAGER_METRICS_PORT,),
    names.NS_TRAEFIK: (TRAEFIK_METRICS_PORT,),
    names.NS_MLFLOW: (MLFLOW_PORT,),  # MLflow's own port serves /metrics (--expose-prometheus)
    names.NS_MODELS: (MODEL_PORT,),
    names.NS_DETECTORS: (DETECTOR_PORT,),
    KUBE_SYSTEM: (COREDNS_METRICS_PORT,),
}


def monitoring_egress() -> list[dict[str, Any]]:
    """Prometheus's egress rules to the namespaces it scrapes, each on the scraped pods' ports only."""
    return [network.to_namespace(namespace, *ports) for namespace, ports in SCRAPED.items()]
