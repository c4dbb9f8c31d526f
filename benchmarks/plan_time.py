"""Offline plan time: `platform plan --cloud C --env E --json` end to end, in fresh processes, for
every shipped stack, with every chart rendered.

    PLATFORM_CHARTS_DIR=../shared/charts python benchmarks/plan_time.py [--stack aws-prod] [--runs 5]

Two figures per stack: a cold plan (the render cache empty: every chart rendered and parsed) and
warm plans (renders read back from $XDG_CACHE_HOME/mlops-platform/renders, which is what repeat
plans of an unchanged stack do). Target: at most 3 s each, cold and warm, on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import report, time_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 3.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", action="append", help="<cloud>-<env>; default: every shipped stack")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    platform = shutil.which("platform") or sys.exit("the platform command is not installed (pip install -e .)")
    stacks = args.stack or sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        for stack in stacks:
            cloud, _, name = stack.partition("-")
            command = [platform, "plan", "--cloud", cloud, "--env", name, "--json"]
            shutil.rmtree(Path(cache) / "mlops-platform", ignore_errors=True)
            started = time.perf_counter()
            done = subprocess.run(command, cwd=str(ROOT), capture_output=True, env=env)
            cold = time.perf_counter() - started
            if done.returncode != 0:
                sys.exit(f"{stack}: plan failed: {done.stderr.decode().strip().splitlines()[-1]}")
            if b'"partial": true' in done.stdout:
                sys.exit(f"{stack}: charts not rendered; set PLATFORM_CHARTS_DIR (or run `platform charts pull`)")
            samples = time_command(command, args.runs, cwd=str(ROOT), env=env)
            cold_verdict = "within" if cold <= TARGET_SECONDS else "OVER"
            report(f"platform plan {stack} (cold {cold:.3f}s: {cold_verdict}) warm", samples, TARGET_SECONDS)


if __name__ == "__main__":
    main()
