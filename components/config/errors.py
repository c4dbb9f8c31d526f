"""How a configuration problem is reported: one line naming the file (or stack) and the key.

A stack file can hold anything, so whatever it holds is echoed cut short: a key or value of a
megabyte must not become a megabyte of error message.
"""

from __future__ import annotations

from typing import Any, Optional

MAX_LINE = 290  # characters of a whole ConfigError (an error line of at most 300 with "error: ")
MAX_SHOWN = 60  # characters of one echoed key or value


def shown_text(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` on one line, cut to `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def shown_value(value: Any, limit: int = MAX_SHOWN) -> str:
    """A value as the stack file gave it (repr), cut to `limit` characters."""
    return shown_text(repr(value), limit)


def shown_key(key: Any) -> str:
    return shown_text(str(key))


class ConfigError(Exception):
    """A stack file or stack config that cannot be used; `str()` is the one-line message."""

    def __init__(self, source: str, key: Optional[str], message: str):
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}" if key else source
        super().__init__(shown_text(f"{where}: {message}", MAX_LINE))


class KeyedError(ValueError):
    """A problem with one key, raised inside validation and turned into a ConfigError."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(message)
