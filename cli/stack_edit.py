"""Edits of a stack file that keep it the user's: comments, key order and quoting stay as they were
(ruamel.yaml's round trip). Used by `platform models promote` and to derive ephemeral environments."""

from __future__ import annotations

import io
from typing import Any, Mapping, Optional

# Keys Pulumi's own CLI writes into a stack file beside `config` (the secrets provider's settings).
ENGINE_KEYS = ("secretsprovider", "encryptedkey", "encryptionsalt")


def _round_trip() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)  # the shipped stack files' style
    return yaml


def _dump(yaml: Any, document: Any) -> str:
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


class EditError(ValueError):
    """The text is not a stack file that can be edited (not a mapping, or its config is not one)."""


def _config_of(document: Any) -> Any:
    from ruamel.yaml.comments import CommentedMap

    if document is None:
        document = CommentedMap()
    if not isinstance(document, dict):
        raise EditError("a stack file is a mapping with a 'config:' key")
    config = document.get("config")
    if config is None:
        config = document["config"] = CommentedMap()
    if not isinstance(config, dict):
        raise EditError("its config: is not a mapping")
    return document, config


def set_platform_values(text: str, values: Mapping[str, str], engine_keys: Mapping[str, Any]) -> str:
    """The stack file's text with each `platform:<key>` of `values` set first in its config, as a quoted
    string (so that `on`, `null` or `12345` stay strings), under either spelling of the key
    (`platform:x`, `platform:config:x`) replaced; Pulumi's own keys are dropped and `engine_keys`
    (those of the file being rewritten) put back. Everything else, comments included, is kept."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    yaml = _round_trip()
    document, config = _config_of(yaml.load(text))
    for key in ENGINE_KEYS:
        document.pop(key, None)
    for existing in list(config):
        if str(existing).replace(":config:", ":") in {f"platform:{k}" for k in values}:
            del config[existing]
    for position, (key, value) in enumerate(values.items()):
        config.insert(position, f"platform:{key}", DoubleQuotedScalarString(value))
    for position, (key, value) in enumerate(engine_keys.items()):
        document.insert(position, key, value)
    return _dump(yaml, document)


def set_platform_mapping(text: str, key: str, value: Optional[Mapping[str, str]]) -> str:
    """The stack file's text with `platform:<key>` set to the mapping `value` (after the file's other
    platform keys), or removed when `value` is None. Everything else, comments included, is kept."""
    from ruamel.yaml.comments import CommentedMap

    yaml = _round_trip()
    document, config = _config_of(yaml.load(text))
    for existing in list(config):
        if str(existing).replace(":config:", ":") == f"platform:{key}":
            del config[existing]
    if value is not None:
        config[f"platform:{key}"] = CommentedMap(value)
    return _dump(yaml, document)


def set_model(text: str, name: str, values: dict[str, Any], new_entry_defaults: Optional[dict[str, Any]] = None) -> str:
    """The stack file's text with `platform:models` entry `name` given `values` (other keys kept);
    a model not yet in the list is appended, with `new_entry_defaults` after `values`."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = _round_trip()
    document, config = _config_of(yaml.load(text))
    models = config.get("platform:models")
    if models is None:
        models = CommentedSeq()
        config["platform:models"] = models
    entry = next((m for m in models if isinstance(m, dict) and m.get("name") == name), None)
    if entry is None:
        entry = CommentedMap()
        entry["name"] = name
        models.append(entry)
        updates = {**values, **(new_entry_defaults or {})}
    else:
        updates = values
    for key, value in updates.items():
        if value is None:
            entry.pop(key, None)
        elif isinstance(value, dict):
            nested = CommentedMap()
            for k, v in value.items():
                if v is not None:
                    nested[k] = v
            entry[key] = nested
        else:
            entry[key] = value
    return _dump(yaml, document)
