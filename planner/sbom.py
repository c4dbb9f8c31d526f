"""A stack's software bill of materials (`platform sbom`), as CycloneDX 1.6 JSON built and
serialised with cyclonedx-python-lib: the Helm charts it installs (each with the SHA-256 of the
archive in the chart cache it renders and deploys from), the images its cluster runs
(planner/images.py: tags as pinned, with the digest the image lock gives), and the platform's own Python
dependencies as installed.
Ref: https://cyclonedx.org/docs/1.6/json/
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any, Optional

from mlops_platform.components import versions
from mlops_platform.components.image_refs import Reference, ReferenceError, parse

from . import charts, digests
from .cluster_model import ClusterView
from .images import inventory

PACKAGE = "mlops-platform"
PROPERTY = "mlops-platform"  # the namespace of our CycloneDX properties


def _requirement_name(requirement: str) -> Optional[str]:
    """The distribution a requirement names, or None when its marker is false here (only with an
    extra, or for another platform or Python)."""
    from packaging.requirements import Requirement

    parsed = Requirement(requirement)
    return parsed.name if parsed.marker is None or parsed.marker.evaluate({"extra": ""}) else None


def python_closure(root: str = PACKAGE) -> list[metadata.Distribution]:
    """`root` and every distribution its (extra-less) requirements pull in, as installed."""
    from packaging.utils import canonicalize_name

    seen: dict[str, metadata.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # not installed here: nothing to list
        seen[key] = dist
        todo += [n for n in (_requirement_name(r) for r in dist.requires or []) if n]
    return sorted(seen.values(), key=lambda d: d.metadata["Name"].lower())


def _reference(text: str) -> Optional[Reference]:
    try:
        return parse(text)
    except ReferenceError:
        return None


def stack_charts(view: ClusterView) -> list[versions.Chart]:
    """The pinned charts the stack's releases install (rendered or not), each once."""
    found = [r.chart for r in view.releases] + [c for c in (charts.by_reference(m.reference) for m in view.missing) if c]
    return sorted({c.short_name: c for c in found}.values(), key=lambda c: c.short_name)


def build(stack: str, view: ClusterView, folder: Optional[Path] = None) -> Any:
    """The Bom of `stack` (cyclonedx.model.bom.Bom)."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    platform_version = metadata.version(PACKAGE)
    bom = Bom()
    bom.metadata.component = Component(name=f"{PACKAGE} stack {stack}", version=platform_version,
                                       type=ComponentType.APPLICATION, bom_ref=f"stack:{stack}")
    for chart in stack_charts(view):
        path = charts.archive_path(chart, folder)
        hashes = [HashType(alg=HashAlgorithm.SHA_256, content=digests.sha256_of(path))] if path.is_file() else []
        bom.components.add(Component(
            name=chart.short_name, version=chart.version, type=ComponentType.APPLICATION, bom_ref=f"chart:{chart.short_name}",
            hashes=hashes, description=f"Helm chart from {charts.source_of(chart)}",
            properties=[Property(name=f"{PROPERTY}:kind", value="helm-chart"),
                        Property(name=f"{PROPERTY}:archive", value="cached" if hashes else "not in the chart cache")]))
    images, _ = inventory(view)
    for image in images:
        reference = _reference(image.reference)
        name = reference.name if reference else image.reference
        digest = reference.digest if reference else None
        bom.components.add(Component(
            name=name, version=(reference.tag if reference else None), type=ComponentType.CONTAINER, bom_ref=f"image:{image.reference}",
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=digest.split(":", 1)[1])] if digest else [],
            properties=[Property(name=f"{PROPERTY}:source", value=source) for source in sorted(image.sources)]
            + [Property(name=f"{PROPERTY}:digest", value="locked" if digest else "not locked")]))
    for dist in python_closure():
        dist_name, dist_version = dist.metadata["Name"], dist.version
        bom.components.add(Component(
            name=dist_name, version=dist_version, type=ComponentType.LIBRARY, bom_ref=f"pypi:{dist_name}",
            purl=PackageURL(type="pypi", name=dist_name.lower(), version=dist_version)))
    # The stack is made of all of it (CycloneDX's dependency graph, one level deep).
    bom.register_dependency(bom.metadata.component, list(bom.components))
    return bom


def to_json(bom: Any) -> str:
    from cyclonedx.output.json import JsonV1Dot6

    return str(JsonV1Dot6(bom).output_as_string(indent=2))
