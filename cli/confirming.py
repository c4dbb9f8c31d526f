"""Asking before a change: on a terminal only (without one, `--yes` is required), as a yes/no
question or as a name to type back."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from .errors import fail


def confirm(prompt: str, expected: Optional[str] = None) -> bool:
    """Ask on the terminal; refuse (exit 2) when there is none."""
    if not sys.stdin.isatty():
        fail("refusing to continue without confirmation on a non-interactive terminal", "pass --yes")
    if expected is not None:
        answer = typer.prompt(prompt, default="", show_default=False, err=True)
        return answer.strip() == expected
    return typer.confirm(prompt, default=False, err=True)
