"""Supply chain: every image the cluster runs is pinned by digest (the image lock) and, in an
air-gapped stack, pulled from its mirror; in prod, every model served comes from the stack's own
store, not from a bucket somebody else controls.

Both read each container's `image` wherever pods are made: the program's workloads, each chart's
(in `platform plan`, which renders them), the serving runtimes, and the pods controllers create with
the images they inject (modelled by planner/runtime_pods.py).
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from mlops_platform.components import chart_images, helm_hooks, kserve_fields, versions
from mlops_platform.components.image_refs import ReferenceError, parse
from mlops_platform.components.image_source import ImageSource

from .base import WORKLOAD_TYPES, Rule, containers_of, pod_specs, resource_name, stack_resources

INFERENCE_SERVICE = "kubernetes:serving.kserve.io/v1beta1:InferenceService"

# Not pinnable by digest through their chart's values (chart_images.Slot.digest_pinnable says why).
TAG_ONLY = frozenset(parse(slot.reference).name for chart in versions.CHARTS for slot in chart_images.slots(chart)
                     if not slot.digest_pinnable)


def _images(args: Any) -> Iterator[tuple[str, str, str]]:
    """(where, image, urn) of every container of every pod a resource makes."""
    for resource in args.resources:
        if resource.resource_type not in WORKLOAD_TYPES or helm_hooks.is_test_hook(helm_hooks.hooks_of(resource.props)):
            continue
        for pod in pod_specs(resource.resource_type, resource.props, resource.name):
            for where, container in containers_of(pod):
                image = container.get("image")
                if isinstance(image, str) and image:
                    yield where, image, resource.urn


def pinned(args: Any, _config: Mapping[str, Any]) -> Iterator[Any]:
    seen: set[str] = set()
    for where, image, urn in _images(args):
        try:
            found = parse(image)
        except ReferenceError:
            yield (f"{where}: {image!r} is not an image reference", urn)
            continue
        if found.digest or _tag_only(found.name) or image in seen:
            continue
        if found.tag in (None, "latest"):
            continue  # k8s-pinned-image-tags' finding: one problem, one violation
        seen.add(image)
        yield (f"{where}: image {image} is not pinned by digest (the image lock has no digest for it)", urn)


def _tag_only(name: str) -> bool:
    return any(name == known or name.endswith("/" + known.split("/", 1)[1]) for known in TAG_ONLY)


def from_mirror(args: Any, config: Mapping[str, Any]) -> Iterator[Any]:
    source = ImageSource(str(config.get("mirror") or "") or None)
    if source.mirror is None:
        return
    for where, image, urn in _images(args):
        if source.outside(image):
            yield (f"{where}: image {image} is pulled from outside the mirror {source.mirror}", urn)


def _storage_uris(props: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(component, storageUri) of every model an InferenceService loads."""
    for component, _, models in kserve_fields.component_models(props.get("spec") or {}):
        for _, model in models:
            if isinstance(model.get("storageUri"), str):
                yield component, model["storageUri"]


def _named_stores(args: Any) -> Iterator[str]:
    """The URI prefix of each object store in the stack whose name is known."""
    for resource in args.resources:
        props, kind = resource.props, resource.resource_type
        if kind == "aws:s3/bucket:Bucket" and isinstance(props.get("bucket"), str):
            yield f"s3://{props['bucket']}/"
        elif kind == "gcp:storage/bucket:Bucket" and isinstance(props.get("name"), str):
            yield f"gs://{props['name']}/"
        elif kind == "azure-native:storage:BlobContainer" and isinstance(props.get("accountName"), str) \
                and isinstance(props.get("containerName"), str):
            yield f"https://{props['accountName']}.blob.core.windows.net/{props['containerName']}/"


def models_own_store(args: Any, config: Mapping[str, Any]) -> Iterator[Any]:
    """A model is code (a pickle runs on load): in prod, only from where the stack's owners control
    what is written (`ownStores`, names.own_store_patterns); empty outside prod."""
    stores = [re.compile(p) for p in config.get("ownStores") or ()]
    if not stores:
        return
    # Where the store's name is known (created, or named outright), only that exact store: a bucket
    # name that merely fits the platform's naming may be anybody's (bucket names are global).
    exact = [store for store in _named_stores(args) if any(s.match(store) for s in stores)]
    if exact:
        stores = [re.compile(re.escape(store)) for store in exact]
    stores.append(re.compile(r"pvc://"))  # a volume of the cluster itself
    for resource in stack_resources(args, INFERENCE_SERVICE):
        for component, uri in _storage_uris(resource.props):
            if not any(store.match(uri) for store in stores):
                yield (f"InferenceService {resource_name(resource.props, resource.name)} ({component}) serves {uri}, "
                       "outside the stack's own artifact store", resource.urn)


RULES = [
    Rule(
        "supply-chain-images-pinned",
        "supply-chain",
        "Every image the cluster runs is pinned by digest, so what runs is what was resolved, whatever a tag "
        "later points at.",
        "Resolve the digests into the image lock: `platform images lock` (or the platform-images-lock workflow "
        "`ci init` writes), then commit components/images.lock.json.",
        pinned,
        engine_note="the engine sees a Helm release as one resource: its chart's pods are checked by `platform plan`",
    ),
    Rule(
        "supply-chain-images-from-mirror",
        "supply-chain",
        "With `mirror.images` set (an air-gapped install), every image comes from the mirror.",
        "Copy the image into the mirror (`platform mirror push` prints the copies) and, if a chart names it, "
        "add its values to components/chart_images.py.",
        from_mirror,
        config_schema={"mirror": {"type": "string", "default": ""}},
        engine_note="the engine sees a Helm release as one resource: its chart's pods are checked by `platform plan`",
    ),
    Rule(
        "supply-chain-prod-models-own-store",
        "supply-chain",
        "In prod, every model served is loaded from the stack's own artifact store (or a volume of the cluster): "
        "a model file runs code when it loads, so it comes from where the team controls what is written.",
        "Register the model in the platform's MLflow and serve it with `platform models promote` (its URI is then "
        "in the stack's store), or copy the files into the stack's bucket and point storageUri there.",
        models_own_store,
        config_schema={"ownStores": {"type": "array", "items": {"type": "string"}, "default": []}},
    ),
]
