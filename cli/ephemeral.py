"""Ephemeral environments: `--env pr-123` (any environment name without a stack file of its own).

Its stack file is derived from the cloud's dev stack file: the same settings, with `platform:env`
set to the new name, and an owner and a time to live, which become tags on everything it bills.
Pulumi reads a stack's configuration only from `stacks/Pulumi.<stack>.yaml`, so the engine
commands write the derived file there, marked on its first line; while the mark stays, every run
derives it afresh from the dev file (a change to dev reaches the environment at its next `up`).
Remove the mark to keep a hand-edited file as it is. `plan` derives in memory and writes nothing.

The owner is `$PLATFORM_OWNER`, else `$GITHUB_ACTOR` (in GitHub Actions), else `$USER`; the time
to live `$PLATFORM_TTL`, else 3 days. `platform stacks --stale` lists environments past theirs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MARK = "# mlops-platform: derived from"
DEFAULT_TTL = "3d"


def is_derived(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.readline(len(MARK) + 1).startswith(MARK.encode())
    except OSError:
        return False


def default_owner() -> str:
    raw = os.environ.get("PLATFORM_OWNER") or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unassigned"
    # A tag and label value: lower-case letters, digits, '.', '_' and '-', at most 63 characters.
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-._")[:63].strip("-._")
    return cleaned or "unassigned"


def default_ttl() -> str:
    return os.environ.get("PLATFORM_TTL") or DEFAULT_TTL


def derive(dev_text: str, dev_name: str, env: str, owner: str, ttl: str) -> str:
    """The dev stack file's text for environment `env`: its env, owner and ttl set, the rest kept."""
    body = [line for line in dev_text.splitlines() if not line.startswith(MARK)]
    settings = [f"  platform:env: {env}", f"  platform:owner: {owner}", f"  platform:ttl: {ttl}"]
    managed = re.compile(r"^\s*platform:(env|owner|ttl):")
    kept = [line for line in body if not managed.match(line)]
    try:
        at = next(i for i, line in enumerate(kept) if re.match(r"^config:\s*$", line)) + 1
    except StopIteration:
        kept, at = ["config:", *kept], 1
    lines = [f"{MARK} {dev_name} for the environment {env}; rewritten from it on every run while this line stays.",
             *kept[:at], *settings, *kept[at:]]
    return "\n".join(lines) + "\n"
