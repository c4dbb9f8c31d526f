"""Starting a real service on loopback for a test: a free port, and waiting until it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, NoReturn, Optional, Sequence

import httpx
import pytest

# A server the suite starts answers slowly while the other worker loads the 2 cores (the oidc-auth
# app's first call per user writes its user row and fetches the issuer's keys): httpx's 5 s default
# failed 17 tests' setup in one CI run, so calls to those servers wait as long as a user would.
http = httpx.Client(timeout=60)


def missing(message: str, require_flag: str) -> NoReturn:
    """A service a test needs is not installed: a skip naming why, or, where CI sets `require_flag`
    to 1 (.ci/run), a failure."""
    if os.environ.get(require_flag) == "1":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (now): for a server a test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_serving(url: str, process: "subprocess.Popen[bytes]", log: Path, what: str, timeout: float) -> None:
    """Poll `url` until it answers; fail with the end of `log` if `process` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.2)


@contextmanager
def serving(command: Sequence[str], health_url: str, log: Path, what: str, timeout: float,
            cwd: Optional[Path] = None, stop_within: float = 30) -> Iterator["subprocess.Popen[bytes]"]:
    """`command` started on loopback (its stderr in `log`), once `health_url` answers; stopped on exit."""
    process = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=log.open("w"), cwd=cwd)
    try:
        wait_until_serving(health_url, process, log, what, timeout)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=stop_within)
