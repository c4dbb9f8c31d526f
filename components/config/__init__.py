"""PlatformConfig: everything a stack file can say, parsed and validated once.

A stack file (`stacks/Pulumi.<cloud>-<env>.yaml`) holds `platform:<key>` entries under `config:`.
They are validated here — by the CLI before any engine call, and by the Pulumi program itself —
into frozen, typed models. Nothing else in the project reads Pulumi config.

Every problem becomes a `ConfigError` naming the file (or stack) and the key, one line each.

    loading.py       the stack file's text (or the engine's config) -> plain `platform:` values
    stack.py         PlatformConfig, built from sections.py (cluster, clouds, data, addons, policy)
                     and serving.py (each served model)
    checks.py        rules across several keys, run as PlatformConfig's last validation step
    translate.py     pydantic's errors -> one ConfigError naming the key
    placeholders.py  documentation placeholders left in a stack file
"""

from .errors import ConfigError
from .loading import pulumi_config_values, read_stack_text, read_stack_values, stack_file_path, stack_values_from_text
from .placeholders import placeholders
from .sections import DEFAULT_MAX_GPU_NODES, DEFAULT_MAX_NODES, PolicyLimits
from .serving import ModelConfig
from .stack import CLOUDS, PlatformConfig

__all__ = [
    "CLOUDS",
    "DEFAULT_MAX_GPU_NODES",
    "DEFAULT_MAX_NODES",
    "ConfigError",
    "ModelConfig",
    "PlatformConfig",
    "PolicyLimits",
    "placeholders",
    "pulumi_config_values",
    "read_stack_text",
    "read_stack_values",
    "stack_file_path",
    "stack_values_from_text",
]
