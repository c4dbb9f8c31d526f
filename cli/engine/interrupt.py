"""Ctrl-C during an engine operation.

The Automation API has no cancel token, and the `pulumi` child shares our terminal's process
group, so it receives the same SIGINT and starts its own graceful cancellation (in-flight steps
finish, nothing new starts). The first Ctrl-C therefore only records the request and lets the
operation return; a second one stops waiting (exit 130 at once).
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any, Optional


class Interrupts:
    def __init__(self) -> None:
        self.count = 0
        self._previous: Any = None

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
        raise KeyboardInterrupt

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
