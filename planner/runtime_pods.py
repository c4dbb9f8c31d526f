"""The pods controllers create at run time from custom resources, modelled from what they read.

Nothing applies these objects: prometheus-operator builds a StatefulSet from each Prometheus and
Alertmanager resource, and KServe builds a predictor Deployment from each InferenceService and
injects containers into its pods. They are modelled so that the footprint counts them and the Pod
Security check sees them, from the same inputs the controllers use:

- prometheus-operator: the pod's securityContext is the resource's `spec.securityContext`; its
  containers get a read-only root, no privilege escalation and ALL capabilities dropped; the
  config reloader (an init container and a sidecar) takes the resources the operator was started
  with (`--config-reloader-*` flags of the rendered operator Deployment).
  Ref: prometheus-operator pkg/prometheus/server/statefulset.go, pkg/alertmanager/statefulset.go
- KServe (Standard mode): the model container as the predictor declares it; the agent sidecar
  (request logger, batcher) with the `agent` resources of the rendered `inferenceservice-config`
  ConfigMap and a copy of the model container's securityContext; the storage-initializer init
  container with the `storageInitializer` resources, overridden by the ClusterStorageContainer
  whose supported URI formats match the model's storageUri.
  Ref: kserve pkg/webhook/admission/pod/agent_injector.go, storage_initializer_injector.go
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterator, Mapping, Optional

from mlops_platform.components import kserve_fields

from .cluster_model import ClusterObject, ClusterView, child_urn, type_token

CONTROLLER_CONTAINER_SECURITY = {
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}
MODELLED_ANNOTATION = "mlops.dev/modelled-from"


def _find(objects: list[ClusterObject], kind: str, name: Optional[str] = None) -> list[ClusterObject]:
    return [o for o in objects if o.kind == kind and (name is None or o.name == name)]


def _flags(args: list[str]) -> dict[str, str]:
    out = {}
    for arg in args:
        if arg.startswith("--") and "=" in arg:
            key, _, value = arg[2:].partition("=")
            out[key] = value
    return out


def reloader(objects: list[ClusterObject]) -> dict[str, Any]:
    """The config reloader the operator injects: its image (`--prometheus-config-reloader`) and its
    resources (`--config-reloader-*`), from the flags the operator Deployment is started with; {}
    when no rendered Deployment is the operator."""
    for deployment in _find(objects, "Deployment"):
        for container in (deployment.manifest.get("spec") or {}).get("template", {}).get("spec", {}).get("containers") or []:
            flags = _flags([str(a) for a in container.get("args") or []])
            if "prometheus-config-reloader" not in flags:
                continue
            requests = {k: flags[f"config-reloader-{k}-request"] for k in ("cpu", "memory") if f"config-reloader-{k}-request" in flags}
            limits = {k: flags[f"config-reloader-{k}-limit"] for k in ("cpu", "memory") if f"config-reloader-{k}-limit" in flags}
            return {"image": flags["prometheus-config-reloader"], "resources": {"requests": requests, "limits": limits}}
    return {}


def _statefulset(owner: ClusterObject, name: str, pod: dict[str, Any], replicas: int, controller: str,
                 claims: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": replicas, "template": {"spec": pod}}
    if claims:
        # The operator turns storage.volumeClaimTemplate into the StatefulSet's claim template (named
        # <kind>-<name>-db) and passes the resource's claim retention policy on.
        spec["volumeClaimTemplates"] = [{"metadata": {"name": f"{name}-db"}, "spec": copy.deepcopy(dict(claims.get("spec") or {}))}]
        retention = (owner.manifest.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy")
        if retention:
            spec["persistentVolumeClaimRetentionPolicy"] = copy.deepcopy(dict(retention))
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {
            "name": name,
            "namespace": owner.namespace,
            "annotations": {MODELLED_ANNOTATION: f"{owner.kind} {owner.namespace}/{owner.name} by {controller}"},
        },
        "spec": spec,
    }


def _operator_pod(spec: Mapping[str, Any], main: dict[str, Any], reloader: dict[str, Any], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    def reloader_container(name: str) -> dict[str, Any]:
        return {"name": name, "image": reloader.get("image", ""), "resources": copy.deepcopy(reloader.get("resources") or {}),
                "securityContext": dict(CONTROLLER_CONTAINER_SECURITY)}

    return {
        "serviceAccountName": spec.get("serviceAccountName", "default"),
        # The operator mounts the token unless the resource opts out.
        "automountServiceAccountToken": spec.get("automountServiceAccountToken", True),
        "securityContext": copy.deepcopy(spec.get("securityContext") or {}),
        "initContainers": [reloader_container("init-config-reloader")],
        "containers": [
            {**main, "resources": copy.deepcopy(spec.get("resources") or {}), "securityContext": dict(CONTROLLER_CONTAINER_SECURITY)},
            reloader_container("config-reloader"),
        ],
        "volumes": volumes,
        **({"nodeSelector": spec["nodeSelector"]} if spec.get("nodeSelector") else {}),
    }


def _prometheus(owner: ClusterObject, reloader: dict[str, Any]) -> dict[str, Any]:
    spec = owner.manifest.get("spec") or {}
    volumes = [
        {"name": "config", "secret": {"secretName": f"prometheus-{owner.name}"}},
        {"name": "tls-assets", "projected": {"sources": []}},
        {"name": "config-out", "emptyDir": {"medium": "Memory"}},
        {"name": f"prometheus-{owner.name}-rulefiles-0", "configMap": {"name": f"prometheus-{owner.name}-rulefiles-0"}},
        {"name": "web-config", "secret": {"secretName": f"prometheus-{owner.name}-web-config"}},
    ]
    storage = (spec.get("storage") or {}).get("volumeClaimTemplate")
    volumes.append({"name": f"prometheus-{owner.name}-db", "persistentVolumeClaim": {"claimName": f"prometheus-{owner.name}-db"}}
                   if storage else {"name": f"prometheus-{owner.name}-db", "emptyDir": {}})
    pod = _operator_pod(spec, {"name": "prometheus", "image": spec.get("image", "")}, reloader, volumes)
    replicas = int(spec.get("replicas") or 1) * int(spec.get("shards") or 1)
    return _statefulset(owner, f"prometheus-{owner.name}", pod, replicas, "prometheus-operator", storage)


def _alertmanager(owner: ClusterObject, reloader: dict[str, Any]) -> dict[str, Any]:
    spec = owner.manifest.get("spec") or {}
    volumes = [
        {"name": "config-volume", "secret": {"secretName": f"alertmanager-{owner.name}-generated"}},
        {"name": "tls-assets", "projected": {"sources": []}},
        {"name": "config-out", "emptyDir": {"medium": "Memory"}},
        {"name": "web-config", "secret": {"secretName": f"alertmanager-{owner.name}-web-config"}},
        {"name": f"alertmanager-{owner.name}-db", "emptyDir": {}},
    ]
    pod = _operator_pod(spec, {"name": "alertmanager", "image": spec.get("image", "")}, reloader, volumes)
    return _statefulset(owner, f"alertmanager-{owner.name}", pod, int(spec.get("replicas") or 1), "prometheus-operator")


# --- KServe -------------------------------------------------------------------------------------

def _kserve_config(objects: list[ClusterObject]) -> dict[str, dict[str, Any]]:
    for config_map in _find(objects, "ConfigMap", "inferenceservice-config"):
        out = {}
        for key, text in (config_map.manifest.get("data") or {}).items():
            try:
                out[key] = json.loads(text)
            except (TypeError, ValueError):
                continue
        return out
    return {}


def _config_resources(config: Mapping[str, Any]) -> dict[str, Any]:
    def pick(*keys: tuple[str, str]) -> dict[str, str]:
        return {name: str(config[key]) for name, key in keys if config.get(key)}

    return {
        "requests": pick(("cpu", "cpuRequest"), ("memory", "memoryRequest")),
        "limits": pick(("cpu", "cpuLimit"), ("memory", "memoryLimit")),
    }


def _storage_container(objects: list[ClusterObject], uri: str) -> Optional[Mapping[str, Any]]:
    """The container of the first ClusterStorageContainer whose supported URI formats match `uri`."""
    for csc in _find(objects, "ClusterStorageContainer"):
        spec = csc.manifest.get("spec") or {}
        for fmt in spec.get("supportedUriFormats") or []:
            prefix, pattern = fmt.get("prefix"), fmt.get("regex")
            if (prefix and uri.startswith(prefix)) or (pattern and re.match(pattern, uri)):
                return spec.get("container") or {}
    return None


def _pod_fields(component: Mapping[str, Any], *extra: str) -> dict[str, Any]:
    """The pod-level fields of an InferenceService component that KServe copies onto its pod."""
    keys = ("securityContext", "serviceAccountName", "automountServiceAccountToken", "nodeSelector", "tolerations", *extra)
    return {k: copy.deepcopy(v) for k, v in component.items() if k in keys}


def _deployment(owner: ClusterObject, component: str, spec: Mapping[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """The Deployment kserve-controller makes for one component (predictor, explainer) of `owner`."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": f"{owner.name}-{component}",
            "namespace": owner.namespace,
            "annotations": {MODELLED_ANNOTATION: f"InferenceService {owner.namespace}/{owner.name} by kserve-controller"},
        },
        "spec": {"replicas": int(spec.get("minReplicas") or 1), "template": {"spec": pod}},
    }


def _predictor(owner: ClusterObject, objects: list[ClusterObject], config: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    predictor = (owner.manifest.get("spec") or {}).get("predictor") or {}
    field = next((f for f in kserve_fields.MODEL_FIELDS if isinstance(predictor.get(f), Mapping)), None)
    if field is None and not predictor.get("containers"):
        return None
    pod = _pod_fields(predictor, "volumes")
    containers = []
    if field is not None:
        model = predictor[field]
        containers.append({
            "name": "kserve-container",
            "image": runtime_image(objects, field, model),
            "resources": copy.deepcopy(model.get("resources") or {}),
            "securityContext": copy.deepcopy(model.get("securityContext") or {}),
        })
        uri = str(model.get("storageUri") or "")
    else:
        containers = copy.deepcopy(predictor.get("containers") or [])
        uri = ""
    if predictor.get("logger") or predictor.get("batcher"):
        # The agent runs the logger's image when the predictor logs, else the batcher's.
        containers.append({
            "name": "agent",
            "image": str((config.get("logger" if predictor.get("logger") else "batcher") or {}).get("image", "")),
            "resources": _config_resources(config.get("agent") or {}),
            "securityContext": copy.deepcopy(containers[0].get("securityContext") or {}),
        })
    init = []
    if uri and not uri.startswith("pvc://"):
        initializer = config.get("storageInitializer") or {}
        container: dict[str, Any] = {"name": "storage-initializer", "image": str(initializer.get("image", "")),
                                     "resources": _config_resources(initializer)}
        override = _storage_container(objects, uri)
        if override is not None:
            for key in ("image", "resources", "securityContext"):
                if override.get(key):
                    container[key] = copy.deepcopy(override[key])
        init.append(container)
    pod["containers"] = containers
    if init:
        pod["initContainers"] = init
    return _deployment(owner, "predictor", predictor, pod)


def runtime_image(objects: list[ClusterObject], field: str, model: Mapping[str, Any]) -> str:
    """The image of the serving runtime KServe picks for `model`: the one it names, else among the
    enabled runtimes that speak its protocol (v1 unless it says; a runtime declaring none speaks v1)
    and auto-select its format, a namespace's before the cluster's, then the highest priority (one
    with a priority before one without). A predictor written with a framework field, such as
    `sklearn:`, names its format by that field.
    Ref: kserve pkg/apis/serving/v1beta1/predictor_model.go (GetSupportingRuntimes)"""
    runtimes = [o for o in objects if o.kind in ("ClusterServingRuntime", "ServingRuntime")]
    named = model.get("runtime")
    if named:
        chosen = next((r for r in runtimes if r.name == named), None)
    else:
        wanted = str((model.get("modelFormat") or {}).get("name") or field)
        protocol = str(model.get("protocolVersion") or "v1")

        def rank(runtime: ClusterObject) -> Optional[tuple[bool, bool, int]]:
            """None: KServe does not consider it; else larger ranks first."""
            spec = runtime.manifest.get("spec") or {}
            if spec.get("disabled") or protocol not in (spec.get("protocolVersions") or ["v1"]):
                return None
            found = [f for f in spec.get("supportedModelFormats") or [] if f.get("name") == wanted and f.get("autoSelect")]
            if not found:
                return None
            priorities = [int(f["priority"]) for f in found if f.get("priority") is not None]
            return (runtime.kind == "ServingRuntime", bool(priorities), max(priorities, default=0))

        candidates = [(key, r) for r in runtimes if (key := rank(r)) is not None]
        chosen = max(candidates, key=lambda candidate: candidate[0])[1] if candidates else None
    containers = ((chosen.manifest.get("spec") or {}).get("containers") or []) if chosen else []
    return str(containers[0].get("image", "")) if containers else ""


def _explainer(owner: ClusterObject, config: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """The explainer Deployment KServe makes from spec.explainer.art: one server container (the
    image from inferenceservice-config's `explainers.art`) with the resources and securityContext
    the resource gives it."""
    explainer = (owner.manifest.get("spec") or {}).get("explainer") or {}
    art = explainer.get("art")
    if not isinstance(art, Mapping):
        return None
    pod = _pod_fields(explainer)
    art_config = (config.get("explainers") or {}).get("art") or {}
    image = f"{art_config.get('image', '')}:{art_config.get('defaultImageVersion', '')}" if art_config.get("image") else ""
    pod["containers"] = [{"name": "kserve-container", "image": image, "resources": copy.deepcopy(art.get("resources") or {}),
                          "securityContext": copy.deepcopy(art.get("securityContext") or {})}]
    return _deployment(owner, "explainer", explainer, pod)


def model(view: ClusterView) -> Iterator[ClusterObject]:
    """The modelled pods, for each controller whose own configuration was rendered (without it, a
    model would be a guess: the custom resource's pod spec is then checked as it stands)."""
    objects = view.installed()
    injected_reloader = reloader(objects)
    config = _kserve_config(objects)
    for owner in objects:
        manifests: list[Optional[dict[str, Any]]] = []
        if owner.api_version.startswith("monitoring.coreos.com/") and owner.kind == "Prometheus" and injected_reloader:
            manifests = [_prometheus(owner, injected_reloader)]
        elif owner.api_version.startswith("monitoring.coreos.com/") and owner.kind == "Alertmanager" and injected_reloader:
            manifests = [_alertmanager(owner, injected_reloader)]
        elif owner.api_version.startswith("serving.kserve.io/") and owner.kind == "InferenceService" and config:
            manifests = [_predictor(owner, objects, config), _explainer(owner, config)]
        for manifest in manifests:
            if manifest is None:
                continue
            token = type_token(manifest["apiVersion"], manifest["kind"])
            name = f"{manifest['metadata']['namespace']}/{manifest['metadata']['name']}"
            yield ClusterObject(manifest, "runtime", child_urn(owner.urn, token, name), owner.urn, owner.release,
                                manifest["metadata"]["annotations"][MODELLED_ANNOTATION])
