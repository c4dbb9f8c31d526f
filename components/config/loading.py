"""Reading a stack file, or the stack's config as the engine hands it to the program: the `platform:`
entries, namespace stripped, as plain values for PlatformConfig to validate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

from .errors import ConfigError

NAMESPACE = "platform"
# Keys a Pulumi stack file may carry besides `config` (written by the Pulumi CLI itself).
_STACK_FILE_KEYS = {"config", "secretsprovider", "encryptionsalt", "encryptedkey", "environment"}


def read_stack_values(path: Path) -> dict[str, Any]:
    """The `platform:` entries of a stack file, namespace stripped. Raises ConfigError."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(source, None, "stack file not found") from None
    except OSError as err:
        raise ConfigError(source, None, f"cannot read the stack file ({err.strerror})") from None
    return stack_values_from_text(text, source)


def stack_values_from_text(text: str, source: str) -> dict[str, Any]:
    """The `platform:` entries of a stack file's text; `source` names it in errors. Raises ConfigError."""
    import yaml

    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # type: ignore[arg-type]  # a loader factory
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(source, None, f"not valid YAML{where}: {problem}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(source, None, "a stack file is a mapping with a 'config:' key")
    for key in document:
        if key not in _STACK_FILE_KEYS:
            raise ConfigError(source, str(key), "unknown top-level key (expected 'config:')")
    config = document.get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(source, "config", "must be a mapping of namespace:key entries")
    return _platform_entries(config, source)


def _platform_entries(config: dict[str, Any], source: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for raw_key, value in config.items():
        key = str(raw_key).replace(":config:", ":")
        namespace, _, name = key.partition(":")
        if namespace != NAMESPACE or not name:
            raise ConfigError(
                source,
                key,
                "only platform:* keys are read (providers are configured from them, never from "
                "ambient provider config)",
            )
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise ConfigError(
                source, key, "secret values are not taken from stack config; the platform generates its own secrets"
            )
        values[name] = value
    return values


def pulumi_config_values() -> dict[str, Any]:
    """The stack's config as the engine handed it to the program, `platform:` keys only."""
    from pulumi.runtime import config as runtime_config

    raw: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    entries: dict[str, Any] = {}
    for key, value in raw.items():
        entries[key] = _decode_engine_value(value)
    return _platform_entries(entries, "stack config")


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
                    None, None, f"duplicate key '{key}'", key_node.start_mark
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
