"""Pod Security admission, offline: would a namespace's enforced Pod Security level admit a pod?

Every platform namespace enforces `restricted`; the API server's PodSecurity admission controller
refuses any pod that breaks the level, so such a workload cannot run at all. The checks are those
of the Pod Security Standards, level by level (`latest` version).
Ref: https://kubernetes.io/docs/concepts/security/pod-security-standards/
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from mlops_platform.components import helm_hooks

from .base import WORKLOAD_TYPES, Rule, dig, pod_specs

LEVEL_LABEL = "pod-security.kubernetes.io/enforce"
LEVELS = ("privileged", "baseline", "restricted")
# Baseline: capabilities beyond the container runtime's default set may not be added.
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
# Restricted: only volumes that cannot reach the node or a foreign storage system.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            if isinstance(container, Mapping):
                yield f"container {container.get('name', '?')}", container


def baseline(spec: Mapping[str, Any], annotations: Mapping[str, Any] = {}) -> Iterator[str]:
    pod_ctx = spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag) is True:
            yield f"{flag} is not allowed"
    if dig(pod_ctx, "windowsOptions", "hostProcess") is True:
        yield "hostProcess is not allowed"
    for volume in spec.get("volumes") or []:
        if isinstance(volume, Mapping) and "hostPath" in volume:
            yield f"hostPath volume {volume.get('name')} is not allowed"
    for sysctl in pod_ctx.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"sysctl {sysctl.get('name')} is not allowed"
    if dig(pod_ctx, "seccompProfile", "type") == "Unconfined":
        yield "the pod's seccompProfile may not be Unconfined"
    if dig(pod_ctx, "appArmorProfile", "type") == "Unconfined":
        yield "the pod's appArmorProfile may not be Unconfined"
    if not _selinux_allowed(pod_ctx.get("seLinuxOptions")):
        yield "the pod's seLinuxOptions set a forbidden type, user or role"
    for key, value in annotations.items():
        if str(key).startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value == "runtime/default" or str(value).startswith("localhost/")
        ):
            yield f"AppArmor annotation {key}: {value} is not allowed"
    for where, container in _containers(spec):
        ctx = container.get("securityContext") or {}
        if ctx.get("privileged") is True:
            yield f"{where} is privileged"
        if dig(ctx, "windowsOptions", "hostProcess") is True:
            yield f"{where} sets hostProcess"
        added = set(dig(ctx, "capabilities", "add", default=[]) or []) - BASELINE_CAPABILITIES
        if added:
            yield f"{where} adds capabilities {', '.join(sorted(added))}"
        for port in container.get("ports") or []:
            if isinstance(port, Mapping) and port.get("hostPort"):
                yield f"{where} uses hostPort {port.get('hostPort')}"
        if ctx.get("procMount") not in (None, "Default"):
            yield f"{where} sets procMount {ctx.get('procMount')}"
        if dig(ctx, "seccompProfile", "type") == "Unconfined":
            yield f"{where} has an Unconfined seccompProfile"
        if dig(ctx, "appArmorProfile", "type") == "Unconfined":
            yield f"{where} has an Unconfined appArmorProfile"
        if not _selinux_allowed(ctx.get("seLinuxOptions")):
            yield f"{where} sets a forbidden SELinux type, user or role"


def _selinux_allowed(options: Any) -> bool:
    options = options or {}
    return options.get("type", "") in SELINUX_TYPES and not options.get("user") and not options.get("role")


def restricted(spec: Mapping[str, Any], annotations: Mapping[str, Any] = {}) -> Iterator[str]:
    yield from baseline(spec, annotations)
    pod_ctx = spec.get("securityContext") or {}
    for volume in spec.get("volumes") or []:
        if not isinstance(volume, Mapping):
            continue
        kinds = set(volume) - {"name"}
        if kinds and not kinds <= RESTRICTED_VOLUMES:
            yield f"volume {volume.get('name')} is of type {', '.join(sorted(kinds))}, not allowed"
    pod_non_root = pod_ctx.get("runAsNonRoot")
    pod_profile = dig(pod_ctx, "seccompProfile", "type")
    if pod_ctx.get("runAsUser") == 0:
        yield "the pod runs as user 0"
    for where, container in _containers(spec):
        ctx = container.get("securityContext") or {}
        if ctx.get("allowPrivilegeEscalation") is not False:
            yield f"{where} must set allowPrivilegeEscalation: false"
        non_root = ctx.get("runAsNonRoot", pod_non_root)
        if non_root is not True:
            yield f"{where} must set runAsNonRoot: true (container or pod)"
        if ctx.get("runAsUser") == 0:
            yield f"{where} runs as user 0"
        profile = dig(ctx, "seccompProfile", "type") or pod_profile
        if profile not in ("RuntimeDefault", "Localhost"):
            yield f"{where} must set seccompProfile.type RuntimeDefault or Localhost (container or pod)"
        if "ALL" not in (dig(ctx, "capabilities", "drop", default=[]) or []):
            yield f"{where} must drop ALL capabilities"
        extra = set(dig(ctx, "capabilities", "add", default=[]) or []) - {"NET_BIND_SERVICE"}
        if extra:
            yield f"{where} may add only NET_BIND_SERVICE, not {', '.join(sorted(extra))}"


def refusals(level: str, spec: Mapping[str, Any], annotations: Mapping[str, Any] = {}) -> list[str]:
    """Why PodSecurity admission at `level` would refuse a pod with this spec (empty: admitted)."""
    if level == "restricted":
        return list(dict.fromkeys(restricted(spec, annotations)))
    if level == "baseline":
        return list(dict.fromkeys(baseline(spec, annotations)))
    return []


def _levels(resources: list[Any]) -> dict[str, str]:
    out = {}
    for resource in resources:
        if resource.resource_type == "kubernetes:core/v1:Namespace":
            labels = dig(resource.props, "metadata", "labels", default={}) or {}
            level = labels.get(LEVEL_LABEL)
            if level in LEVELS:
                out[dig(resource.props, "metadata", "name") or resource.name] = level
    return out


def admitted(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    """Every pod an install creates is admitted by its namespace's enforced Pod Security level."""
    resources = list(args.resources)
    levels = _levels(resources)
    # Pods modelled from a custom resource (the controller's Deployment or StatefulSet) stand in for
    # the pod spec inside that resource, which they complete with the containers the controller adds.
    modelled = {
        str(dig(r.props, "metadata", "annotations", "mlops.dev/modelled-from", default="")).split(" by ")[0]
        for r in resources
    }
    for resource in resources:
        if resource.resource_type not in WORKLOAD_TYPES:
            continue
        meta = resource.props.get("metadata") or {}
        if f"{resource.resource_type.rsplit(':', 1)[-1]} {meta.get('namespace')}/{meta.get('name')}" in modelled:
            continue
        if helm_hooks.is_test_hook(helm_hooks.hooks_of(resource.props)):
            continue  # created by `helm test`, never by an install
        namespace = str(meta.get("namespace") or "")
        level = levels.get(namespace, "privileged")
        for pod in pod_specs(resource.resource_type, resource.props, resource.name):
            template_annotations = dig(resource.props, "spec", "template", "metadata", "annotations", default={}) or {}
            # Every container the pod runs, including those a custom resource declares elsewhere
            # (a KServe predictor's model container).
            spec = {**pod.spec, "initContainers": [], "containers": list(pod.containers)}
            for reason in refusals(level, spec, template_annotations):
                yield (f"{pod.where}: namespace {namespace} enforces Pod Security level {level}; {reason}", resource.urn)


RULES = [
    Rule(
        "k8s-pod-security-admission",
        "kubernetes",
        "Every pod is admitted by the Pod Security level its namespace enforces (otherwise it cannot run).",
        "Give the pod and each container what the level requires (restricted: runAsNonRoot, seccompProfile "
        "RuntimeDefault, allowPrivilegeEscalation false, capabilities drop ALL, only allowed volume types), "
        "through the chart's values or the component's pod spec.",
        admitted,
        engine_note="the engine sees a Helm release as one resource: its chart's pods are checked by `platform plan`",
    ),
]
