"""What every configuration section shares: camelCase keys, unknown keys refused, frozen after parse,
and the value checks several sections use."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ..quantities import CPU_PATTERN, MEMORY_PATTERN
from .errors import shown_text

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class Model(BaseModel):
    # camelCase keys in YAML (Pulumi's convention), unknown keys rejected, immutable after parse.
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=False
    )


def cpu_quantity(value: str) -> str:
    if not CPU_PATTERN.match(value):
        raise ValueError(f"'{shown_text(str(value))}' is not a CPU quantity (use e.g. 250m or 1)")
    return value


def memory_quantity(value: str) -> str:
    if not MEMORY_PATTERN.match(value):
        raise ValueError(f"'{shown_text(str(value))}' is not a memory quantity (use e.g. 256Mi or 1Gi)")
    return value


def uuid(value: str, what: str) -> str:
    if not re.match(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$", value):
        raise ValueError(f"'{shown_text(str(value))}' is not a {what} (a lower-case UUID)")
    return value
