"""Reading a stack file, or the stack's config as the engine hands it to the program: the `platform:`
entries, namespace stripped, as plain values for PlatformConfig to validate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from .errors import ConfigError, shown_key, shown_text

NAMESPACE = "platform"
# Keys a Pulumi stack file may carry besides `config` (written by the Pulumi CLI itself).
_STACK_FILE_KEYS = {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"}


# A stack file is a few kilobytes of settings. Anything far beyond these bounds is not one, and is
# refused before it is expanded: YAML aliases can make a few hundred bytes stand for gigabytes
# (the "billion laughs"), and deep nesting exhausts the parser's recursion.
MAX_BYTES = 1024 * 1024
MAX_DEPTH = 40
MAX_NODES = 20_000
# Byte order marks of encodings that are not UTF-8 (a UTF-8 one is harmless and read as UTF-8).
_OTHER_ENCODINGS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
                    (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def read_stack_values(path: Path) -> dict[str, Any]:
    """The `platform:` entries of a stack file, namespace stripped. Raises ConfigError."""
    return stack_values_from_text(read_stack_text(path), str(path))


def read_stack_text(path: Path, source: Optional[str] = None) -> str:
    """A stack file's text, checked to be one (UTF-8, not huge). Raises ConfigError."""
    source = source or str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(source, None, "stack file not found") from None
    except IsADirectoryError:
        raise ConfigError(source, None, "is a folder, not a stack file") from None
    except OSError as err:
        raise ConfigError(source, None, f"cannot read the stack file ({err.strerror})") from None
    return decode_stack_file(raw, source)


def decode_stack_file(raw: bytes, source: str) -> str:
    """A stack file's bytes as text: UTF-8 (as Pulumi reads it), at most MAX_BYTES. Raises ConfigError."""
    if len(raw) > MAX_BYTES:
        raise ConfigError(source, None, f"is larger than {MAX_BYTES // 1024} KiB: not a stack file")
    for mark, encoding in _OTHER_ENCODINGS:
        if raw.startswith(mark):
            raise ConfigError(source, None, f"is {encoding} text; save it as UTF-8 (as Pulumi reads stack files)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(source, None, f"is not UTF-8 text (line {line}); save it as UTF-8") from None


def stack_values_from_text(text: str, source: str) -> dict[str, Any]:
    """The `platform:` entries of a stack file's text; `source` names it in errors. Raises ConfigError."""
    document = load_document(text, source)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(source, None, "a stack file is a mapping with a 'config:' key")
    for key in document:
        if key not in _STACK_FILE_KEYS:
            raise ConfigError(source, shown_key(key), "unknown top-level key (expected 'config:')")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(source, "config", "must be a mapping of namespace:key entries")
    return _platform_entries(config, source)


def load_document(text: str, source: str) -> Any:
    """One YAML document of plain values (safe tags only, unique string keys), within the bounds
    above, checked before anything is expanded. Raises ConfigError."""
    import yaml

    if "\x00" in text:
        raise ConfigError(source, None, "holds NUL characters: not a UTF-8 text file")
    if len(text) > MAX_BYTES:
        raise ConfigError(source, None, f"is larger than {MAX_BYTES // 1024} KiB: not a stack file")
    try:
        _check_shape(text, source)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # type: ignore[arg-type]  # a loader factory
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(source, None, f"not valid YAML{where}: {shown_text(str(problem))}") from None


def _check_shape(text: str, source: str) -> None:
    """Walk the parser's events (no recursion, nothing built): refuse nesting deeper than
    MAX_DEPTH, more than MAX_NODES values once aliases are expanded, aliases to an enclosing
    node, and keys that are not plain values."""
    import yaml
    from yaml import events

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    sizes: dict[str, int] = {}  # anchor -> the values it stands for
    open_: list[list[Any]] = []  # per open collection: [anchor, values so far, is a mapping, items so far]
    expanded = 0
    for event in yaml.parse(text, Loader=loader):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, (events.CollectionEndEvent)):
            anchor, count, _, _ = open_.pop()
            if anchor:
                sizes[anchor] = count
            if open_:
                open_[-1][1] += count
            continue
        if not isinstance(event, (events.NodeEvent)):
            continue
        if open_:
            parent = open_[-1]
            if parent[2] and parent[3] % 2 == 0 and not isinstance(event, events.ScalarEvent):
                raise ConfigError(source, None, f"line {line}: a key must be a plain value, not a list, mapping or alias")
            parent[3] += 1
        if isinstance(event, events.AliasEvent):
            if event.anchor not in sizes:
                raise ConfigError(source, None, f"line {line}: alias *{shown_text(str(event.anchor))} refers to a value "
                                                "that encloses it (a recursive structure)")
            size = sizes[event.anchor]
        elif isinstance(event, events.CollectionStartEvent):
            if len(open_) >= MAX_DEPTH:
                raise ConfigError(source, None, f"line {line}: nested more than {MAX_DEPTH} levels deep: not a stack file")
            open_.append([event.anchor, 1, isinstance(event, events.MappingStartEvent), 0])
            size = 1
        else:
            size = 1
            if event.anchor:
                sizes[event.anchor] = 1
            if open_:
                open_[-1][1] += 1
        expanded += size
        if isinstance(event, events.AliasEvent) and open_:
            open_[-1][1] += size
        if expanded > MAX_NODES:
            raise ConfigError(source, None, f"line {line}: expands to more than {MAX_NODES:,} values (YAML aliases): "
                                            "not a stack file")


def _platform_entries(config: dict[str, Any], source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for raw_key, value in config.items():
        key = str(raw_key).replace(":config:", ":")
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE or not name:
            raise ConfigError(
                source,
                shown_key(raw_key),
                "only platform:* keys are read (providers are configured from them, never from "
                "ambient provider config)",
            )
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise ConfigError(
                source, shown_key(key), "secret values are not taken from stack config; the platform generates its own secrets"
            )
        if name in values:
            # Pulumi reads `platform:config:x` as `platform:x`: the two spellings are one key.
            raise ConfigError(source, shown_key(raw_key), f"given twice (also as {shown_key(spelled[name])}); keep one")
        values[name] = value
        spelled[name] = str(raw_key)
    return values


def pulumi_config_values() -> dict[str, Any]:
    """The stack's config as the engine handed it to the program, `platform:` keys only."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    entries: dict[str, Any] = {}
    for key, value in raw.items():
        entries[key] = _decode_engine_value(value)
    values = _platform_entries(entries, "stack config")
    return _mark_decrypted(values, {k.replace(":config:", ":") for k in secret_keys})


# The values `pulumi config set --secret --path` may hold. The engine decrypts a key's secure parts and
# marks the whole top-level key secret, so a string there that is secret in the stack file arrives
# plain: it is wrapped as the file's ciphertext would be ({"secure": ...}), as decrypted.
SECRET_PATHS = (("identity", "clientSecret"),)


def _mark_decrypted(values: dict[str, Any], secret_keys: set[str]) -> dict[str, Any]:
    for top, field in SECRET_PATHS:
        section = values.get(top)
        if f"{NAMESPACE}:{top}" in secret_keys and isinstance(section, dict) and isinstance(section.get(field), str):
            values[top] = {**section, field: {"decrypted": section[field]}}
    return values


def _decode_engine_value(value: Any) -> Any:
    # The engine passes every value as a string: objects and lists as JSON, scalars as text.
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, (dict, list, bool, int, float)) else value


def _unique_key_loader() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{shown_text(str(key))}'", key_node.start_mark
                )
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return Loader


class _LazyLoader:
    """Builds the YAML loader on first use so importing this module stays cheap."""

    _loader: Optional[type] = None

    def __call__(self, stream: Any) -> Any:
        if _LazyLoader._loader is None:
            _LazyLoader._loader = _unique_key_loader()
        return _LazyLoader._loader(stream)


_UniqueKeyLoader = _LazyLoader()


def stack_file_path(project_dir: Path, stack: str) -> Path:
    return project_dir / "stacks" / f"Pulumi.{stack}.yaml"
