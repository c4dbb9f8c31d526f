"""Wall-clock timing of a command in fresh processes (shared by the benchmark scripts)."""

from __future__ import annotations

import statistics
import subprocess
import time
from typing import Mapping, Sequence


def time_command(command: Sequence[str], runs: int, cwd: str | None = None, env: Mapping[str, str] | None = None) -> list[float]:
    subprocess.run(command, cwd=cwd, capture_output=True, check=True, env=env)  # warm the OS file cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, capture_output=True, check=True, env=env)
        samples.append(time.perf_counter() - started)
    return samples


def report(label: str, samples: list[float], target: float) -> None:
    median = statistics.median(samples)
    verdict = "within" if median <= target else "OVER"
    print(
        f"{label}: median {median:.3f}s, min {min(samples):.3f}s, max {max(samples):.3f}s "
        f"over {len(samples)} runs (target <= {target}s: {verdict})"
    )
