"""Consoles: stdout carries data (tables, JSON), stderr carries progress and diagnostics.

Consoles are made per call so they follow whatever sys.stdout / sys.stderr are at the time.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator


def out():  # -> rich.console.Console
    from rich.console import Console

    # Piped output is data: never truncate it to an 80-column guess.
    width = None if sys.stdout.isatty() else 200
    # emoji=False: a ":cloud:" in a key (platform:cloud: ...) or an engine message stays text.
    return Console(file=sys.stdout, highlight=False, width=width, emoji=False)


def err():  # -> rich.console.Console
    from rich.console import Console

    return Console(file=sys.stderr, highlight=False, soft_wrap=True, emoji=False)


def count(n: int, noun: str, plural: str = "") -> str:
    """`1 resource`, `7 resources`: messages that read right whatever the number."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def literal(value: object) -> str:
    """`value` as text rich prints as it is: a name such as `[bold]x` or a value `[secret]` is not markup."""
    from rich.markup import escape

    return escape(str(value))


def progress(message: str) -> None:
    """A line of progress on stderr, printed literally (it carries names, paths and engine text)."""
    err().print(f"[dim]{literal(message)}[/dim]")


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def steps(title: str) -> Iterator[Callable[[str], None]]:
    """A progress display on stderr for work in steps: on a terminal a spinner that shows the
    current step and the time so far; otherwise one line per step, for logs. Yields the function
    that announces a step."""
    import time

    from rich.markup import escape

    started = time.monotonic()
    if not sys.stderr.isatty():
        yield lambda step: progress(f"  {step}...")
        return
    status = err().status(f"[dim]{escape(title)}[/dim]")
    with status:
        yield lambda step: status.update(f"[dim]{escape(title)}: {escape(step)} ({time.monotonic() - started:.1f}s)[/dim]")
