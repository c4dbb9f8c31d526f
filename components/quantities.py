"""Kubernetes resource quantities, parsed in one place: the stack file's CPU and memory values, the
requests the footprint sums, and the limits the policies compare.

Ref: https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/
"""

from __future__ import annotations

import re
from typing import Any

# What a stack file may write (a narrower grammar than Kubernetes accepts, so that a typo such as
# "512M" for "512Mi" is caught rather than read as a thousandth of the intended size).
CPU_PATTERN = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]{1,3})?)$")
MEMORY_PATTERN = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti)$")

_SUFFIX = {
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
}
_BY_LENGTH = sorted(_SUFFIX, key=len, reverse=True)


def quantity(value: Any) -> float:
    """A quantity ("250m", "1.5", "128Mi", "1G", "1e3") as a plain number (cores, bytes)."""
    text = str(value).strip()
    for suffix in _BY_LENGTH:
        if text.endswith(suffix) and text[: -len(suffix)]:
            return float(text[: -len(suffix)]) * _SUFFIX[suffix]
    return float(text)


def millicores(value: Any) -> int:
    """'250m' -> 250, '1.5' -> 1500."""
    return round(quantity(value) * 1000)


def mebibytes(value: Any) -> float:
    """'256Mi' -> 256.0, '1Gi' -> 1024.0."""
    return quantity(value) / 2**20
