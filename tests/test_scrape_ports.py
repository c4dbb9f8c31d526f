"""What Prometheus scrapes, followed through the rendered cluster (issue 23, item 8): every
ServiceMonitor and PodMonitor outside the monitoring namespace leads to pod ports its egress opens,
and its egress opens no other namespace or port (the kubelets', the API's and an issuer's aside)."""

from __future__ import annotations

import pytest

from mlops_platform.components import names
from mlops_platform.components.addons.scrape_ports import COREDNS_METRICS_PORT, KUBE_SYSTEM, SCRAPED
from support.rendered import STACKS, check_egress, of, over_stacks, pod_ports

# Not pods: the API server's endpoints (its own egress rule), and the kubelets on the nodes (theirs).
NOT_PODS = {("default", "https"), (KUBE_SYSTEM, "https-metrics")}


def _scraped(view) -> dict[str, set[int]]:
    needed: dict[str, set[int]] = {}
    for monitor in (*of(view, "ServiceMonitor"), *of(view, "PodMonitor")):
        own = monitor["metadata"]["namespace"]
        for namespace in (monitor["spec"].get("namespaceSelector") or {}).get("matchNames") or [own]:
            if namespace == names.NS_MONITORING:
                continue  # its own namespace: the baseline policy
            selector = monitor["spec"]["selector"]["matchLabels"]
            for endpoint in monitor["spec"].get("endpoints") or monitor["spec"].get("podMetricsEndpoints"):
                port = endpoint.get("port") or endpoint.get("portNumber")
                if (namespace, port) in NOT_PODS:
                    continue
                if namespace == KUBE_SYSTEM:  # the cluster's own DNS, not rendered: CoreDNS's documented port
                    ports = {COREDNS_METRICS_PORT}
                elif monitor["kind"] == "PodMonitor":
                    ports = {port}
                else:
                    [service] = [s for s in of(view, "Service") if s["metadata"].get("namespace") == namespace
                                 and selector.items() <= s["metadata"].get("labels", {}).items()]
                    ports = pod_ports(view, namespace, service["metadata"]["name"], port)
                needed.setdefault(namespace, set()).update(ports)
    return needed


@pytest.mark.parametrize("stack", STACKS)
def test_every_scrape_is_allowed_and_nothing_else(viewed, stack):
    view = viewed(stack)
    needed = _scraped(view)
    assert {names.NS_MLFLOW, names.NS_MODELS, names.NS_DETECTORS, names.NS_TRAEFIK, names.NS_CERT_MANAGER} <= set(needed)
    check_egress(view, names.NS_MONITORING, needed)


def test_the_table_is_what_the_stacks_scrape(viewed):
    assert {namespace: set(ports) for namespace, ports in SCRAPED.items()} == over_stacks(viewed, _scraped)
