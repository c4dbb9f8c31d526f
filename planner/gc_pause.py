"""Pause Python's cyclic garbage collector around one bounded, allocation-heavy piece of work.

An offline plan imports the Pulumi SDKs (hundreds of thousands of long-lived objects: their
generated classes and type hints) and then builds millions of short-lived containers: the
parsed charts (about 9 MB of YAML, most of it CRDs) and the program's resource records. Every
allocation burst triggers collections, and each full collection walks the whole SDK heap again,
though none of this work makes reference cycles worth collecting. The two places that allocate in
bulk pause it: the program run (harness.plan_platform) and each chart render (chart_render.render),
so every command that plans gains, not only `plan`. Measured on a cold aws-dev plan (2 cores): YAML
parsing 2.3 s with the collector on, 0.6 s with it paused; `platform plan` 4.1 s -> 2.3 s; peak RSS
386 MB -> 389 MB (benchmarks/plan_time.py prints the figures per stack).
Ref: https://docs.python.org/3.11/library/gc.html#gc.disable
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def gc_paused() -> Iterator[None]:
    """Collector off for the block, then back to the state it was in (nested use is safe)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
