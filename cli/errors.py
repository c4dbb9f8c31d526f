"""One way to fail: a single line on stderr, an exit code, no traceback (unless PLATFORM_DEBUG=1)."""

from __future__ import annotations

import os
import sys
from typing import NoReturn, Optional

EXIT_OK = 0
EXIT_FAILED = 1  # the operation failed
EXIT_USAGE = 2  # bad usage or invalid configuration, caught before any engine call
EXIT_INTERRUPTED = 130


class PlatformExit(Exception):
    """Raised by `fail`; the entry point turns it into the exit code."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def debug_enabled() -> bool:
    return os.environ.get("PLATFORM_DEBUG", "") not in ("", "0", "false")


def error_line(message: str, hint: Optional[str] = None) -> str:
    text = " ".join(f"error: {message}".split())
    if hint:
        text += f" (hint: {' '.join(hint.split())})"
    return text


def fail(message: str, hint: Optional[str] = None, exit_code: int = EXIT_USAGE) -> NoReturn:
    """Print one line to stderr and exit with `exit_code`."""
    print(error_line(message, hint), file=sys.stderr, flush=True)
    raise PlatformExit(exit_code)
