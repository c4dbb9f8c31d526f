"""Edits of a stack file that keep it the user's: comments, key order and quoting stay as they were
(ruamel.yaml's round trip). Used by `platform models promote`."""

from __future__ import annotations

import io
from typing import Any, Optional


def set_model(text: str, name: str, values: dict[str, Any], new_entry_defaults: Optional[dict[str, Any]] = None) -> str:
    """The stack file's text with `platform:models` entry `name` given `values` (other keys kept);
    a model not yet in the list is appended, with `new_entry_defaults` after `values`."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    document = yaml.load(text)
    config = document.setdefault("config", CommentedMap())
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
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()
