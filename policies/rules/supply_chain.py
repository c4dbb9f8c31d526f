"""Supply chain: every image the cluster runs is pinned by digest (the image lock) and, in an
air-gapped stack, pulled from its mirror.

Both read each container's `image` wherever pods are made: the program's workloads, each chart's
(in `platform plan`, which renders them), the serving runtimes, and the pods controllers create with
the images they inject (modelled by planner/runtime_pods.py).
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from mlops_platform.components import chart_images, helm_hooks, versions
from mlops_platform.components.image_refs import ReferenceError, parse
from mlops_platform.components.image_source import ImageSource

from .base import WORKLOAD_TYPES, Rule, containers_of, pod_specs

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
]
