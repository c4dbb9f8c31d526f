"""How a configuration problem is reported: one line naming the file (or stack) and the key."""

from __future__ import annotations

from typing import Optional


class ConfigError(Exception):
    """A stack file or stack config that cannot be used; `str()` is the one-line message."""

    def __init__(self, source: str, key: Optional[str], message: str):
        self.source, self.key, self.message = source, key, message
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {message}")


class KeyedError(ValueError):
    """A problem with one key, raised inside validation and turned into a ConfigError."""

    def __init__(self, key: str, message: str):
        self.key, self.message = key, message
        super().__init__(message)
