"""Every image a pinned chart runs or makes a controller run, and the chart values that name it, so
that the image lock's digest and the stack's mirror reach them through the chart's own values (no
post-render rewriting). Each slot says where its image's parts go in the values and what the chart
renders there by default (the reference the lock is keyed by). A slot yields values only when the
lock has its digest or a mirror is set: otherwise the chart's own default stays, untouched.

tests/test_chart_images.py renders every shipped stack with a mirror and a lock holding every image:
each container's image (and each image a controller is told to inject) must come out under the
mirror, pinned. A chart bump that moves or renames an image value fails it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Optional

from . import versions
from .image_refs import Reference
from .image_source import ImageSource, text_of

# How a chart composes a reference from its values (each chart's image helper at the pinned version):
# - "repository-tag":   `{repository}:{tag}`: the repository names the registry too; a tag of
#                       `tag@sha256:...` is a valid reference (mlflow, dex; KServe's `image`/`tag`);
# - "repository-tag-digest": cert-manager's helper: `{repository}:{tag}@{digest}`;
# - "registry-repository-tag": `{registry}/{repository}:{tag}` (traefik, oauth2-proxy);
# - "registry-repository-tag-sha": kube-prometheus-stack and its subcharts: `...:{tag}@sha256:{sha}`
#                       with the bare hex in `sha` (kube-state-metrics wants `sha256:` in it);
# - "whole":            one value holding the whole reference (KServe's rbacProxyImage).
Layout = Literal["repository-tag", "repository-tag-digest", "registry-repository-tag", "registry-repository-tag-sha", "whole"]


@dataclass(frozen=True)
class Slot:
    path: tuple[str, ...]  # the values mapping holding the image's parts (for "whole": the value itself)
    reference: str  # what the chart renders there by default: the lock's key
    layout: Layout
    keys: tuple[str, ...] = ()  # the parts' key names where the chart does not call them repository/tag
    sha_prefixed: bool = False  # kube-state-metrics: `sha` holds "sha256:<hex>"
    digest_pinnable: bool = True  # False: the chart derives another image from this tag (see KServe below)


def _quay_cm(component: str) -> str:
    return f"quay.io/jetstack/cert-manager-{component}:{versions.CERT_MANAGER.version}"


_KSERVE = versions.KSERVE_RESOURCES.version
_KPS_SHA: Layout = "registry-repository-tag-sha"

SLOTS: dict[str, tuple[Slot, ...]] = {
    # Ref: cert-manager v1.21.1 templates/_helpers.tpl ("cert-manager.image"); values image, webhook.image, ...
    "cert-manager": tuple(
        Slot(path, _quay_cm(component), "repository-tag-digest")
        for path, component in ((("image",), "controller"), (("webhook", "image"), "webhook"),
                                (("cainjector", "image"), "cainjector"), (("acmesolver", "image"), "acmesolver"),
                                (("startupapicheck", "image"), "startupapicheck"))
    ),
    # Ref: traefik 41.3.0 templates/_helpers.tpl ("traefik.image-name"): registry/repository:tag
    "traefik": (Slot(("image",), "docker.io/traefik:v3.7.11", "registry-repository-tag"),),
    # Ref: kube-prometheus-stack 88.5.3 templates (prometheus-operator/deployment.yaml, prometheus/prometheus.yaml,
    # alertmanager/alertmanager.yaml) and its grafana and kube-state-metrics subcharts' image helpers. The
    # admission webhooks' certificate-patch Job is not rendered: cert-manager issues those certificates.
    "kube-prometheus-stack": (
        Slot(("prometheusOperator", "image"), "quay.io/prometheus-operator/prometheus-operator:v0.93.1", _KPS_SHA),
        Slot(("prometheusOperator", "prometheusConfigReloader", "image"),
             "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1", _KPS_SHA),
        Slot(("prometheus", "prometheusSpec", "image"), "quay.io/prometheus/prometheus:v3.14.0-distroless", _KPS_SHA),
        Slot(("alertmanager", "alertmanagerSpec", "image"), "quay.io/prometheus/alertmanager:v0.34.0", _KPS_SHA),
        Slot(("grafana", "image"), "docker.io/grafana/grafana:13.2.0", _KPS_SHA),
        Slot(("grafana", "sidecar", "image"), "quay.io/kiwigrid/k8s-sidecar:2.10.1", _KPS_SHA),
        Slot(("kube-state-metrics", "image"), "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0", _KPS_SHA,
             sha_prefixed=True),
    ),
    # Ref: kserve-resources v0.20.0 files/common/configmap-patch.yaml and storagecontainer-patch.yaml:
    # `{image}:{tag | default kserve.version}`; the controller's rbacProxyImage is one value.
    "kserve-resources": (
        Slot(("kserve", "controller"), f"kserve/kserve-controller:{_KSERVE}", "repository-tag", keys=("image", "tag")),
        Slot(("kserve", "agent"), f"kserve/agent:{_KSERVE}", "repository-tag", keys=("image", "tag")),
        Slot(("kserve", "router"), f"kserve/router:{_KSERVE}", "repository-tag", keys=("image", "tag")),
        Slot(("kserve", "storage"), f"kserve/storage-initializer:{_KSERVE}", "repository-tag", keys=("image", "tag")),
        Slot(("kserve", "servingruntime", "art"), f"kserve/art-explainer:{_KSERVE}", "repository-tag",
             keys=("image", "defaultVersion")),
        Slot(("kserve", "controller", "rbacProxyImage"), "quay.io/brancz/kube-rbac-proxy:v0.18.0", "whole"),
    ),
    # Ref: kserve-runtime-configs v0.20.0 files/runtimes/clusterservingruntimes-patch.yaml.
    "kserve-runtime-configs": (
        *(Slot(("kserve", "servingruntime", runtime), f"kserve/{runtime}:{_KSERVE}", "repository-tag", keys=("image", "tag"))
          for runtime in ("sklearnserver", "xgbserver", "lgbserver")),
        Slot(("kserve", "servingruntime", "torchserve"), "pytorch/torchserve-kfs:0.9.0", "repository-tag", keys=("image", "tag")),
        Slot(("kserve", "servingruntime", "mlserver"), "docker.io/seldonio/mlserver:1.5.0", "repository-tag", keys=("image", "tag")),
        Slot(("kserve", "servingruntime", "tensorflow"), "tensorflow/serving:2.6.2", "repository-tag", keys=("image", "tag")),
        Slot(("kserve", "servingruntime", "tritonserver"), "nvcr.io/nvidia/tritonserver:23.05-py3", "repository-tag",
             keys=("image", "tag")),
        # The multinode runtime runs `{image}:{tag}-gpu` from the same two values: a digest in the tag
        # would come out as `...@sha256:<hex>-gpu`. So this image moves to a mirror but is not pinned
        # by digest through the chart (README: Verified images says so).
        Slot(("kserve", "servingruntime", "huggingfaceserver"), f"kserve/huggingfaceserver:{_KSERVE}", "repository-tag",
             keys=("image", "tag"), digest_pinnable=False),
    ),
    # Ref: mlflow 1.11.5 templates/_helpers.tpl ("mlflow.containerImage"): repository:tag
    "mlflow": (Slot(("image",), versions.MLFLOW_IMAGE.written, "repository-tag"),),
    # Ref: dex 0.24.0 templates/deployment.yaml: repository:tag (the platform's newer Dex, versions.DEX_IMAGE)
    "dex": (Slot(("image",), versions.DEX_IMAGE.written, "repository-tag"),),
    # Ref: oauth2-proxy 10.7.0 templates/deployment.yaml: registry/repository:version
    "oauth2-proxy": (Slot(("image",), "quay.io/oauth2-proxy/oauth2-proxy:v7.15.3", "registry-repository-tag"),),
}


def slots(chart: versions.Chart) -> tuple[Slot, ...]:
    return SLOTS.get(chart.short_name, ())


def _parts(slot: Slot, found: Reference, moved: bool) -> Any:
    """The values that make the chart render `found`: all of it when it moved (a mirror, a
    replacement), else only the digest; what the chart's default already says is left to it
    (tests/test_chart_values.py refuses a value that changes nothing)."""
    if slot.layout == "whole":
        return text_of(found)
    tag = found.tag or "latest"
    pinned_tag = f"{tag}@{found.digest}" if found.digest else tag
    repository_key, tag_key = slot.keys or ("repository", "tag")
    out: dict[str, Any] = {}
    if slot.layout == "repository-tag":
        return {repository_key: found.name, tag_key: pinned_tag} if moved else {tag_key: pinned_tag}
    if slot.layout == "repository-tag-digest":
        out = {repository_key: found.name, tag_key: tag} if moved else {tag_key: tag}
        return {**out, "digest": found.digest} if found.digest else out
    if moved:
        out = {"registry": found.registry, "repository": found.repository}
    if slot.layout == "registry-repository-tag":
        return {**out, tag_key: pinned_tag}
    if moved:
        out[tag_key] = tag
    if found.digest:
        out["sha"] = found.digest if slot.sha_prefixed else found.digest.removeprefix("sha256:")
    return out


def values_for(chart: versions.Chart, source: ImageSource) -> dict[str, Any]:
    """The chart values that move each of its images to what `source` resolves it to; empty when
    nothing is locked, replaced or mirrored."""
    out: dict[str, Any] = {}
    for slot in slots(chart):
        found = source.resolve(slot.reference)
        if not slot.digest_pinnable:
            found = Reference(found.registry, found.repository, found.tag, None)
        moved = source.moves(slot.reference)
        if found.digest is None and not moved:
            continue
        *parents, last = slot.path
        place = out
        for key in parents:
            place = place.setdefault(key, {})
        parts = _parts(slot, found, moved)
        if isinstance(parts, dict):
            place.setdefault(last, {}).update(parts)
        else:
            place[last] = parts
    return out


def merged(values: Optional[dict[str, Any]], overrides: dict[str, Any]) -> Optional[dict[str, Any]]:
    """`values` with `overrides` laid over it, mapping by mapping (neither is changed)."""
    if not overrides:
        return values
    out = dict(values or {})
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out
