"""Reading a value deep inside parsed YAML or JSON (manifests, chart values, resource inputs)."""

from __future__ import annotations

from typing import Any, Mapping


def dig(value: Any, *path: Any, default: Any = None) -> Any:
    """value[path[0]][path[1]]...: a string key reads a mapping, an int index a list; a missing
    key, an index out of range, a value of another shape, or a null on the way gives `default`."""
    for key in path:
        if isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, (list, tuple)) and isinstance(key, int) and not isinstance(key, bool) and -len(value) <= key < len(value):
            value = value[key]
        else:
            return default
        if value is None:
            return default
    return value
