"""What Traefik serves, followed through the rendered cluster (issue 23, item 8): each route's Service
has the port the route names (Traefik finds no server otherwise), and each flow from Traefik to the
pods behind a route, a forwardAuth address or an ACME challenge is allowed at both ends: Traefik's
egress and the namespace's ingress. Traefik's egress reaches no other namespace or port."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from mlops_platform.components import names
from mlops_platform.components.addons.backend_ports import ACME_SOLVER_PORT, BACKENDS
from support.rendered import STACKS, check_egress, of, opens, over_stacks, pod_ports, policy


def _service_backends(view):
    """(namespace, Service, port) of every route: Services, and those behind TraefikServices."""
    traefik_services = {(m["metadata"]["namespace"], m["metadata"]["name"]): m["spec"] for m in of(view, "TraefikService")}
    out = []
    for route in of(view, "IngressRoute"):
        namespace = route["metadata"]["namespace"]
        for rule in route["spec"]["routes"]:
            for service in rule["services"]:
                if service["name"].endswith("@internal"):  # Traefik's own API and dashboard
                    continue
                if service.get("kind") == "TraefikService":
                    spec = traefik_services[(service.get("namespace", namespace), service["name"])]["mirroring"]
                    out += [(namespace, s["name"], s["port"]) for s in (spec, *spec["mirrors"])]
                else:
                    out.append((service.get("namespace", namespace), service["name"], service["port"]))
    for middleware in of(view, "Middleware"):
        if "forwardAuth" in middleware.get("spec", {}):
            host, port = urlsplit(middleware["spec"]["forwardAuth"]["address"]).hostname, 80
            service, namespace = host.split(".")[:2]
            out.append((namespace, service, port))
    return out


def _needed(view) -> dict[str, set[int]]:
    """The pod ports Traefik reaches in each namespace but its own, for this rendered cluster."""
    needed: dict[str, set[int]] = {}
    for namespace, service, port in _service_backends(view):
        needed.setdefault(namespace, set()).update(pod_ports(view, namespace, service, port))
    for certificate in of(view, "Certificate"):
        if certificate["spec"]["issuerRef"]["name"] == names.ACME_ISSUER and certificate["metadata"]["namespace"] != names.NS_TRAEFIK:
            needed.setdefault(certificate["metadata"]["namespace"], set()).add(ACME_SOLVER_PORT)
    needed.pop(names.NS_TRAEFIK, None)  # its own namespace: the baseline policy
    return needed


@pytest.mark.parametrize("stack", STACKS)
def test_every_backend_is_reachable_at_both_ends_and_nothing_else(viewed, stack):
    view = viewed(stack)
    needed = _needed(view)
    assert {names.NS_MLFLOW, names.NS_IDENTITY, names.NS_MONITORING, names.NS_MODELS, names.NS_DETECTORS} <= set(needed)
    # Nothing wider than what is routed to here, or (a backend this stack does not deploy, such as Dex
    # beside another issuer) the table's ports.
    check_egress(view, names.NS_TRAEFIK, needed, lambda namespace: {ACME_SOLVER_PORT, *BACKENDS[namespace][0]})
    for namespace, ports in needed.items():
        admitted = opens(policy(view, namespace)["ingress"], "from", names.NS_TRAEFIK)
        assert admitted is not None and ports <= admitted, f"{namespace} admits Traefik on {admitted}, needs {ports}"


def test_every_port_of_the_table_is_routed_to_in_some_stack(viewed):
    routed = over_stacks(viewed, _needed)
    for namespace, (ports, _) in BACKENDS.items():
        assert set(ports) <= routed[namespace], f"{namespace}: {set(ports) - routed[namespace]} open to Traefik, routed nowhere"
