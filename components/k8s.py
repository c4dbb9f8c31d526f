"""Small builders for the Kubernetes objects every component authors.

They encode the platform's defaults once: every container has requests and a memory limit, runs
as non-root with no privilege escalation, drops all capabilities, uses the runtime's seccomp
profile and a read-only root filesystem where the image allows; every namespace carries Pod
Security labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "mlops-platform"


def labels(app: str, component: Optional[str] = None) -> dict[str, str]:
    out = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": PART_OF}
    if component:
        out["app.kubernetes.io/component"] = component
    return out


def selector(app: str, component: Optional[str] = None) -> dict[str, str]:
    out = {"app.kubernetes.io/name": app}
    if component:
        out["app.kubernetes.io/component"] = component
    return out


def resources(cpu: str, memory: str, memory_limit: str, cpu_limit: Optional[str] = None) -> dict[str, Any]:
    limits: dict[str, str] = {"memory": memory_limit}
    if cpu_limit:
        limits["cpu"] = cpu_limit
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": limits}


def container_security(read_only_root: bool = True, run_as_user: Optional[int] = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if run_as_user is not None:
        ctx["runAsUser"] = run_as_user
        ctx["runAsGroup"] = run_as_user
    return ctx


def pod_security(run_as_user: int, fs_group: Optional[int] = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if fs_group is not None:
        ctx["fsGroup"] = fs_group
        ctx["fsGroupChangePolicy"] = "OnRootMismatch"
    return ctx


def empty_dir(name: str, size_limit: str = "64Mi") -> dict[str, Any]:
    return {"name": name, "emptyDir": {"sizeLimit": size_limit}}


def child(
    parent: pulumi.Resource,
    provider: Optional[pulumi.ProviderResource],
    depends_on: Sequence[pulumi.Resource] = (),
    **extra: Any,
) -> pulumi.ResourceOptions:
    """Options for a child resource: parented, explicit provider, explicit ordering."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=list(depends_on), **extra)


# What admission gives a container that declares no resources (some chart containers offer no
# setting, e.g. the MLflow chart's ini-file-initializer): small requests and a memory limit, so no
# pod runs unaccounted for or unbounded. Every container we write declares its own.
# Ref: https://kubernetes.io/docs/concepts/policy/limit-range/
CONTAINER_DEFAULTS = {"type": "Container", "defaultRequest": {"cpu": "10m", "memory": "32Mi"}, "default": {"memory": "128Mi"}}


@dataclass(frozen=True)
class Namespace:
    """A platform namespace and the LimitRange that must exist before any pod is created in it."""

    namespace: k8s.core.v1.Namespace
    limits: k8s.core.v1.LimitRange

    @property
    def name(self) -> pulumi.Output[str]:
        return self.namespace.metadata.name

    @property
    def ready(self) -> list[pulumi.Resource]:
        return [self.namespace, self.limits]


def namespace(
    name: str,
    resource_name: str,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    pod_security_level: str = "restricted",
    depends_on: Sequence[pulumi.Resource] = (),
) -> Namespace:
    """A namespace that enforces a Pod Security Standard level, with container defaults.

    Ref: https://kubernetes.io/docs/concepts/security/pod-security-admission/
    """
    level = {
        "pod-security.kubernetes.io/enforce": pod_security_level,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }
    created = k8s.core.v1.Namespace(
        resource_name,
        metadata={"name": name, "labels": {**labels(name, "namespace"), **level}},
        opts=child(parent, provider, depends_on),
    )
    limits = k8s.core.v1.LimitRange(
        f"{resource_name}-limits",
        metadata={"name": "container-defaults", "namespace": name, "labels": labels(name, "limits")},
        spec={"limits": [CONTAINER_DEFAULTS]},
        opts=child(parent, provider, [created]),
    )
    return Namespace(created, limits)


def service_account(
    resource_name: str,
    name: str,
    namespace_name: pulumi.Input[str],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    annotations: Optional[Mapping[str, pulumi.Input[str]]] = None,
    secrets: Sequence[str] = (),
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.core.v1.ServiceAccount:
    """A service account whose token is mounted only by pods that ask for it."""
    return k8s.core.v1.ServiceAccount(
        resource_name,
        metadata={
            "name": name,
            "namespace": namespace_name,
            "labels": labels(name, "service-account"),
            "annotations": dict(annotations or {}),
        },
        automount_service_account_token=False,
        secrets=[{"name": s} for s in secrets] or None,
        opts=child(parent, provider, depends_on),
    )
