"""Ctrl-C during an engine operation.

The Automation API has no cancel token, and the `pulumi` child shares our terminal's process
group, so it receives the same SIGINT and starts its own graceful cancellation (in-flight steps
finish, nothing new starts). The first Ctrl-C therefore only records the request and lets the
operation return; a second one stops waiting (exit 130 at once).

Stopping at once cannot be done by raising KeyboardInterrupt: the SDK's subprocess call, unwound by
it, closes the child's output pipes while its reader threads still block on them, and so waits as
long as the child runs (pulumi/automation/_cmd.py: `with subprocess.Popen(...)`). Under the
console script (cli/entry.py installed its handler), the second Ctrl-C therefore prints its line and
ends the process; called as a library (tests, CliRunner), it raises KeyboardInterrupt.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import Any, Callable, Optional

CONSOLE_SCRIPT = "mlops_platform.cli.entry"  # the module whose SIGINT handler marks the console script


class Interrupts:
    def __init__(self, on_second: Optional[Callable[[], None]] = None) -> None:
        self.count = 0
        self._previous: Any = None
        self._on_second = on_second  # says why the process stops; it then exits

    @property
    def requested(self) -> bool:
        return self.count > 0

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        self.count += 1
        if self.count == 1:
            print(
                "\ninterrupt: letting in-flight steps finish (press Ctrl-C again to stop waiting)...",
                file=sys.stderr,
                flush=True,
            )
            return
        if self._on_second is not None and getattr(self._previous, "__module__", "") == CONSOLE_SCRIPT:
            self._on_second()
            sys.stderr.flush()
            os._exit(130)
        raise KeyboardInterrupt

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
