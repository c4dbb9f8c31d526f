"""`platform images lock`: resolve every image of the given stacks to its digest and write the lock
(components/image_lock.py) whole or not at all. With `via` (a mirror, `host[/prefix]`), each image is
resolved where the mirror keeps it (image_refs.Reference.moved_to): a copy by digest keeps the digest.
An image that cannot be resolved keeps the digest the lock had (or none), and is reported."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from mlops_platform.components.image_refs import Reference, ReferenceError, parse

from . import files
from .image_resolve import ResolveError, resolve

NOTE = ("Image digests `platform images lock` resolved from each registry; null: not resolved (see README, "
        "Verified images). Renders pin every image listed here with its digest.")


@dataclass(frozen=True)
class Locked:
    reference: str  # fully qualified, tagged: the lock's key
    digest: Optional[str]
    problem: Optional[str] = None  # why it is not resolved now


def lock(references: Iterable[str], previous: dict[str, Optional[str]], via: Optional[str] = None,
         on_image: Callable[[str], None] = lambda reference: None,
         resolver: Callable[[Reference], str] = resolve) -> list[Locked]:
    out: dict[str, Locked] = {}
    for text in sorted(set(references)):
        try:
            reference = parse(text)
        except ReferenceError as err:
            out[text] = Locked(text, None, str(err))
            continue
        key = reference.tagged
        if key in out:
            continue
        on_image(key)
        if reference.digest:
            out[key] = Locked(key, reference.digest)  # pinned in the reference itself
            continue
        try:
            out[key] = Locked(key, resolver(reference.moved_to(via) if via else reference))
        except ResolveError as err:
            out[key] = Locked(key, previous.get(key), str(err))
    return sorted(out.values(), key=lambda entry: entry.reference)


def write(path: Path, entries: list[Locked], keep: dict[str, Optional[str]]) -> None:
    """The lock with `entries` over what it held (`keep`: images of stacks not locked this time)."""
    # An entry that is not an image reference (its problem says why) has no key in the lock.
    images = {**keep, **{e.reference: e.digest for e in entries if _is_key(e.reference)}}
    files.write_text(path, json.dumps({"comment": NOTE, "images": dict(sorted(images.items()))}, indent=2) + "\n")


def _is_key(text: str) -> bool:
    try:
        return parse(text).tagged == text
    except ReferenceError:
        return False
