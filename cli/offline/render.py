"""Turn a mock run into what would be applied: Kubernetes manifests and Helm releases.

    DIR/manifests/<namespace or _cluster>/<kind>-<name>.yaml   every Kubernetes object we author
    DIR/helm/<release>/chart.yaml                               repo, chart, version, namespace
    DIR/helm/<release>/values.yaml                              the values we pass

Secrets are masked ("[secret]") everywhere; nothing secret is ever written.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator

from .harness import ProgramRun, ResourceRecord

_FIRST = ("apiVersion", "kind", "metadata")


def manifest(record: ResourceRecord) -> dict[str, Any]:
    """The Kubernetes object a resource would apply, in conventional key order."""
    inputs = copy.deepcopy(record.inputs)  # callers may edit the manifest; the run stays intact
    out: dict[str, Any] = {k: inputs[k] for k in _FIRST if k in inputs}
    out.update({k: v for k, v in inputs.items() if k not in _FIRST})
    return out


def manifest_path(record: ResourceRecord) -> Path:
    meta = record.inputs.get("metadata") or {}
    namespace = meta.get("namespace") or "_cluster"
    kind = str(record.inputs.get("kind") or record.type.rsplit(":", 1)[-1]).lower()
    return Path("manifests") / str(namespace) / f"{kind}-{meta.get('name', record.name)}.yaml"


def releases(run: ProgramRun) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(release name, chart description, values) for every Helm release."""
    for record in run.helm_releases():
        inputs = record.inputs
        chart = {
            "chart": inputs.get("chart"),
            "version": inputs.get("version"),
            "repo": (inputs.get("repositoryOpts") or {}).get("repo", ""),
            "namespace": inputs.get("namespace"),
            "release": inputs.get("name"),
        }
        yield str(inputs.get("name") or record.name), chart, dict(inputs.get("values") or {})


def write(run: ProgramRun, out_dir: Path) -> list[Path]:
    """Write manifests and Helm releases under `out_dir`; return the files written."""
    import yaml

    written: list[Path] = []

    def dump(path: Path, data: Any) -> None:
        target = out_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(data, sort_keys=False, default_flow_style=False), encoding="utf-8")
        written.append(target)

    for record in run.kubernetes_objects():
        dump(manifest_path(record), manifest(record))
    for release, chart, values in releases(run):
        dump(Path("helm") / release / "chart.yaml", chart)
        dump(Path("helm") / release / "values.yaml", values)
    return written
