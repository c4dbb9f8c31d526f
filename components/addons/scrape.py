"""What Prometheus scrapes: a Service's metrics port, as a prometheus-operator ServiceMonitor.

Prometheus discovers ServiceMonitors in every namespace (components/addons/monitoring.py). The
CRD exists only once kube-prometheus-stack is installed, so components installed before it or
beside it (cert-manager, MLflow) cannot ship one in their own release without waiting for it: the
Monitoring component creates theirs, from the ScrapeTargets the platform hands it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube


@dataclass(frozen=True)
class ScrapeTarget:
    name: str  # the ServiceMonitor's name
    namespace: str
    selector: Mapping[str, str]  # labels of the Service to scrape
    port: str  # the Service's port name
    path: str = "/metrics"
    interval: str = "30s"


def service_monitor(
    resource_name: str,
    target: ScrapeTarget,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="monitoring.coreos.com/v1",
        kind="ServiceMonitor",
        metadata={"name": target.name, "namespace": target.namespace, "labels": kube.labels(target.name, "metrics")},
        spec={
            "selector": {"matchLabels": dict(target.selector)},
            "endpoints": [{"port": target.port, "path": target.path, "interval": target.interval}],
        },
        opts=kube.child(parent, provider, depends_on),
    )
