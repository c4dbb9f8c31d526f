"""The pod ports behind what Traefik serves, by namespace. Both ends of each flow read this one table:
Traefik's egress (traefik.py) and each namespace's ingress from Traefik (its addon), so that neither
is wider than the other, and neither reaches a namespace or a port nothing is routed to.

A NetworkPolicy sees the pod's port, after the Service's translation: these are container ports,
not the Services' ports the routes name (tests/test_traefik_backends.py follows each route of the
rendered cluster to its pods and checks both ends).
Ref: https://kubernetes.io/docs/concepts/services-networking/network-policies/#targeting-a-range-of-ports
"""

from __future__ import annotations

from typing import Any

from .. import names, network

MLFLOW_PORT = 5000  # the mlflow chart's container port
MODEL_PORT = 8080  # KServe model servers
AGENT_PORT = 9081  # KServe's agent (logger) proxy in front of the model server
DETECTOR_PORT = 8080  # the detector servers (detector_pods.py)
DEX_PORT = 5556  # the dex chart's http port (--web-http-addr)
OAUTH2_PROXY_PORT = 4180  # the oauth2-proxy chart's container port (httpScheme http)
GRAFANA_PORT = 3000  # kube-prometheus-stack's Grafana container port
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
# cert-manager's HTTP-01 solver, a pod in the namespace of the certificate it answers for, which
# Traefik routes the Let's Encrypt challenge to.
# Ref: https://cert-manager.io/docs/configuration/acme/http01/ (acmesolver --listen-port, 8089)
ACME_SOLVER_PORT = 8089

# namespace -> (pod ports, whether its hosts get certificates a solver may answer for)
BACKENDS: dict[str, tuple[tuple[int, ...], bool]] = {
    names.NS_MLFLOW: ((MLFLOW_PORT,), True),
    names.NS_IDENTITY: ((DEX_PORT, OAUTH2_PROXY_PORT), True),  # the sign-in pages, and forwardAuth
    names.NS_MODELS: ((MODEL_PORT, AGENT_PORT), True),
    names.NS_MONITORING: ((GRAFANA_PORT, PROMETHEUS_PORT, ALERTMANAGER_PORT), True),
    names.NS_DETECTORS: ((DETECTOR_PORT,), False),  # the mirrored request logs, on an internal entrypoint
}


def _ports(namespace: str) -> tuple[int, ...]:
    ports, certificates = BACKENDS[namespace]
    return (*ports, ACME_SOLVER_PORT) if certificates else ports


def from_traefik(namespace: str) -> dict[str, Any]:
    """`namespace`'s ingress rule for what Traefik routes to it."""
    return network.from_namespace(names.NS_TRAEFIK, *_ports(namespace))


def traefik_egress() -> list[dict[str, Any]]:
    """Traefik's egress rules to the namespaces it routes to, each on its pods' ports only."""
    return [network.to_namespace(namespace, *_ports(namespace)) for namespace in BACKENDS]
