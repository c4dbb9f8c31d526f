"""What every configuration section shares: camelCase keys, unknown keys refused, frozen after parse,
and the value checks several sections use."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from ..quantities import CPU_PATTERN, MEMORY_PATTERN, mebibytes, millicores
from .errors import shown_text

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class Model(BaseModel):
    # camelCase keys in YAML (Pulumi's convention), unknown keys rejected, immutable after parse.
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=False
    )


# No machine on the three clouds is larger than GCP's x4-megamem-1920-metal (1,920 vCPUs, 32 TiB):
# a request beyond it can never be scheduled, and one of zero is no request.
# Ref: https://cloud.google.com/compute/docs/memory-optimized-machines#x4_series
MAX_CPU_CORES = 1920
MAX_MEMORY_MIB = 32 * 1024 * 1024


def cpu_quantity(value: str) -> str:
    if not CPU_PATTERN.match(value):
        raise ValueError(f"'{shown_text(str(value))}' is not a CPU quantity (use e.g. 250m or 1)")
    if not 1 <= millicores(value) <= MAX_CPU_CORES * 1000:
        raise ValueError(f"'{shown_text(value)}' is outside 1m..{MAX_CPU_CORES} (cores; no machine has more)")
    return value


def memory_quantity(value: str) -> str:
    if not MEMORY_PATTERN.match(value):
        raise ValueError(f"'{shown_text(str(value))}' is not a memory quantity (use e.g. 256Mi or 1Gi)")
    if not 1 <= mebibytes(value) <= MAX_MEMORY_MIB:
        raise ValueError(f"'{shown_text(value)}' is outside 1Mi..32Ti (no machine has more)")
    return value


def uuid(value: str, what: str) -> str:
    if not re.match(r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$", value):
        raise ValueError(f"'{shown_text(str(value))}' is not a {what} (a lower-case UUID)")
    return value
