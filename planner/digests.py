"""Each pinned chart archive's expected sha256: the one recorded in components/versions.py
(`Chart.sha256`, the publisher's), or the one a digest file gives for it.

$PLATFORM_CHART_DIGESTS names a JSON file `{"<archive>.tgz": "<sha256>", ...}`: the digests of an
internal mirror that repackages the charts, or the test suite's archives (packaged from the upstream
tags, so other bytes than the published ones). It replaces a recorded digest for the archives it
names; it cannot switch the check off. A chart with neither is "unrecorded": a deploy of a prod stack
refuses it, a dev one warns (cli/staging.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional

from mlops_platform.components.versions import Chart

DIGESTS_ENV = "PLATFORM_CHART_DIGESTS"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class DigestFileError(Exception):
    """The digest file cannot be used; `str()` is one line naming it and why."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def overrides() -> dict[str, str]:
    """The digest file's entries (archive name -> sha256), {} when none is set."""
    given = os.environ.get(DIGESTS_ENV)
    if not given:
        return {}
    path = Path(given).expanduser()
    try:
        info = path.stat()
    except OSError as err:
        raise DigestFileError(f"{DIGESTS_ENV}={given} cannot be read ({err.strerror})") from None
    return dict(_read(str(path), info.st_mtime_ns, info.st_size))


@lru_cache(maxsize=8)
def _read(path: str, stamp: int, size: int) -> tuple[tuple[str, str], ...]:
    where = f"{DIGESTS_ENV}={path}"
    if size > 1 << 20:
        raise DigestFileError(f"{where} is {size:,} bytes, far larger than a digest list")
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DigestFileError(f"{where} is not a JSON file of archive digests ({str(err)[:80]})") from None
    if not isinstance(document, dict):
        raise DigestFileError(f"{where} must be a JSON object of archive name to sha256")
    for name, digest in document.items():
        if not (isinstance(digest, str) and SHA256.match(digest)):
            raise DigestFileError(f"{where}: {str(name)[:60]!r} has {str(digest)[:70]!r}, not a sha256 (64 lowercase hex digits)")
    return tuple(sorted(document.items()))


def expected(chart: Chart) -> Optional[str]:
    """The sha256 the archive of `chart` must have, or None when none is recorded."""
    return overrides().get(chart.archive) or chart.sha256 or None


def source(chart: Chart) -> str:
    """Where the expected digest of `chart` comes from, for messages."""
    return f"{DIGESTS_ENV}={os.environ[DIGESTS_ENV]}" if chart.archive in overrides() else "components/versions.py"


def unrecorded(charts: Iterable[Chart]) -> list[Chart]:
    return [c for c in charts if expected(c) is None]
