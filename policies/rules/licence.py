"""Licence rule: components under a source-available, non-open licence.

Seldon Core from 1.18 (its images, including alibi-detect-server) and Seldon Core v2, and
alibi-detect from 0.11.5, are under the Business Source License 1.1: production use needs a
commercial licence. The platform pins the last Apache-2.0 line (alibi-detect-server 1.17.1,
alibi-detect 0.11.4). Advisory in dev; mandatory in prod unless the stack declares a licence
(platform:policy.sourceAvailableLicence: true), which turns the rule off.
Ref: https://github.com/SeldonIO/seldon-core/blob/v1.18.0/LICENSE
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from .base import WORKLOAD_TYPES, Rule, containers_of, pod_specs

# Seldon Core v1 images: source-available from 1.18.0.
SELDON_V1_IMAGES = {
    "seldon-core-operator", "seldon-core-executor", "alibi-detect-server", "alibi-explain-server",
    "seldon-core-s2i-python3", "seldon-core-s2i-python37", "seldon-core-s2i-python38", "mlflowserver",
    "sklearnserver", "xgboostserver", "tfproxy",
}
SELDON_V2_IMAGE = re.compile(r"^seldon-[a-z-]+$")  # seldon-scheduler, seldon-modelgateway, ... (v2: BSL from 2.0)
BSL_CHARTS = re.compile(r"(^|/)seldon-core-(operator|v2-[a-z-]+)$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def _version(tag: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(tag)
    return tuple(int(g or 0) for g in match.groups()) if match else None  # type: ignore[return-value]


def source_available_image(image: str) -> str | None:
    """Why an image is source-available, or None."""
    repository, _, tag = image.partition("@")[0].rpartition(":")
    if not repository or "/" in tag:
        return None
    owner, _, name = repository.rpartition("/")
    if not owner.endswith("seldonio"):
        return None
    version = _version(tag)
    if name in SELDON_V1_IMAGES and version is not None and version >= (1, 18, 0):
        return f"{image} is Seldon Core {tag} (Business Source License 1.1 from 1.18)"
    if SELDON_V2_IMAGE.match(name) and version is not None and version >= (2, 0, 0):
        return f"{image} is Seldon Core v2 (Business Source License 1.1)"
    return None


def source_available(args: Any, _config: Mapping[str, Any]) -> Iterator[str]:
    if args.resource_type in ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart"):
        chart = str(args.props.get("chart") or "")
        version = _version(str(args.props.get("version") or "")) or (0, 0, 0)
        match = BSL_CHARTS.search(chart)
        # The v1 operator chart became BSL at 1.18; every Seldon Core v2 chart is BSL.
        if match and (match.group(2) != "operator" or version >= (1, 18, 0)):
            yield f"chart {chart} {args.props.get('version')} is Seldon Core under the Business Source License 1.1"
        return
    for pod in pod_specs(args.resource_type, args.props, args.name):
        for where, container in containers_of(pod):
            reason = source_available_image(str(container.get("image") or ""))
            if reason:
                yield f"{where}: {reason}; production use needs a Seldon licence"


RULES = [
    Rule("licence-source-available-components", "licence",
         "No component under a source-available, non-open licence (Seldon Core >= 1.18 and v2, alibi-detect >= 0.11.5) "
         "runs without a declared licence.",
         "Pin the Apache-2.0 line (seldonio/alibi-detect-server:1.17.1), or set platform:policy.sourceAvailableLicence: "
         "true if you hold a commercial licence.",
         source_available, (*WORKLOAD_TYPES, "kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")),
]
