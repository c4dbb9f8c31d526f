"""Access rules: who may reach the platform, and through what.

- The load balancer is closed: the cloud's internal one, or source ranges that do not add up to the
  internet (address arithmetic: components/cidrs.py).
- Every route states its authentication: a forwardAuth Middleware (the stack's sign-in or token
  check), the app's own sign-in, or an explicit `public`; and nothing is public (advisory in dev,
  mandatory in prod, as every rule).
- No UI component reads Secrets cluster-wide (a ClusterRole bound to its service account).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from mlops_platform.components import names

from .base import Rule, cidrs_open, describe_open, dig, resource_name, stack_resources

INTERNAL_ANNOTATIONS = {key: value for annotations in names.INTERNAL_LOAD_BALANCER.values() for key, value in annotations.items()}
# Traefik's entrypoints reachable through the load balancer; a route on others (the detectors'
# fan-out) is cluster-internal.
EXTERNAL_ENTRYPOINTS = ("web", "websecure")
PUBLIC = names.PUBLIC_ANNOTATION
SIGN_IN = names.SIGN_IN_ANNOTATION
INGRESS_ROUTE = "kubernetes:traefik.io/v1alpha1:IngressRoute"
MIDDLEWARE = "kubernetes:traefik.io/v1alpha1:Middleware"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
# cert-manager's HTTP-01 solver Ingress: reachable only at /.well-known/acme-challenge/<token>.
ACME_SOLVER_LABEL = "acme.cert-manager.io/http01-solver"


def load_balancer_closed(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if dig(args.props, "spec", "type") != "LoadBalancer":
        return
    annotations = dig(args.props, "metadata", "annotations", default={}) or {}
    if any(annotations.get(key) == value for key, value in INTERNAL_ANNOTATIONS.items()):
        return
    ranges = dig(args.props, "spec", "loadBalancerSourceRanges", default=[]) or []
    name = resource_name(args.props, args.name)
    if not ranges:
        yield (f"Service {name} is a public load balancer open to the internet (no loadBalancerSourceRanges, "
               "not internal)")
    elif cidrs_open(ranges):
        yield f"Service {name}'s source ranges add up to the whole internet ({describe_open(ranges)})"


def _forward_auth_middlewares(args: Any) -> set[tuple[str, str]]:
    return {
        (str(dig(m.props, "metadata", "namespace")), str(dig(m.props, "metadata", "name")))
        for m in stack_resources(args, MIDDLEWARE)
        if dig(m.props, "spec", "forwardAuth", "address")
    }


def routes_authenticated(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    guards = _forward_auth_middlewares(args)
    for route in stack_resources(args, INGRESS_ROUTE):
        meta = route.props.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        if annotations.get(PUBLIC) == "true" or annotations.get(SIGN_IN):
            continue
        entry_points = dig(route.props, "spec", "entryPoints", default=[]) or []
        if entry_points and not set(entry_points) & set(EXTERNAL_ENTRYPOINTS):
            continue  # cluster-internal
        namespace = str(meta.get("namespace"))
        for index, rule in enumerate(dig(route.props, "spec", "routes", default=[]) or []):
            used = {(str(m.get("namespace") or namespace), str(m.get("name"))) for m in rule.get("middlewares") or []}
            if not used & guards:
                yield (f"IngressRoute {resource_name(route.props, route.name)} route {index} ({rule.get('match')}) has no "
                       f"authentication: no forwardAuth Middleware, no {SIGN_IN} or {PUBLIC} annotation", route.urn)
    for ingress in stack_resources(args, INGRESS):
        meta = ingress.props.get("metadata") or {}
        if (meta.get("labels") or {}).get(ACME_SOLVER_LABEL) or (meta.get("annotations") or {}).get(SIGN_IN):
            continue
        yield (f"Ingress {resource_name(ingress.props, ingress.name)} has no authentication (serve it with an "
               "IngressRoute behind a forwardAuth Middleware, or annotate the app's own sign-in)", ingress.urn)


def nothing_public(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if dig(args.props, "metadata", "annotations", PUBLIC) == "true":
        yield f"IngressRoute {resource_name(args.props, args.name)} is public: anyone who reaches the load balancer may use it"


# The service accounts of the components people and scripts reach: the ingress controller, the
# sign-in, and the UIs. Controllers (operators, cert-manager, KServe) are not among them.
def _is_ui_account(namespace: str, account: str) -> bool:
    if namespace in (names.NS_TRAEFIK, names.NS_IDENTITY, names.NS_MLFLOW):
        return True
    return namespace == names.NS_MONITORING and "grafana" in account


def _reads_secrets(rules: list[Mapping[str, Any]]) -> bool:
    for rule in rules:
        groups, resources, verbs = (set(rule.get(k) or []) for k in ("apiGroups", "resources", "verbs"))
        if (groups & {"", "*"}) and (resources & {"secrets", "*"}) and (verbs & {"get", "list", "watch", "*"}):
            return True
    return False


def ui_no_cluster_secrets(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    roles = {str(dig(r.props, "metadata", "name")): r for r in stack_resources(args, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")}
    for binding in stack_resources(args, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"):
        role = roles.get(str(dig(binding.props, "roleRef", "name")))
        if role is None or not _reads_secrets(role.props.get("rules") or []):
            continue
        for subject in binding.props.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount" and _is_ui_account(str(subject.get("namespace")), str(subject.get("name"))):
                yield (f"ServiceAccount {subject.get('namespace')}/{subject.get('name')} reads Secrets cluster-wide "
                       f"(ClusterRole {dig(role.props, 'metadata', 'name')})", binding.urn)


# What every HTTPS response must carry (components/addons/routes.py's Middleware sets these).
# Ref: https://doc.traefik.io/traefik/reference/routing-configuration/http/middlewares/headers/
HEADERS_REQUIRED = {"contentTypeNosniff": True, "frameDeny": True}
HSTS_MIN_SECONDS = 31536000  # a year: what HSTS preload lists ask for


def _chart_is(release: Any, chart: str) -> bool:
    reference = str(release.props.get("chart") or "")
    return reference.rsplit("/", 1)[-1] in (chart, f"{chart}-{release.props.get('version')}.tgz")


def security_headers(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A stack rule: Traefik's websecure entrypoint runs a headers Middleware that sets HSTS for a
    year, no-sniff and frame-deny, so every HTTPS route carries them."""
    headers = {f"{dig(m.props, 'metadata', 'namespace')}-{dig(m.props, 'metadata', 'name')}@kubernetescrd": dig(m.props, "spec", "headers")
               for m in stack_resources(args, MIDDLEWARE) if isinstance(dig(m.props, "spec", "headers"), Mapping)}
    for release in stack_resources(args, "kubernetes:helm.sh/v3:Release"):
        if not _chart_is(release, "traefik"):
            continue
        chosen = [headers[m] for m in dig(release.props, "values", "ports", "websecure", "http", "middlewares", default=[]) or []
                  if m in headers]
        good = [h for h in chosen if all(h.get(k) == v for k, v in HEADERS_REQUIRED.items())
                and int(h.get("stsSeconds") or 0) >= HSTS_MIN_SECONDS]
        if not good:
            yield ("Traefik's websecure entrypoint runs no headers Middleware with HSTS for a year, nosniff and frame-deny",
                   release.urn)


def grafana_cookie_secure(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if not _chart_is(args, "kube-prometheus-stack"):
        return
    if dig(args.props, "values", "grafana", "grafana.ini", "security", "cookie_secure") is not True:
        yield "Grafana's session cookie may travel over plain HTTP (grafana.ini security.cookie_secure is not true)"


CHART_NOTE = ("Objects a Helm release renders are visible to this rule in `platform plan` (which renders every chart); "
              "the engine passes the release as one resource.")

RULES = [
    Rule("access-load-balancer-closed", "access",
         "The ingress load balancer is the cloud's internal one, or its source ranges do not add up to the internet.",
         "Set platform:ingress.allowedCidrs (your office/VPN egress) or platform:ingress.internal: true.",
         load_balancer_closed, ("kubernetes:core/v1:Service",)),
    Rule("access-routes-authenticated", "access",
         "Every route through the load balancer states its authentication: a forwardAuth Middleware, the app's own "
         "sign-in, or an explicit public annotation.",
         "Add the namespace's sso (UIs) or model-token (APIs) Middleware to the route (components/addons/routes.py).",
         routes_authenticated, engine_note=CHART_NOTE),
    Rule("access-nothing-public", "access",
         "No model or UI is public (callable by anyone who reaches the load balancer).",
         "Remove public: true from the model (callers then need a bearer token from the stack's issuer).",
         nothing_public, (INGRESS_ROUTE,)),
    Rule("access-ui-no-cluster-secrets", "access",
         "No UI component (Traefik, the sign-in, Grafana, MLflow) reads Secrets cluster-wide.",
         "Grant it a Role in the namespaces it needs instead of a ClusterRole.", ui_no_cluster_secrets,
         engine_note=CHART_NOTE),
    Rule("access-security-headers", "access",
         "Every HTTPS response carries HSTS (a year), nosniff and frame-deny: a headers Middleware on Traefik's websecure entrypoint.",
         "Put the security-headers Middleware on ports.websecure.http.middlewares (components/addons/traefik.py does).",
         security_headers),
    Rule("access-grafana-cookie-secure", "access", "Grafana's session cookie is sent over HTTPS only.",
         "Set grafana.ini security.cookie_secure: true in the kube-prometheus-stack values.", grafana_cookie_secure,
         ("kubernetes:helm.sh/v3:Release",)),
]
