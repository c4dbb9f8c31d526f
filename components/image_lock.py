"""The image lock: each image reference the platform runs, by tag, mapped to the digest its registry
resolved it to (`platform images lock` writes it; planner/image_resolve.py asks the registries).

The project ships `components/images.lock.json`; $PLATFORM_IMAGES_LOCK names another file (a
mirror's, the tests'). A locked image is deployed as `repo:tag@sha256:...`, so the runtime pulls
exactly those bytes whatever the tag later points at. An image with no digest (null) is unresolved.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Optional

from .image_refs import ReferenceError, parse

LOCK_ENV = "PLATFORM_IMAGES_LOCK"
SHIPPED = Path(__file__).with_name("images.lock.json")


class LockError(Exception):
    """The lock file cannot be used; `str()` is one line naming it and why."""


def lock_path() -> Path:
    given = os.environ.get(LOCK_ENV)
    return Path(given).expanduser() if given else SHIPPED


def load() -> dict[str, Optional[str]]:
    """Tagged reference (fully qualified, as image_refs.Reference.tagged) -> digest or None."""
    path = lock_path()
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    return dict(_read(str(path), info.st_mtime_ns, info.st_size))


@lru_cache(maxsize=8)
def _read(path: str, stamp: int, size: int) -> tuple[tuple[str, Optional[str]], ...]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        images = document["images"]
        if not isinstance(images, dict):
            raise TypeError("images is not an object")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        raise LockError(f"image lock {path} is not a lock file ({str(err)[:80]}): rewrite it with `platform images lock`") from None
    for reference, digest in images.items():
        if digest is not None and not (isinstance(digest, str) and digest.startswith("sha256:") and len(digest) == 71):
            raise LockError(f"image lock {path}: {reference[:80]} has {str(digest)[:80]!r}, not a sha256 digest")
    return tuple(sorted(images.items()))


def digest_of(reference: str) -> Optional[str]:
    try:
        return load().get(parse(reference).tagged)
    except ReferenceError:
        return None


def pinned(reference: str) -> str:
    """`reference` with its locked digest (unchanged when it is not locked or carries one already)."""
    if "@" in reference:
        return reference
    digest = digest_of(reference)
    return f"{reference}@{digest}" if digest else reference
