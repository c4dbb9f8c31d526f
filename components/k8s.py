"""Small builders for the Kubernetes objects every component authors.

They encode the platform's defaults once: every container has requests and a memory limit, runs
as non-root with no privilege escalation, drops all capabilities, uses the runtime's seccomp
profile and a read-only root filesystem where the image allows; every namespace carries Pod
Security labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components import chart_images, deployment
from mlops_platform.components.image_source import ImageSource
from mlops_platform.components.versions import Chart

PART_OF = "mlops-platform"

# The Kubernetes provider's client rate limits, written out so that a provider upgrade cannot change
# them unnoticed. client-go's own 5 QPS / burst 10 throttled typical stacks; pulumi-kubernetes raised
# its defaults to these. At the engine's --parallel 16 (cli/engine/parallelism.py) each in-flight
# operation makes a few requests a second (apply, then a watch), well inside 50/s with bursts of 120
# when a chart's objects are applied together; kube-apiserver's own limit (400 requests in flight)
# is far off even for a kind control plane on 2 cores. The provider's own variables override them.
# Ref: https://github.com/pulumi/pulumi-kubernetes/pull/2381
CLIENT_QPS = 50.0
CLIENT_BURST = 120
CLIENT_ENV = {"qps": "PULUMI_K8S_CLIENT_QPS", "burst": "PULUMI_K8S_CLIENT_BURST"}


def client_settings(environ: Optional[Mapping[str, str]] = None) -> dict[str, Any]:
    """{"qps", "burst"} for every Kubernetes provider: PULUMI_K8S_CLIENT_QPS / _BURST, else ours.
    ValueError (naming the variable) when a variable is set but is not a positive number."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {"qps": CLIENT_QPS, "burst": CLIENT_BURST}
    for key, variable in CLIENT_ENV.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            value: Any = float(raw) if key == "qps" else int(raw)
        except ValueError:
            value = 0
        if value <= 0:
            kind = "a positive number" if key == "qps" else "a positive whole number"
            raise ValueError(f"${variable}: must be {kind} (got {raw!r})")
        settings[key] = value
    return settings


def client_settings_args() -> k8s.KubeClientSettingsArgs:
    """client_settings() for a Provider; a bad variable is one line from the engine, no traceback
    (the CLI checks it before it starts the engine)."""
    try:
        return k8s.KubeClientSettingsArgs(**client_settings())
    except ValueError as err:
        raise pulumi.RunError(str(err)) from None


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


def helm_release(
    resource_name: str,
    release: str,
    chart: Chart,
    namespace: pulumi.Input[str],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
    values: Optional[Mapping[str, Any]] = None,
    timeout: int = 600,
    *,
    images: ImageSource,
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart (components/versions.py), with an explicit release name (so
    what it creates has predictable names) and a timeout that waits for its workloads. It deploys
    the digest-checked archive the CLI stages (Chart.staged); `version` stays an input, so a new pin
    is an upgrade in the diff. `images` moves the chart's images to their locked digests and the
    stack's mirror, through the chart's own values (chart_images.py), laid over `values`."""
    values = chart_images.merged(dict(values) if values is not None else None, chart_images.values_for(chart, images))
    extra: dict[str, Any] = {}
    if values is not None:
        extra["values"] = values
    created = k8s.helm.v3.Release(
        resource_name,
        name=release,
        chart=chart.staged,
        version=chart.version,
        namespace=namespace,
        timeout=timeout,
        **extra,
        opts=child(parent, provider, depends_on),
    )
    deployment.note_values(created, values)  # the stack's deployment record digests them
    return created


def job(
    resource_name: str,
    metadata: Mapping[str, Any],
    pod: Mapping[str, Any],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
    backoff_limit: int = 10,
    pod_labels: Optional[Mapping[str, str]] = None,
) -> k8s.batch.v1.Job:
    """A Job running `pod` (from job_pod); its pods carry the Job's labels unless given their own."""
    labels = dict(pod_labels if pod_labels is not None else metadata["labels"])
    return k8s.batch.v1.Job(
        resource_name,
        metadata=dict(metadata),
        spec={"backoffLimit": backoff_limit, "template": {"metadata": {"labels": labels}, "spec": dict(pod)}},
        opts=child(parent, provider, depends_on),
    )


def job_pod(
    run_as_user: int,
    containers: Sequence[Mapping[str, Any]],
    *,
    fs_group: Optional[int] = None,
    restart_policy: str = "OnFailure",
    service_account: Optional[str] = None,
    init_containers: Sequence[Mapping[str, Any]] = (),
    volumes: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A Job's pod spec with the platform's defaults: no service-account token, non-root with the
    runtime's seccomp profile (pod_security)."""
    spec: dict[str, Any] = {"restartPolicy": restart_policy}
    if service_account is not None:
        spec["serviceAccountName"] = service_account
    spec["automountServiceAccountToken"] = False
    spec["securityContext"] = pod_security(run_as_user, fs_group=fs_group)
    if init_containers:
        spec["initContainers"] = list(init_containers)
    spec["containers"] = list(containers)
    if volumes:
        spec["volumes"] = list(volumes)
    return spec
