"""Ephemeral environments: `--env pr-123` (any environment name without a stack file of its own).

Its stack file is derived from the cloud's dev stack file: the same settings, with `platform:env`
set to the new name, and an owner and a time to live, which become tags on everything it bills.
Pulumi reads a stack's configuration only from `stacks/Pulumi.<stack>.yaml`, so the engine
commands write the derived file there, marked on its first line, before the engine first selects
or creates the stack (its CLI then adds the secrets provider's salt to that file, whose settings
are therefore complete from the start); while the mark stays, every run derives it afresh from
the dev file (a change to dev reaches the environment at its next `up`), keeping the salt. Remove
the mark to keep a hand-edited file as it is. `plan` derives in memory and writes nothing.
The derivation is a round-trip edit of the dev file (cli/stack_edit.py): whatever its style, only
the three keys change, and they are written as quoted strings.

The owner is `$PLATFORM_OWNER`, else `$GITHUB_ACTOR` (in GitHub Actions), else `$USER`; the time
to live `$PLATFORM_TTL`, else 3 days. `platform stacks --stale` lists environments past theirs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

MARK = "# mlops-platform: derived from"
DEFAULT_TTL = "3d"


def is_derived(path: Path) -> bool:
    """Whether the file carries the mark on one of its first lines (Pulumi may write its own
    keys above it)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return any(line.startswith(MARK.encode()) for line in head.splitlines()[:8])


def default_owner() -> str:
    raw = os.environ.get("PLATFORM_OWNER") or os.environ.get("GITHUB_ACTOR") or os.environ.get("USER") or "unassigned"
    # A tag and label value: lower-case letters, digits, '.', '_' and '-', at most 63 characters.
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-._")[:63].strip("-._")
    return cleaned or "unassigned"


def default_ttl() -> str:
    return os.environ.get("PLATFORM_TTL") or DEFAULT_TTL


def derive(dev_text: str, dev_name: str, env: str, owner: str, ttl: str, engine_keys: Mapping[str, Any] = {}) -> str:
    """The dev stack file's text for environment `env`: its env, owner and ttl set, the rest kept;
    `engine_keys` are the Pulumi CLI's own keys of the derived file it replaces. Raises EditError."""
    from .stack_edit import set_platform_values

    body = "\n".join(line for line in dev_text.splitlines() if not line.startswith(MARK)) + "\n"
    text = set_platform_values(body, {"env": env, "owner": owner, "ttl": ttl}, engine_keys)
    return f"{MARK} {dev_name} for the environment {env}; rewritten from it on every run while this line stays.\n" + text


def engine_keys(text: str, source: str) -> dict[str, Any]:
    """The Pulumi CLI's own keys (encryption salt, secrets provider) of a derived file, to carry over."""
    from mlops_platform.components.config import ConfigError
    from mlops_platform.components.config.loading import load_document

    from .stack_edit import ENGINE_KEYS

    try:
        document = load_document(text, source)
    except ConfigError:
        return {}
    return {k: document[k] for k in ENGINE_KEYS if isinstance(document, dict) and isinstance(document.get(k), str)}
