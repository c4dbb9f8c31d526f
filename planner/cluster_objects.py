"""What the cluster receives: the objects the program authors plus every Helm release, rendered.

    program   every Kubernetes object the Pulumi program registers
    releases  each Helm release rendered with Helm's SDK from the local chart cache, seeing the
              API versions that exist when it is installed: the built-in ones and the CRDs of the
              releases it waits for (from the program's dependency graph)
    runtime   the pods controllers create from custom resources at run time, modelled from what
              they read (planner/runtime_pods.py)

The policy pack, the footprint and `platform render` all read this one view. A release whose
chart is not in the cache is listed as missing; the view is then partial.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from . import chart_render, charts, runtime_pods
from .chart_render import RenderedObject
from .cluster_model import ClusterObject, ClusterView, MissingChart, ReleaseRender, child_urn, manifest, type_token
from .harness import ProgramRun, ResourceRecord

# The built-in kinds of the Kubernetes versions the platform targets (1.3x): group/version, kind,
# and whether they are namespaced. A live cluster's discovery answers `.Capabilities.APIVersions`
# with "group/version/Kind" too (charts probe e.g. "policy/v1/PodDisruptionBudget"), which Helm's
# offline default set lacks; and Helm leaves the namespace of a cluster-scoped kind unset, while
# every other object without one goes to the release namespace. CRDs add their own.
# Ref: https://kubernetes.io/docs/reference/generated/kubernetes-api/v1.33/
BUILTIN_KINDS: tuple[tuple[str, str, bool], ...] = (
    *(("v1", k, True) for k in ("Pod", "Service", "ConfigMap", "Secret", "ServiceAccount", "PersistentVolumeClaim",
                                "Endpoints", "Event", "LimitRange", "ResourceQuota", "ReplicationController", "PodTemplate")),
    *(("v1", k, False) for k in ("Namespace", "Node", "PersistentVolume")),
    *(("apps/v1", k, True) for k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ControllerRevision")),
    ("batch/v1", "Job", True), ("batch/v1", "CronJob", True),
    ("autoscaling/v1", "HorizontalPodAutoscaler", True), ("autoscaling/v2", "HorizontalPodAutoscaler", True),
    ("policy/v1", "PodDisruptionBudget", True),
    ("networking.k8s.io/v1", "Ingress", True), ("networking.k8s.io/v1", "NetworkPolicy", True),
    ("networking.k8s.io/v1", "IngressClass", False),
    ("rbac.authorization.k8s.io/v1", "Role", True), ("rbac.authorization.k8s.io/v1", "RoleBinding", True),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", False), ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", False),
    *(("storage.k8s.io/v1", k, False) for k in ("StorageClass", "CSIDriver", "CSINode", "VolumeAttachment")),
    *(("admissionregistration.k8s.io/v1", k, False) for k in (
        "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding")),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", False),
    ("apiregistration.k8s.io/v1", "APIService", False),
    ("scheduling.k8s.io/v1", "PriorityClass", False), ("node.k8s.io/v1", "RuntimeClass", False),
    ("coordination.k8s.io/v1", "Lease", True), ("discovery.k8s.io/v1", "EndpointSlice", True),
    ("events.k8s.io/v1", "Event", True), ("certificates.k8s.io/v1", "CertificateSigningRequest", False),
    ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", False),
    ("flowcontrol.apiserver.k8s.io/v1", "PriorityLevelConfiguration", False),
)
BUILTIN_API_VERSIONS = tuple(sorted({f"{gv}/{kind}" for gv, kind, _ in BUILTIN_KINDS}))
BUILTIN_CLUSTER_SCOPED = frozenset((gv.rpartition("/")[0], kind) for gv, kind, namespaced in BUILTIN_KINDS if not namespaced)


def _program_object(record: ResourceRecord) -> ClusterObject:
    return ClusterObject(manifest(record), "program", record.urn, record.urn)


def release_order(run: ProgramRun) -> list[ResourceRecord]:
    """The Helm releases, each after every release it waits for (stable: registration order)."""
    releases = run.helm_releases()
    urns = {r.urn for r in releases}
    waits = {r.urn: run.waits_for(r) & urns for r in releases}
    ordered: list[ResourceRecord] = []
    placed: set[str] = set()
    while len(ordered) < len(releases):
        ready = [r for r in releases if r.urn not in placed and waits[r.urn] <= placed]
        if not ready:  # a cycle cannot come out of Pulumi; keep registration order
            ready = [r for r in releases if r.urn not in placed]
        ordered.append(ready[0])
        placed.add(ready[0].urn)
    return ordered


def _with_namespace(obj: RenderedObject, namespace: str, cluster_scoped: set[tuple[str, str]]) -> Mapping[str, Any]:
    if obj.namespace or (obj.group, obj.kind) in cluster_scoped:
        return obj.manifest
    manifest = copy.deepcopy(dict(obj.manifest))
    manifest.setdefault("metadata", {})["namespace"] = namespace
    return manifest


def assemble(run: ProgramRun, kube_minor: str, folder: Optional[Path] = None,
             on_step: Callable[[str], None] = lambda step: None) -> ClusterView:
    """Render every release of `run` from the chart cache and model the run-time pods."""
    folder = folder or charts.charts_dir()
    program = tuple(_program_object(r) for r in run.kubernetes_objects())
    program_crds = [o.manifest for o in program if o.kind == "CustomResourceDefinition"]
    version = chart_render.kube_version(kube_minor)
    releases: list[ReleaseRender] = []
    missing: list[MissingChart] = []
    crds_of: dict[str, list[Mapping[str, Any]]] = {}  # release URN -> the CRDs it installs
    ordered = release_order(run)
    for index, record in enumerate(ordered, start=1):
        reference, chart_version = str(record.input("chart")), str(record.input("version"))
        name, namespace = str(record.input("name") or record.name), str(record.input("namespace"))
        chart = charts.by_reference(reference)
        path = charts.archive_path(chart, folder) if chart is not None else None
        if chart is None or chart.version != chart_version or path is None or not path.is_file():
            missing.append(MissingChart(name, reference, chart_version, path))
            continue
        on_step(f"rendering {chart.short_name} {chart.version} ({index}/{len(ordered)})")
        charts.verify(chart, path)
        before = run.waits_for(record)
        visible = program_crds + [crd for urn, found in crds_of.items() if urn in before for crd in found]
        api_versions = sorted({v for crd in visible for v in chart_render.served_versions(crd)})
        rendered = chart_render.render(path, record.input("values") or {}, name, namespace, version,
                                       [*BUILTIN_API_VERSIONS, *api_versions])
        own_crds = [o.manifest for o in rendered if o.kind == "CustomResourceDefinition"]
        crds_of[record.urn] = own_crds
        cluster_scoped = set(BUILTIN_CLUSTER_SCOPED) | {
            (group, kind) for group, kind, scope in map(chart_render.crd_scope, visible + own_crds) if scope == "Cluster"
        }
        objects = tuple(
            ClusterObject(
                manifest=_with_namespace(o, namespace, cluster_scoped),
                origin="release",
                urn=child_urn(record.urn, o.api_version and type_token(o.api_version, o.kind),
                              _object_name(name, o, namespace, cluster_scoped)),
                owner=record.urn,
                release=name,
                source=o.source,
                hooks=o.hooks,
            )
            for o in rendered
        )
        releases.append(ReleaseRender(name, namespace, chart, record.urn, objects, tuple(api_versions)))
    view = ClusterView(program, tuple(releases), (), tuple(missing), folder)
    return ClusterView(program, tuple(releases), tuple(runtime_pods.model(view)), tuple(missing), folder)


def _object_name(release: str, obj: RenderedObject, namespace: str, cluster_scoped: set[tuple[str, str]]) -> str:
    where = "" if (obj.group, obj.kind) in cluster_scoped else f"{obj.namespace or namespace}/"
    return f"{release}:{where}{obj.name}"

