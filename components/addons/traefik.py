"""Traefik: the ingress controller for every UI and model endpoint.

- IngressClass `traefik` (default class), HTTP redirected to HTTPS.
- A default TLS certificate for `*.<domain>` signed by the platform CA.
- The dashboard at `traefik.<domain>`, behind the stack's sign-in (identity.py: `sso_middleware`).
- Its RBAC reads Secrets (TLS certificates) only in the namespaces whose routes it serves (Roles,
  not the chart's ClusterRole), and its public Service is shaped by `platform:ingress`.
- A cluster-internal entrypoint (`detectors`, port 9101) on a ClusterIP Service of its own:
  KServe's request logger posts there, and a mirroring TraefikService fans each request out to a
  model's drift and outlier detectors (KServe's logger takes a single URL).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names, network, versions
from ..cluster.outputs import IngressExposure
from ..image_source import ImageSource
from ..requests import WorkloadRequest, from_values
from .backend_ports import traefik_egress
from .cert_manager import certificate
from .routes import SECURITY_HEADERS_REF, SSO_MIDDLEWARE, ingress_route, security_headers_middleware, sso_middleware, traefik_reader
from .scrape import ScrapeTarget

DEFAULT_CERT_SECRET = "traefik-default-cert"
# Traefik's Prometheus metrics (on by default, entrypoint `metrics`) through the chart's metrics
# Service; the Monitoring component scrapes it: the models dashboard reads requests and latency here.
METRICS = ScrapeTarget(
    "traefik", names.NS_TRAEFIK,
    {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/component": "metrics"}, "metrics",
)
WEB_PORT, WEBSECURE_PORT = 8000, 8443  # the chart's container ports for the web/websecure entrypoints


@dataclass(frozen=True)
class TraefikArgs:
    provider: k8s.Provider
    domain: str
    exposure: IngressExposure
    issuer: str  # ClusterIssuer for the dashboard host
    issuers: tuple[pulumi.Resource, ...] = ()  # the ClusterIssuers our Certificates need
    replicas: int = 1
    # platform:ingress: source ranges on the load balancer, and whether it is the cloud's internal one.
    allowed_cidrs: tuple[str, ...] = ()
    internal: bool = False
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)
    images: ImageSource = ImageSource()  # where each image is pulled from (lock, mirror)


def chart_values(args: TraefikArgs) -> dict[str, Any]:
    exposure = args.exposure
    web: dict[str, Any] = {
        "http": {"redirections": {"entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}}},
        # ACME HTTP-01 challenges must be answered on plain HTTP, not redirected.
        "allowACMEByPass": True,
    }
    # TLS on websecure is the chart's default; every route on it gets the security headers.
    websecure: dict[str, Any] = {"http": {"middlewares": [SECURITY_HEADERS_REF]}}
    if exposure.node_ports:
        web["nodePort"], websecure["nodePort"] = exposure.node_ports
    # On the clouds the chart's own Service stays ClusterIP: the public load balancer is a Service
    # this component owns (`load_balancer_service`), so `destroy` waits until the cloud has
    # deleted it (its finalizer) before the cluster goes — no orphaned, billing load balancer.
    chart_service_type = "ClusterIP" if exposure.service_type == "LoadBalancer" else exposure.service_type
    # Since chart v40 a Service's type lives under `spec` — for the default Service and for
    # additionalServices alike; a top-level `type` is no longer read and the type would fall back
    # to LoadBalancer. The `internal` Service (named traefik-internal) carries only the detector
    # fan-out entrypoint and must never leave the cluster.
    # Ref: https://github.com/traefik/traefik-helm-chart/pull/1686 (v40.0.0 upgrade notes)
    service: dict[str, Any] = {
        "spec": {"type": chart_service_type},
        "additionalServices": {"internal": {"spec": {"type": "ClusterIP"}}},
    }
    values: dict[str, Any] = {
        # Stable pod labels for the load balancer Service and NetworkPolicies.
        "instanceLabelOverride": names.RELEASE_TRAEFIK,
        "deployment": {"replicas": args.replicas},
        "providers": {
            "kubernetesCRD": {
                # The dashboard route refers to api@internal, a cross-provider reference
                # (needed from Traefik v3.7.1). Ref: chart 41.3.0 values, providers.kubernetesCRD
                "crossProviderNamespaces": [names.NS_TRAEFIK],
                # Only the platform's namespaces: Traefik's RBAC is a Role in each (routes.traefik_reader).
                "namespaces": list(names.TRAEFIK_SERVED),
            },
            # Every route of ours is an IngressRoute (routes.py); the only Ingresses are cert-manager's
            # HTTP-01 challenge solvers, which name the class in the kubernetes.io/ingress.class
            # annotation (no IngressClass is read).
            "kubernetesIngress": {"namespaces": list(names.TRAEFIK_SERVED)},
        },
        # The chart's RBAC would be a ClusterRole reading every Secret; routes.traefik_reader grants
        # the same per served namespace, and nothing cluster-scoped is read (Nodes, IngressClasses).
        # Ref: https://doc.traefik.io/traefik/reference/install-configuration/providers/kubernetes/kubernetes-crd/
        "rbac": {"enabled": False},
        "ingressClass": {"enabled": False},
        "additionalArguments": [
            "--providers.kubernetescrd.disableClusterScopeResources=true",
            "--providers.kubernetesingress.disableClusterScopeResources=true",
        ],
        "ports": {
            "web": web,
            "websecure": websecure,
            # Exposed only on the `internal` Service (a new port's exposedPort is its port, TCP).
            names.DETECTOR_ENTRYPOINT: {"port": names.DETECTOR_ENTRYPOINT_PORT, "expose": {"internal": True}},
        },
        "service": service,
        "metrics": {"prometheus": {"service": {"enabled": True}}},
        "tlsStore": {"default": {"defaultCertificate": {"secretName": DEFAULT_CERT_SECRET}}},
        "resources": kube.resources("50m", "64Mi", "256Mi"),
        "nodeSelector": dict(exposure.node_selector),
        "tolerations": [dict(t) for t in exposure.tolerations],
    }
    if args.replicas > 1:
        values["podDisruptionBudget"] = {"enabled": True, "maxUnavailable": 1}
    return values


def chart_requests(values: dict[str, Any]) -> list[WorkloadRequest]:
    return [from_values("traefik", values, ("resources",), replicas=("deployment", "replicas"))]


class Traefik(pulumi.ComponentResource):
    def __init__(self, name: str, args: TraefikArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:Traefik", name, None, opts)
        provider = args.provider
        ns = kube.namespace(names.NS_TRAEFIK, f"{name}-ns", self, provider, depends_on=args.depends_on)
        network.namespace_policies(
            name, names.NS_TRAEFIK, self, provider,
            ingress=[
                network.from_anywhere(WEB_PORT, WEBSECURE_PORT),
                network.from_namespace(names.NS_MODELS, names.DETECTOR_ENTRYPOINT_PORT),  # request logs
            ],
            # The pods it routes to, on their ports only (backend_ports.py), and the API for its providers.
            egress=[*traefik_egress(), network.to_kubernetes_api()],
            depends_on=ns.ready,
        )
        certificate(
            f"{name}-default-cert",
            names.NS_TRAEFIK,
            DEFAULT_CERT_SECRET,
            [args.domain, f"*.{args.domain}"],
            names.CA_ISSUER,  # wildcards cannot be issued over HTTP-01: the CA signs the fallback
            self,
            provider,
            [*ns.ready, *args.issuers],
        )
        # Not after the default certificate: Traefik serves its own until the Secret appears (it
        # watches Secrets), so the install need not wait for cert-manager.
        access = traefik_reader(name, names.NS_TRAEFIK, self, provider, ns.ready)
        self.release = kube.helm_release(f"{name}-release", names.RELEASE_TRAEFIK, versions.TRAEFIK, ns.name, self, provider,
                                         [*ns.ready, *access], values=chart_values(args), images=args.images)
        sso = sso_middleware(f"{name}-sso", names.NS_TRAEFIK, self, provider, [self.release])
        security_headers_middleware(f"{name}-security-headers", self, provider, [self.release])
        host = f"traefik.{args.domain}"
        tls = certificate(
            f"{name}-dashboard-cert", names.NS_TRAEFIK, "traefik-dashboard-tls", [host], args.issuer, self, provider,
            [*ns.ready, *args.issuers],
        )
        self.dashboard = ingress_route(
            f"{name}-dashboard",
            "traefik-dashboard",
            names.NS_TRAEFIK,
            f"Host(`{host}`) && (PathPrefix(`/dashboard`) || PathPrefix(`/api`))",
            [{"name": "api@internal", "kind": "TraefikService"}],
            "traefik-dashboard-tls",
            [SSO_MIDDLEWARE],
            self,
            provider,
            [self.release, tls, sso],
        )
        if args.exposure.service_type == "LoadBalancer":
            exposure = dataclasses.replace(
                args.exposure,
                load_balancer_source_ranges=(*args.exposure.load_balancer_source_ranges, *args.allowed_cidrs),
                service_annotations={**args.exposure.service_annotations,
                                     **(args.exposure.internal_annotations if args.internal else {})},
            )
            self.load_balancer = load_balancer_service(f"{name}-lb", exposure, self, provider, [self.release])
        self.internal_service = f"{names.TRAEFIK_INTERNAL_SERVICE}.{names.NS_TRAEFIK}.svc.cluster.local"
        self.url = f"https://{host}/dashboard/"
        self.register_outputs({"dashboard": self.url, "release": self.release.status})


POD_SELECTOR = {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": names.RELEASE_TRAEFIK}


def load_balancer_service(
    resource_name: str,
    exposure: IngressExposure,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource],
) -> k8s.core.v1.Service:
    """The public entry point on a cloud: a LoadBalancer Service selecting Traefik's pods.

    Never `deleted_with` the cluster: deleting it must wait for the cloud to release the load
    balancer, which the Kubernetes provider does by waiting for the object to disappear.
    """
    spec: dict[str, Any] = {
        "type": "LoadBalancer",
        # Keep client source IPs and skip the extra node hop.
        "externalTrafficPolicy": "Local",
        "selector": POD_SELECTOR,
        "ports": [
            {"name": "web", "port": 80, "targetPort": "web", "protocol": "TCP"},
            {"name": "websecure", "port": 443, "targetPort": "websecure", "protocol": "TCP"},
        ],
    }
    if exposure.load_balancer_source_ranges:
        spec["loadBalancerSourceRanges"] = list(exposure.load_balancer_source_ranges)
    return k8s.core.v1.Service(
        resource_name,
        metadata={
            "name": "traefik-lb",
            "namespace": names.NS_TRAEFIK,
            "labels": kube.labels("traefik", "load-balancer"),
            "annotations": dict(exposure.service_annotations),
        },
        spec=spec,
        opts=kube.child(parent, provider, depends_on),
    )
