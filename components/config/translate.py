"""Pydantic's validation errors, translated into one ConfigError naming the key and what is wrong."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from .errors import ConfigError, KeyedError, shown_key, shown_text, shown_value
from .loading import NAMESPACE


def _key_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{shown_key(part)}" if out else shown_key(part)
    return out


# Keys earlier releases read, and why they are gone: said instead of "unknown key".
REMOVED = {
    "certManager": "removed: cert-manager is always installed (every route's certificate and the charts' "
                   "webhooks depend on it); delete the key",
    "database.backupRetentionDays": "moved: set backup.retentionDays (the backup section also has the schedule)",
    "traefik.enabled": "removed: Traefik is always installed (it is every route's ingress and the detectors' "
                       "fan-out); delete the key",
}


def _known_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The camelCase keys the model accepts at `loc` (for 'did you mean')."""
    model: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if to_camel(n) == part), None)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        candidates = [annotation, *args]
        for arg in list(candidates):
            candidates.extend(getattr(arg, "__args__", ()))
        model = next((a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return [to_camel(n) for n in model.model_fields]


def to_config_error(err: ValidationError, source: str, root: type[BaseModel]) -> ConfigError:
    first = err.errors()[0]
    loc = tuple(p for p in first["loc"] if p not in ("function-after",))
    kind = first["type"]
    ctx = first.get("ctx") or {}
    given = first.get("input")
    got = shown_value(given)
    if kind == "value_error" and isinstance(ctx.get("error"), KeyedError):
        keyed = ctx["error"]
        prefix = _key_path(loc)
        return ConfigError(source, f"{NAMESPACE}:{prefix + '.' if prefix else ''}{keyed.key}", keyed.message)
    key = f"{NAMESPACE}:{_key_path(loc)}" if loc else None
    if kind == "extra_forbidden" and _key_path(loc) in REMOVED:
        message = REMOVED[_key_path(loc)]
    elif kind == "extra_forbidden":
        known = _known_keys(root, loc[:-1])
        hint = difflib.get_close_matches(str(loc[-1])[:100], known, n=1)
        message = "unknown key" + (f" (did you mean '{hint[0]}'?)" if hint else f"; known keys: {', '.join(known)}")
    elif kind == "missing":
        message = "is required"
    elif kind in ("int_type", "int_parsing"):
        message = f"must be an integer (got {got})"
    elif kind in ("bool_type", "bool_parsing"):
        message = f"must be true or false (got {got})"
    elif kind in ("float_type", "float_parsing"):
        message = f"must be a number (got {got})"
    elif kind == "string_type":
        message = f"must be a string (got {got})"
    elif kind in ("model_type", "dict_type", "model_attributes_type"):
        message = f"must be a mapping of keys (got {got})"
    elif kind in ("tuple_type", "list_type"):
        message = f"must be a list (got {got})"
    elif kind == "literal_error":
        message = f"must be one of {ctx.get('expected')} (got {got})"
    elif kind == "greater_than_equal":
        message = f"must be at least {ctx.get('ge')} (got {got})"
    elif kind == "greater_than":
        message = f"must be greater than {ctx.get('gt')} (got {got})"
    elif kind == "less_than_equal":
        message = f"must be at most {ctx.get('le')} (got {got})"
    elif kind == "less_than":
        message = f"must be less than {ctx.get('lt')} (got {got})"
    elif kind.startswith("ip_v4"):
        message = f"'{shown_text(str(given))}' is not an IPv4 network such as 10.0.0.0/16 (host bits must be zero)"
    elif kind == "value_error":
        message = str(ctx.get("error", first["msg"]))
    else:
        message = first["msg"]
    return ConfigError(source, key, message)
