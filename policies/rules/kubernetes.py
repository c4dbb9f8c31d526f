"""Kubernetes workload rules, applied to every pod spec, including those inside custom resources
(KServe InferenceServices and serving runtimes, Seldon deployments), which generic scanners skip."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable, Iterator, Mapping

from mlops_platform.components import names
from mlops_platform.components.quantities import quantity
from mlops_platform.components.requests import limit_range_defaults, with_limit_range

from .base import WORKLOAD_TYPES, PodSpec, Rule, containers_of, dig, opens_port, pod_specs, resource_name, stack_resources

API_ACCESS_ANNOTATION = "mlops.dev/kubernetes-api-access"
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def _pods(args: Any) -> Iterator[PodSpec]:
    return pod_specs(args.resource_type, args.props, args.name)


def _ctx(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return container.get("securityContext") or {}


def no_privileged(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    for pod in _pods(args):
        for where, container in containers_of(pod):
            if _ctx(container).get("privileged") is True:
                yield f"{where} is privileged"


def no_host_namespaces(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    for pod in _pods(args):
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.spec.get(flag) is True:
                yield f"{pod.where} sets {flag}"


def no_host_path(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    for pod in _pods(args):
        for volume in pod.spec.get("volumes") or []:
            if isinstance(volume, Mapping) and "hostPath" in volume:
                yield f"{pod.where} mounts hostPath volume {volume.get('name')}"


def no_host_ports(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    for pod in _pods(args):
        for where, container in containers_of(pod):
            for port in container.get("ports") or []:
                if isinstance(port, Mapping) and port.get("hostPort"):
                    yield f"{where} binds hostPort {port.get('hostPort')}"


def no_privilege_escalation(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    for pod in _pods(args):
        for where, container in containers_of(pod):
            if _ctx(container).get("allowPrivilegeEscalation") is not False:
                yield f"{where} does not set allowPrivilegeEscalation: false"


def run_as_non_root(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    for pod in _pods(args):
        pod_level = (pod.spec.get("securityContext") or {}).get("runAsNonRoot")
        for where, container in containers_of(pod):
            value = _ctx(container).get("runAsNonRoot", pod_level)
            if value is not True or _ctx(container).get("runAsUser") == 0:
                yield f"{where} may run as root (runAsNonRoot is not true)"


def drop_all_capabilities(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    for pod in _pods(args):
        for where, container in containers_of(pod):
            dropped = dig(_ctx(container), "capabilities", "drop", default=[]) or []
            if "ALL" not in dropped:
                yield f"{where} does not drop ALL capabilities"


def seccomp_runtime_default(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    for pod in _pods(args):
        pod_profile = dig(pod.spec, "securityContext", "seccompProfile", "type")
        for where, container in containers_of(pod):
            profile = dig(_ctx(container), "seccompProfile", "type") or pod_profile
            if profile not in ("RuntimeDefault", "Localhost"):
                yield f"{where} has no RuntimeDefault seccomp profile"


def _namespace_of(resource: Any) -> str:
    return str(dig(resource.props, "metadata", "namespace", default=""))


def requests_and_memory_limit(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """Every container has CPU and memory requests and a memory limit once admitted: its own, or
    those its namespace's LimitRange fills in (admission defaults a container that declares none),
    and the memory limit it ends up with is not below its request (admission would refuse it)."""
    defaults = limit_range_defaults(r.props for r in args.resources)
    for resource in args.resources:
        if resource.resource_type not in WORKLOAD_TYPES:
            continue
        namespace_defaults = defaults.get(_namespace_of(resource), {})
        for pod in pod_specs(resource.resource_type, resource.props, resource.name):
            for where, container in containers_of(pod):
                resources = with_limit_range(container.get("resources") or {}, namespace_defaults)
                requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
                missing = [r for r in ("cpu", "memory") if not requests.get(r)]
                if missing:
                    yield (f"{where} has no {' or '.join(missing)} request", resource.urn)
                if not limits.get("memory"):
                    yield (f"{where} has no memory limit", resource.urn)
                elif requests.get("memory") and quantity(requests["memory"]) > quantity(limits["memory"]):
                    yield (f"{where} requests {requests['memory']} of memory, above its limit {limits['memory']}", resource.urn)


def pinned_image_tags(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    for pod in _pods(args):
        for where, container in containers_of(pod):
            image = container.get("image")
            if not image:  # KServe fills the model container's image from its runtime
                continue
            if _DIGEST.search(image):
                continue
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else ""
            if not tag or tag == "latest":
                yield f"{where} uses image {image!r}: pin a version tag or a digest, never latest"


def webhooks_fail_closed(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    """failurePolicy Ignore lets every request the webhook cannot answer through unchecked (v1's
    default is Fail). Ref: https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/#failure-policy"""
    for hook in args.props.get("webhooks") or []:
        policy = hook.get("failurePolicy") or "Fail"
        if policy != "Fail":
            yield (f"webhook {hook.get('name', '?')} of {resource_name(args.props, args.name)} fails open "
                   f"(failurePolicy {policy}): a request it cannot check is let through")


MAX_CA_HOURS = 5 * 8760
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns)")
_UNIT_HOURS = {"h": 1.0, "m": 1 / 60, "s": 1 / 3600, "ms": 1 / 3.6e6, "us": 1 / 3.6e9, "µs": 1 / 3.6e9, "ns": 1 / 3.6e12}


def ca_lifetime(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    """A CA certificate lives five years at most (cert-manager's `duration`, a Go duration; its
    default is 90 days)."""
    spec = args.props.get("spec") or {}
    if spec.get("isCA") is not True:
        return
    text = str(spec.get("duration") or "2160h")
    parts = _GO_DURATION.findall(text)
    total = sum(float(value) * _UNIT_HOURS[unit] for value, unit in parts)
    if not parts or "".join(v + u for v, u in parts) != text or total > MAX_CA_HOURS:
        yield (f"CA certificate {resource_name(args.props, args.name)} lives {text}, longer than five years "
               f"({MAX_CA_HOURS}h) or not a duration")


# Serving runtimes are templates: the predictor that uses one decides its pod's token and account.
_RUNTIME_TEMPLATES = ("kubernetes:serving.kserve.io/v1alpha1:ServingRuntime", "kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime")
_BINDINGS = ("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")


def _bound_accounts(args: Any) -> set[tuple[str, str]]:
    """(namespace, name) of every ServiceAccount some RoleBinding or ClusterRoleBinding grants API access."""
    out = set()
    for binding in stack_resources(args, *_BINDINGS):
        for subject in binding.props.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                out.add((str(subject.get("namespace") or _namespace_of(binding)), str(subject.get("name"))))
    return out


def token_automount_off(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """A service-account token is mounted only where the account is granted API access (an RBAC
    binding) or the workload declares the need; an account nobody grants anything keeps it off."""
    bound = _bound_accounts(args)
    accounts = {
        (_namespace_of(r), str(dig(r.props, "metadata", "name", default=r.name))): r
        for r in stack_resources(args, "kubernetes:core/v1:ServiceAccount")
    }
    for key, account in accounts.items():
        if account.props.get("automountServiceAccountToken") is not False and key not in bound:
            yield (f"ServiceAccount {key[0]}/{key[1]} mounts its token by default but no RBAC binding grants it API access",
                   account.urn)
    for resource in args.resources:
        if resource.resource_type not in WORKLOAD_TYPES or resource.resource_type in _RUNTIME_TEMPLATES:
            continue
        namespace = _namespace_of(resource)
        for pod in pod_specs(resource.resource_type, resource.props, resource.name):
            if pod.annotations.get(API_ACCESS_ANNOTATION) == "true" or not pod.containers:
                continue
            account = str(pod.spec.get("serviceAccountName") or "default")
            mounted = pod.spec.get("automountServiceAccountToken")
            if mounted is None:  # the pod inherits its account's setting (true for an unknown account)
                known = accounts.get((namespace, account))
                mounted = known is None or known.props.get("automountServiceAccountToken") is not False
            if mounted and (namespace, account) not in bound:
                yield (f"{pod.where} mounts a token of service account {account}, which no RBAC binding grants API access",
                       resource.urn)


# The only verbs beyond the standard ones (get, list, watch, create, update, patch, delete,
# deletecollection), and the resources they apply to: a '*' verb there grants privilege escalation.
# Ref: https://kubernetes.io/docs/reference/access-authn-authz/rbac/#privilege-escalation-prevention-and-bootstrapping
# and https://kubernetes.io/docs/reference/access-authn-authz/authentication/#user-impersonation
SPECIAL_VERB_RESOURCES = {
    "roles", "clusterroles", "rolebindings", "clusterrolebindings",  # escalate, bind
    "users", "groups", "serviceaccounts", "uids", "userextras",  # impersonate
    "certificatesigningrequests", "certificatesigningrequests/approval", "signers",  # approve, sign
    "podsecuritypolicies",  # use
}


def no_wildcard_rbac(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    """No '*' API groups or resources anywhere; '*' verbs only where every verb is a standard one."""
    for index, rule in enumerate(args.props.get("rules") or []):
        where = f"{args.resource_type.rsplit(':', 1)[-1]} {resource_name(args.props, args.name)} rule {index}"
        for field in ("apiGroups", "resources"):
            if "*" in (rule.get(field) or []):
                yield f"{where} grants '*' {field}"
        special = sorted(set(rule.get("resources") or []) & SPECIAL_VERB_RESOURCES)
        if "*" in (rule.get("verbs") or []) and (special or rule.get("nonResourceURLs")):
            yield f"{where} grants '*' verbs on {', '.join(special) or 'non-resource URLs'} (escalate, bind, impersonate, approve)"


def load_balancer_only_for_ingress(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if dig(args.props, "spec", "type") != "LoadBalancer":
        return
    meta = args.props.get("metadata") or {}
    is_ingress = meta.get("namespace") == names.NS_TRAEFIK and dig(meta, "labels", "app.kubernetes.io/name") == "traefik"
    if not is_ingress:
        yield f"Service {resource_name(args.props, args.name)} is a LoadBalancer; only the ingress controller may be one"


def _is_default_deny(policy: Mapping[str, Any]) -> bool:
    spec = policy.get("spec") or {}
    return (
        (spec.get("podSelector") or {}) == {}
        and set(spec.get("policyTypes") or []) >= {"Ingress", "Egress"}
        and not spec.get("ingress")
        and not spec.get("egress")
    )


def _allows_dns(policy: Mapping[str, Any]) -> bool:
    for rule in dig(policy, "spec", "egress", default=[]) or []:
        if any(p.get("port") == 53 for p in rule.get("ports") or []):
            return True
    return False


def namespace_default_deny(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    policies: dict[str, list[Mapping[str, Any]]] = {}
    for resource in stack_resources(args, "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        namespace = dig(resource.props, "metadata", "namespace")
        policies.setdefault(namespace, []).append(resource.props)
    for namespace in stack_resources(args, "kubernetes:core/v1:Namespace"):
        name = dig(namespace.props, "metadata", "name") or namespace.name
        own = policies.get(name, [])
        if not any(_is_default_deny(p) for p in own):
            yield (f"namespace {name} has no default-deny NetworkPolicy (ingress and egress)", namespace.urn)
        elif not any(_allows_dns(p) for p in own):
            yield (f"namespace {name} denies all egress but does not allow DNS", namespace.urn)


METADATA_ADDRESS = ipaddress.ip_address("169.254.169.254")
METADATA_PORTS = (80, 988)  # IMDS on EC2 and Azure; GKE's metadata server adds 988


def _covers(cidr: Any, address: Any) -> bool:
    try:
        return address in ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return False


def _reaches_metadata(rule: Mapping[str, Any]) -> bool:
    """Whether a NetworkPolicy egress rule lets a pod reach the instance-metadata address's ports."""
    if not opens_port(rule, METADATA_PORTS):
        return False
    peers = rule.get("to") or []
    if not peers:
        return True  # no `to`: every destination
    for peer in peers:
        block = peer.get("ipBlock")
        if isinstance(block, Mapping) and _covers(block.get("cidr"), METADATA_ADDRESS) \
                and not any(_covers(cidr, METADATA_ADDRESS) for cidr in block.get("except") or []):
            return True
    return False


def metadata_closed(args: Any, config: Mapping[str, Any]) -> Iterator[Any]:
    if config.get("metadataAllowed"):
        return
    for resource in stack_resources(args, "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        if any(_reaches_metadata(rule) for rule in dig(resource.props, "spec", "egress", default=[]) or []):
            yield (f"NetworkPolicy {resource_name(resource.props, resource.name)} lets pods reach the instance-metadata "
                   f"address {METADATA_ADDRESS} (the node's own identity)", resource.urn)


def pod_security_labels(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    labels = dig(args.props, "metadata", "labels", default={}) or {}
    level = labels.get("pod-security.kubernetes.io/enforce")
    if level not in ("baseline", "restricted"):
        yield f"namespace {resource_name(args.props, args.name)} does not enforce a Pod Security level (baseline or restricted)"


# The TLS modes under which libpq checks the server's certificate against the CA it was given.
# Ref: https://www.postgresql.org/docs/current/libpq-ssl.html#LIBPQ-SSL-PROTECTION
_VERIFYING = ("verify-ca", "verify-full")


def _in_cluster(host: Any) -> bool:
    return isinstance(host, str) and (host.endswith(".svc") or host.endswith(".svc.cluster.local"))


def database_server_verified(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    """A container sent to a database outside the cluster (PGHOST) checks the server it reaches. A
    mode from envFrom is not visible here; one set nowhere is libpq's default, which checks nothing."""
    for pod in _pods(args):
        for where, container in containers_of(pod):
            env = {e.get("name"): e.get("value") for e in container.get("env") or [] if isinstance(e, Mapping)}
            if "PGHOST" not in env or _in_cluster(env["PGHOST"]):
                continue
            if "PGSSLMODE" not in env:
                if not container.get("envFrom"):
                    yield f"{where} reaches its database with no PGSSLMODE (libpq's default, prefer, checks no server)"
            elif env["PGSSLMODE"] not in _VERIFYING:
                yield f"{where} reaches its database with PGSSLMODE={env['PGSSLMODE']}, which checks no server"


def _pod_rule(name: str, description: str, remediation: str,
              check: Callable[[Any, Mapping[str, Any]], Iterator[str]]) -> Rule:
    return Rule(name, "kubernetes", description, remediation, check, WORKLOAD_TYPES)


RULES = [
    _pod_rule("k8s-no-privileged-containers", "Containers must not run privileged.",
              "Remove securityContext.privileged; grant only the specific capability a container needs.", no_privileged),
    _pod_rule("k8s-no-host-namespaces", "Pods must not share the node's network, PID or IPC namespaces.",
              "Remove hostNetwork, hostPID and hostIPC from the pod spec.", no_host_namespaces),
    _pod_rule("k8s-no-host-path-volumes", "Pods must not mount directories of the node.",
              "Use an emptyDir, a ConfigMap/Secret or a PersistentVolumeClaim instead of hostPath.", no_host_path),
    _pod_rule("k8s-no-host-ports", "Containers must not bind ports on the node.",
              "Expose the port through a Service (NodePort or the ingress controller) instead of hostPort.", no_host_ports),
    _pod_rule("k8s-no-privilege-escalation", "Every container sets allowPrivilegeEscalation: false.",
              "Set securityContext.allowPrivilegeEscalation: false on every container (init containers too).", no_privilege_escalation),
    _pod_rule("k8s-run-as-non-root", "Every container runs as a non-root user.",
              "Set runAsNonRoot: true (pod or container) and a non-zero runAsUser if the image has no user.", run_as_non_root),
    _pod_rule("k8s-drop-all-capabilities", "Every container drops all Linux capabilities.",
              "Set securityContext.capabilities.drop: [ALL]; add back only what is needed.", drop_all_capabilities),
    _pod_rule("k8s-seccomp-runtime-default", "Every container runs under the RuntimeDefault seccomp profile.",
              "Set securityContext.seccompProfile.type: RuntimeDefault on the pod or the container.", seccomp_runtime_default),
    _pod_rule("k8s-database-server-verified",
              "A container that reaches a database outside the cluster verifies its server (PGSSLMODE verify-full or "
              "verify-ca), not only encrypts.",
              "Set PGSSLMODE to verify-full (or verify-ca where the certificate cannot name the address) and "
              "PGSSLROOTCERT to the database's CA (components/data/db_trust.py).", database_server_verified),
    Rule("k8s-requests-and-memory-limit", "kubernetes",
         "Every container has CPU and memory requests and a memory limit (its own, or its namespace's LimitRange defaults), "
         "the limit not below the request.",
         "Add resources.requests.{cpu,memory} and resources.limits.memory (for a chart container the chart cannot "
         "configure, the namespace's LimitRange supplies them).", requests_and_memory_limit),
    _pod_rule("k8s-pinned-image-tags", "Images are pinned to a version tag or digest, never latest or untagged.",
              "Use an explicit version tag (add it to components/versions.py) or an @sha256 digest.", pinned_image_tags),
    Rule("k8s-token-automount-off", "kubernetes",
         "Service-account tokens are mounted only for accounts an RBAC binding grants API access.",
         f"Set automountServiceAccountToken: false on the pod or its ServiceAccount, bind the account to the Role it "
         f"needs, or annotate the workload {API_ACCESS_ANNOTATION}: \"true\".",
         token_automount_off),
    Rule("k8s-no-wildcard-rbac", "kubernetes",
         "RBAC rules never grant '*' API groups or resources, nor '*' verbs on resources with escalating verbs.",
         "List the API groups, resources and verbs the subject needs.", no_wildcard_rbac,
         ("kubernetes:rbac.authorization.k8s.io/v1:Role", "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")),
    Rule("k8s-load-balancer-only-for-ingress", "kubernetes",
         "Only the ingress controller's Service is of type LoadBalancer (each one is a billed cloud load balancer).",
         "Use a ClusterIP Service and route through Traefik (an IngressRoute or Ingress).",
         load_balancer_only_for_ingress, ("kubernetes:core/v1:Service",)),
    Rule("k8s-namespace-default-deny", "kubernetes",
         "Every namespace has a default-deny NetworkPolicy (ingress and egress) and allows DNS.",
         "Add a NetworkPolicy with podSelector {} and policyTypes [Ingress, Egress], then the allows the namespace needs.",
         namespace_default_deny),
    Rule("k8s-metadata-address-closed", "kubernetes",
         "No NetworkPolicy lets pods reach the instance-metadata address (169.254.169.254), except on GKE, whose "
         "workload identity is served there; elsewhere it hands out the node's own credentials.",
         "Give the egress rule's ipBlock `except: [169.254.169.254/32]` (components/network.py's to_anywhere does), "
         "or name the destinations it needs.",
         metadata_closed, config_schema={"metadataAllowed": {"type": "boolean", "default": False}}),
    Rule("k8s-webhooks-fail-closed", "kubernetes",
         "Every admission webhook fails closed (failurePolicy Fail).",
         "Set the webhook's failurePolicy to Fail (for a chart, its value; kube-prometheus-stack: "
         "prometheusOperator.admissionWebhooks.failurePolicy).", webhooks_fail_closed,
         ("kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration",
          "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration")),
    Rule("k8s-ca-lifetime", "kubernetes",
         "A CA certificate lives five years at most.",
         "Set the Certificate's duration to 43800h or less, with a renewBefore (README: The platform's CA).", ca_lifetime,
         ("kubernetes:cert-manager.io/v1:Certificate",)),
    Rule("k8s-namespace-pod-security-labels", "kubernetes",
         "Every namespace enforces a Pod Security Standard (baseline or restricted).",
         "Label the namespace pod-security.kubernetes.io/enforce: restricted.", pod_security_labels,
         ("kubernetes:core/v1:Namespace",)),
]
