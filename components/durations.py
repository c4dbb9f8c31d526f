"""Durations, one grammar everywhere: a stack's time to live (`ttl`), Prometheus's retention, and
`platform stacks --stale`. A whole number and a unit, h, d or w ("12h", "15d", "2w"), of at least
an hour and at most a hundred years.
"""

from __future__ import annotations

import re
from datetime import timedelta

PATTERN = re.compile(r"^([0-9]{1,7})([hdw])$")
RULE = "a whole number of hours, days or weeks such as 12h, 15d or 2w, from 1h to 100 years"
UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7}
MAX_HOURS = 100 * 8766  # a hundred years of 365.25 days


class DurationError(ValueError):
    """Not a duration of this grammar, or outside its range; `str()` says which, in one phrase."""


def hours(text: str) -> int:
    """'12h' -> 12, '3d' -> 72, '2w' -> 336. Raises DurationError."""
    match = PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise DurationError(f"'{text if len(str(text)) <= 40 else str(text)[:39] + '…'}' is not a duration ({RULE})")
    value = int(match.group(1)) * UNIT_HOURS[match.group(2)]
    if value == 0:
        raise DurationError(f"'{text}' is zero: give at least 1h")
    if value > MAX_HOURS:
        raise DurationError(f"'{text}' is longer than 100 years")
    return value


def parse(text: str) -> timedelta:
    return timedelta(hours=hours(text))
