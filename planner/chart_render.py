"""Render a Helm release offline with Helm's own Go SDK: the objects an install would apply.

`helm-python-sdk` binds Helm v4's SDK (no helm binary). A render sees what `helm install` sees,
with two offline limits made explicit by the caller:
- `.Capabilities.APIVersions`: the caller passes the API versions that will exist at install
  time (the built-in ones plus the CRDs of the releases installed before this one), so templates
  gated on a CRD render exactly when the release ordering makes that CRD exist;
- `lookup` returns nothing (there is no cluster to ask).

The objects of the chart's `crds/` folders (Helm applies them before the templates, skipping
subcharts whose condition is off) are included; hooks keep their `helm.sh/hook` types.
Renders are cached in memory by (archive, values, release, namespace, Kubernetes and API versions).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlops_platform.components import helm_hooks
from mlops_platform.components.nested import dig

from . import files
from .cluster_model import ManifestFields
from .gc_pause import gc_paused

# Helm splits a template's output at every "---" that starts the text or a line, whatever follows
# it (pkg/release/util/manifest.go, SplitManifests: `(?:^|\s*\n)---\s*`); a template may glue
# "---" to the next line, which a YAML stream parser would not split. The whitespace Helm's pattern
# also consumes is insignificant to YAML, so this simpler pattern splits at the same places
# without backtracking over megabytes of CRD text.
_SEPARATOR = re.compile(r"(?:^|\n)---")
# Documents this large are CRDs (KServe's InferenceService CRD is 1.5 MB): their text is the same
# in every render, so their parse is cached on disk by digest (JSON reads ~20x faster than YAML).
_CACHED_PARSE_BYTES = 64 * 1024
# Bumped whenever what a cached render holds changes shape.
_RENDER_FORMAT = 1
_KEEP_RENDERS = 64
_NOT_MANIFESTS = ("NOTES.txt",)


class RenderError(Exception):
    """A chart did not render; `str()` is one line naming the release. `in_template` tells a
    template's own failure (it read the value and refused it) from a values-schema rejection."""

    def __init__(self, message: str, in_template: bool = True):
        super().__init__(message)
        self.in_template = in_template


@dataclass(frozen=True)
class RenderedObject(ManifestFields):
    """One object a release applies (its manifest is shared: copy it before changing it)."""

    release: str
    source: str  # the template path in the chart, or the crds/ file it came from
    manifest: Mapping[str, Any]

    @property
    def hooks(self) -> tuple[str, ...]:
        return helm_hooks.hooks_of(self.manifest)

    @property
    def is_test_hook(self) -> bool:
        """Helm test hooks are created by `helm test` only, never by an install."""
        return helm_hooks.is_test_hook(self.hooks)

    @property
    def from_crds_folder(self) -> bool:
        return "/crds/" in f"/{self.source}"


@lru_cache(maxsize=1)
def _loader() -> type:
    import yaml

    class Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        """A safe loader (libyaml when present) that reads a bare `=` as the string it is: PyYAML
        resolves it to YAML 1.1's `value` tag, for which it has no constructor (a Traefik CRD
        has one in a CEL rule's enum)."""

    Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
    return Loader


def parse_cache_dir() -> Path:
    """<cache>/parsed (planner/files.py: cache_dir): parsed CRD text by digest."""
    return files.cache_dir() / "parsed"


def render_cache_dir() -> Path:
    """<cache>/renders: each release's rendered objects by the digest of everything that shapes them."""
    return files.cache_dir() / "renders"


def _store(path: Path, encoded: str) -> bool:
    """Keep a cache entry; a cache that cannot be written only costs time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_text(path, encoded)
        return True
    except OSError:
        return False


def _parse(text: str) -> Any:
    import yaml

    if len(text) < _CACHED_PARSE_BYTES:
        return yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader
    path = parse_cache_dir() / f"{hashlib.sha256(text.encode()).hexdigest()}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    document = yaml.load(text, Loader=_loader())  # noqa: S506 - a safe loader
    try:
        encoded = json.dumps(document)
    except TypeError:  # a timestamp or binary value: not JSON, parse it every time
        return document
    _store(path, encoded)
    return document


def split_manifests(text: str) -> list[dict[str, Any]]:
    out = []
    for part in _SEPARATOR.split(text):
        if not part.strip():
            continue
        document = _parse(part)
        if isinstance(document, dict) and document.get("kind"):
            out.append(document)
    return out


@lru_cache(maxsize=None)
def _chart(path: str, stamp: tuple[int, int]) -> Any:
    import helm_python as helm

    return helm.Chart.load(path)


def load_chart(archive: Path) -> Any:
    """The loaded chart (kept for the process: charts are immutable and thread-safe)."""
    info = archive.stat()
    return _chart(str(archive), (info.st_mtime_ns, info.st_size))


def _enabled_subcharts(chart: Any, merged: Mapping[str, Any]) -> set[str]:
    """Subcharts whose `condition` is not false (Helm: the first condition path that is set wins)."""
    on = set()
    for dependency in chart.metadata.get("dependencies") or []:
        name = dependency.get("alias") or dependency.get("name")
        enabled = True
        for path in str(dependency.get("condition") or "").split(","):
            value = dig(merged, *path.strip().split(".")) if path.strip() else None
            if isinstance(value, bool):
                enabled = value
                break
        if enabled:
            on.add(name)
    return on


def _crd_objects(chart: Any, values: Mapping[str, Any], release: str) -> list[RenderedObject]:
    crds = chart.crds
    if not crds:
        return []
    enabled = _enabled_subcharts(chart, chart.merge_values(dict(values)))
    out = []
    for crd in crds:
        parts = crd["filename"].split("/")
        # <chart>/charts/<subchart>/crds/<file>: only the subcharts that are switched on
        if len(parts) > 3 and parts[1] == "charts" and parts[2] not in enabled:
            continue
        for document in split_manifests(crd["data"]):
            out.append(RenderedObject(release, crd["filename"], document))
    return out


def render_templates(archive: Path, values_json: str, release: str, namespace: str, kube_version: str,
                     api_versions: Sequence[str]) -> str:
    """The chart's templates rendered, as the library's JSON mapping of template path to text."""
    import helm_python as helm
    from helm_python import _native

    chart = load_chart(archive)
    options = {"name": release, "namespace": namespace, "is_install": True, "kube_version": kube_version,
               "api_versions": list(api_versions)}
    try:
        # Chart.render() of helm-python-sdk 0.2.2 forwards only name/namespace/revision/install
        # flags, while the library's render options also take kube_version and api_versions
        # (Helm's --kube-version / --api-versions); this is the same native call with all of them.
        # tests/test_chart_render.py fails if a version of the binding stops honouring them.
        return _native.call_string("helm_render", chart._raw(), values_json, json.dumps(options))
    except helm.HelmError as err:
        text = " ".join(str(err).split())
        text = text if len(text) <= 160 else text[:159] + "…"
        raise RenderError(f"release {release} ({archive}) does not render: {text}",
                          in_template=not isinstance(err, helm.HelmValuesError)) from None


def _render_native(archive: Path, values_json: str, release: str, namespace: str, kube_version: str,
                   api_versions: tuple[str, ...]) -> list[RenderedObject]:
    chart = load_chart(archive)
    rendered = json.loads(render_templates(archive, values_json, release, namespace, kube_version, api_versions))
    objects = _crd_objects(chart, json.loads(values_json), release)
    for template in sorted(rendered):
        if template.endswith(_NOT_MANIFESTS) or not rendered[template].strip():
            continue
        for document in split_manifests(rendered[template]):
            objects.append(RenderedObject(release, template, document))
    return objects


@lru_cache(maxsize=None)
def _archive_digest(path: str, stamp: tuple[int, int]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@lru_cache(maxsize=256)
def _render_cached(key: str, archive: str, values_json: str, release: str, namespace: str, kube_version: str,
                   api_versions: tuple[str, ...]) -> tuple[RenderedObject, ...]:
    stored = render_cache_dir() / f"{key}.json"
    try:
        return tuple(RenderedObject(release, source, manifest) for source, manifest in json.loads(stored.read_text("utf-8")))
    except (OSError, ValueError):
        pass
    objects = _render_native(Path(archive), values_json, release, namespace, kube_version, api_versions)
    try:
        encoded = json.dumps([[o.source, o.manifest] for o in objects])
    except TypeError:  # a value JSON cannot hold: rendered again next time
        return tuple(objects)
    if _store(stored, encoded):
        _prune(stored.parent)
    return tuple(objects)


@lru_cache(maxsize=1)
def _platform_version() -> str:
    """This platform's release: a new one may read a render differently, so its entries are its own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlops-platform")
    except PackageNotFoundError:  # run from a source tree without installing it
        return "unknown"


def _prune(folder: Path, keep: int = _KEEP_RENDERS) -> None:
    """Keep the most recent renders: every edit of a stack's values makes a new entry."""
    entries = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in entries[keep:]:
        old.unlink(missing_ok=True)


def render(
    archive: Path,
    values: Mapping[str, Any],
    release: str,
    namespace: str,
    kube_version: str,
    api_versions: Sequence[str] = (),
) -> tuple[RenderedObject, ...]:
    """Every object `helm install` of this release would apply, hooks included (marked).

    Cached in memory and on disk ($XDG_CACHE_HOME/mlops-platform/renders) by the digest of the
    archive and of every render input, so an unchanged stack re-plans without re-rendering.
    """
    import helm_python as helm

    info = archive.stat()
    values_json = json.dumps(values, sort_keys=True, default=str)
    apis = tuple(sorted(set(api_versions)))
    material = json.dumps([_archive_digest(str(archive), (info.st_mtime_ns, info.st_size)), values_json, release,
                           namespace, kube_version, apis, helm.__version__, _platform_version(), _RENDER_FORMAT])
    key = hashlib.sha256(material.encode()).hexdigest()
    with gc_paused():  # parsing or reading back megabytes of manifests (gc_pause.py)
        return _render_cached(key, str(archive), values_json, release, namespace, kube_version, apis)


def served_versions(crd: Mapping[str, Any]) -> list[str]:
    """The `group/version` and `group/version/Kind` a CustomResourceDefinition serves."""
    spec = crd.get("spec") or {}
    group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
    out = []
    for version in spec.get("versions") or []:
        if version.get("served", True):
            out += [f"{group}/{version.get('name')}", f"{group}/{version.get('name')}/{kind}"]
    return out


def crd_scope(crd: Mapping[str, Any]) -> tuple[str, str, str]:
    """(group, kind, scope) of a CustomResourceDefinition."""
    spec = crd.get("spec") or {}
    return spec.get("group", ""), (spec.get("names") or {}).get("kind", ""), spec.get("scope", "Namespaced")


def kube_version(minor: str) -> str:
    """The `--kube-version` for a cluster of minor version `minor` (e.g. 1.36 -> v1.36.0)."""
    return f"v{minor}.0"

