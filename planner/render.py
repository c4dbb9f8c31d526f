"""Turn a mock run and its cluster view into files: what would be applied, object by object.

    DIR/manifests/<namespace or _cluster>/<kind>-<name>.yaml   every Kubernetes object we author
    DIR/helm/<release>/chart.yaml                               repo, chart, version, namespace
    DIR/helm/<release>/values.yaml                              the values we pass
    DIR/rendered/<release>/<kind>-<name>.yaml                   what each release applies (Helm-rendered)

Each file starts with a comment saying where it comes from. Secrets are masked ("[secret]")
everywhere and mock identifiers stand where the cloud would put real ones: nothing secret is ever
written. `platform render` owns these three folders and replaces them whole on every run, as one
swap: an interrupted render leaves the previous one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator, Optional

from mlops_platform.components import helm_hooks

from .cluster_model import conventional_order, manifest
from .harness import ProgramRun, ResourceRecord

OWNED = ("manifests", "helm", "rendered")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
PLACEHOLDERS = (
    "# Rendered offline by `platform render` (Pulumi SDK mocks, Helm SDK). Placeholders: [secret] stands\n"
    "# for a generated secret; mock identifiers (account 123456789012, *.cmockabc123.* hosts, mock client\n"
    "# ids) for those the cloud assigns at deploy time.\n"
)


def _file_name(kind: str, name: str) -> str:
    return _UNSAFE.sub("_", f"{kind.lower()}-{name}") + ".yaml"


def manifest_path(record: ResourceRecord) -> Path:
    meta = record.inputs.get("metadata") or {}
    namespace = meta.get("namespace") or "_cluster"
    kind = str(record.inputs.get("kind") or record.type.rsplit(":", 1)[-1])
    return Path("manifests") / str(namespace) / _file_name(kind, str(meta.get("name", record.name)))


def releases(run: ProgramRun) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(release name, chart description, values) for every Helm release."""
    from . import charts, digests

    for record in run.helm_releases():
        inputs = record.inputs
        pinned = charts.by_reference(str(inputs.get("chart")))
        chart = {
            "chart": pinned.short_name if pinned else inputs.get("chart"),
            "version": inputs.get("version"),
            # Where `charts pull` gets it, and the staged archive the release deploys, with its digest.
            "repo": charts.source_of(pinned) if pinned else "",
            "archive": inputs.get("chart"),
            "sha256": (digests.expected(pinned) if pinned else None) or "unrecorded",
            "namespace": inputs.get("namespace"),
            "release": inputs.get("name"),
        }
        yield str(inputs.get("name") or record.name), chart, dict(inputs.get("values") or {})


def _source_note(release: str, source: str, hooks: tuple[str, ...]) -> str:
    note = f"# Release {release}, from {source}\n"
    if helm_hooks.is_test_hook(hooks):
        note += "# Helm hook: test (created only by `helm test`, never by an install)\n"
    elif hooks:
        note += f"# Helm hook: {', '.join(hooks)} (run by Helm around the install, not kept as a release object)\n"
    return note


def write(run: ProgramRun, out_dir: Path, view: Optional[Any] = None) -> list[Path]:
    """Write manifests, Helm releases and (with a cluster view) what each release renders into the
    empty folder `out_dir`; return the files written, relative to it. `platform render` writes into
    a temporary folder and swaps the result in (planner/files.py: replace_folders)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    written: list[Path] = []

    def dump(path: Path, data: Any, note: str = "") -> None:
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        text = yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
        target.write_text(PLACEHOLDERS + note + text, encoding="utf-8")
        written.append(path)

    for record in run.kubernetes_objects():
        dump(manifest_path(record), manifest(record), f"# Authored by the program: {record.type} {record.name}\n")
    for release, chart, values in releases(run):
        dump(Path("helm") / release / "chart.yaml", chart)
        dump(Path("helm") / release / "values.yaml", conventional_order(values))
    if view is not None:
        for rendered in view.releases:
            used: set[Path] = set()
            for obj in rendered.objects:
                path = Path("rendered") / rendered.release / _file_name(obj.kind, obj.name)
                if path in used:  # the same kind and name in two namespaces
                    path = path.with_name(_file_name(obj.kind, f"{obj.namespace}-{obj.name}"))
                used.add(path)
                dump(path, conventional_order(obj.manifest), _source_note(rendered.release, obj.source, obj.hooks))
    return written
