"""Traefik routes (IngressRoutes) and the Middlewares that guard them.

Every route states its authentication: a forwardAuth Middleware of its namespace (a Middleware
serves its own namespace's routes), the app's own sign-in (Grafana, MLflow), or an explicit
`public` (the policy pack flags those in prod).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names

SSO_MIDDLEWARE = "sso"
TOKEN_MIDDLEWARE = "model-token"
APP_SIGN_IN = {names.SIGN_IN_ANNOTATION: "oidc"}
ISSUER_SIGN_IN = {names.SIGN_IN_ANNOTATION: "issuer"}


def ingress_route(
    resource_name: str,
    name: str,
    namespace: str,
    match: str,
    services: list[dict[str, Any]],
    tls_secret: Optional[str],
    middlewares: Sequence[str],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
    entry_points: Sequence[str] = ("websecure",),
    annotations: Optional[Mapping[str, str]] = None,
    labels: Optional[Mapping[str, str]] = None,
) -> k8s.apiextensions.CustomResource:
    """A route on Traefik; `middlewares` (of the route's namespace) run in order before its services."""
    route: dict[str, Any] = {"kind": "Rule", "match": match}
    if middlewares:
        route["middlewares"] = [{"name": m} for m in middlewares]
    route["services"] = services
    spec: dict[str, Any] = {"entryPoints": list(entry_points), "routes": [route]}
    if tls_secret:
        spec["tls"] = {"secretName": tls_secret}
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="traefik.io/v1alpha1",
        kind="IngressRoute",
        metadata={"name": name, "namespace": namespace, "labels": dict(labels) if labels else kube.labels(name, "ingress"),
                  **({"annotations": dict(annotations)} if annotations else {})},
        spec=spec,
        opts=kube.child(parent, provider, depends_on),
    )


SECURITY_HEADERS = "security-headers"
# How Traefik names a Middleware of its CRD provider from elsewhere (an entrypoint): <namespace>-<name>@kubernetescrd.
# Ref: https://doc.traefik.io/traefik/reference/routing-configuration/kubernetes/crd/http/middleware/
SECURITY_HEADERS_REF = f"{names.NS_TRAEFIK}-{SECURITY_HEADERS}@kubernetescrd"


def security_headers_middleware(resource_name: str, parent: pulumi.Resource, provider: k8s.Provider,
                                depends_on: Sequence[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
    """The response headers every route over HTTPS carries (Traefik runs it on the websecure
    entrypoint, so a route added later has it too): HSTS for a year, no MIME sniffing, no framing.
    Ref: https://doc.traefik.io/traefik/reference/routing-configuration/http/middlewares/headers/"""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="traefik.io/v1alpha1",
        kind="Middleware",
        metadata={"name": SECURITY_HEADERS, "namespace": names.NS_TRAEFIK, "labels": kube.labels(SECURITY_HEADERS, "headers")},
        spec={"headers": {
            "stsSeconds": 31536000,
            "contentTypeNosniff": True,
            "frameDeny": True,
            "referrerPolicy": "strict-origin-when-cross-origin",
        }},
        opts=kube.child(parent, provider, depends_on),
    )


def _forward_auth(resource_name: str, name: str, namespace: str, address: str, parent: pulumi.Resource,
                  provider: k8s.Provider, depends_on: Sequence[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
    # Traefik sets X-Forwarded-Host/-Uri itself; what a client sends in them is not trusted.
    # Ref: https://doc.traefik.io/traefik/reference/routing-configuration/http/middlewares/forwardauth/
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="traefik.io/v1alpha1",
        kind="Middleware",
        metadata={"name": name, "namespace": namespace, "labels": kube.labels(name, "auth")},
        spec={"forwardAuth": {
            "address": address,
            "trustForwardHeader": False,
            "authResponseHeaders": ["X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups"],
        }},
        opts=kube.child(parent, provider, depends_on),
    )


def sso_middleware(resource_name: str, namespace: str, parent: pulumi.Resource, provider: k8s.Provider,
                   depends_on: Sequence[pulumi.Resource] = ()) -> k8s.apiextensions.CustomResource:
    """Sign-in for a UI: the request passes with a session of someone in adminGroups or userGroups,
    else the browser goes to the issuer and comes back."""
    address = f"http://{names.RELEASE_SSO}.{names.NS_IDENTITY}.svc.cluster.local/"
    return _forward_auth(resource_name, SSO_MIDDLEWARE, namespace, address, parent, provider, depends_on)


def token_middleware(resource_name: str, namespace: str, parent: pulumi.Resource, provider: k8s.Provider,
                     depends_on: Sequence[pulumi.Resource] = ()) -> k8s.apiextensions.CustomResource:
    """A model call passes with a bearer token the issuer signed for the stack's client; else 401."""
    address = f"http://{names.RELEASE_TOKENS}.{names.NS_IDENTITY}.svc.cluster.local/oauth2/auth"
    return _forward_auth(resource_name, TOKEN_MIDDLEWARE, namespace, address, parent, provider, depends_on)


def traefik_reader(resource_prefix: str, namespace: str, parent: pulumi.Resource, provider: k8s.Provider,
                   depends_on: Sequence[pulumi.Resource] = ()) -> list[pulumi.Resource]:
    """What Traefik may read in a namespace whose routes it serves (names.TRAEFIK_SERVED): its routes
    and Middlewares, the Services and endpoints behind them, and the Secrets holding their
    certificates. A Role per namespace instead of the chart's ClusterRole, which reads every Secret
    in the cluster. The rules are the chart's own namespaced Role (traefik 41.3.0,
    templates/rbac/role.yaml) for the CRD and Ingress providers."""
    rules = [
        {"apiGroups": [""], "resources": ["configmaps", "services"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]},
        # cert-manager's HTTP-01 solvers (the Ingress provider): Ingresses, and their status.
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]},
        {"apiGroups": ["traefik.io"], "verbs": ["get", "list", "watch"], "resources": [
            "ingressroutes", "ingressroutetcps", "ingressrouteudps", "middlewares", "middlewaretcps", "tlsoptions",
            "tlsstores", "traefikservices", "serverstransports", "serverstransporttcps"]},
    ]
    meta = {"name": "traefik-reader", "namespace": namespace, "labels": kube.labels("traefik", "rbac")}
    role = k8s.rbac.v1.Role(f"{resource_prefix}-traefik-role", metadata=meta, rules=rules,
                            opts=kube.child(parent, provider, depends_on))
    binding = k8s.rbac.v1.RoleBinding(
        f"{resource_prefix}-traefik-binding",
        metadata=meta,
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "traefik-reader"},
        subjects=[{"kind": "ServiceAccount", "name": names.RELEASE_TRAEFIK, "namespace": names.NS_TRAEFIK}],
        opts=kube.child(parent, provider, [role]),
    )
    return [role, binding]
