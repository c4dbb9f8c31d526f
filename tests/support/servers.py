"""Starting a real service on loopback for a test: a free port, and waiting until it answers."""

from __future__ import annotations

import os
import random
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


_GIVEN: set[int] = set()  # ports this process handed out: a second server never gets one again


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (now): for a server a test starts.

    Each pytest-xdist worker takes its ports from a range of its own below the kernel's ephemeral
    range (20000-29999, split between the workers). Between this probe and the server's bind the
    port is free for anyone: were another worker's server to take it meanwhile, the health check
    would find that server answering and the tests would talk to the wrong one (a clean-clone run saw
    MLflow's sign-in tests reach a plain `mlflow server` of another worker). Not bind(0): Linux hands
    bind(0) odd ports only, and the clients' own connections come from the ephemeral range."""
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % count
    span = 10000 // count
    low = 20000 + index * span
    for _ in range(500):
        port = random.randrange(low, low + span)
        if port in _GIVEN:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {low}-{low + span - 1}")


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
