"""Offline plan time: `platform plan --cloud <cloud> --json` end to end, in fresh processes.

    python benchmarks/plan_time.py [--cloud local] [--runs 5]

Target (issue #2): at most 3 s on a 2-core machine for the local stack.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import report, time_command  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cloud", default="local")
    parser.add_argument("--env", default="dev")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    platform = shutil.which("platform") or sys.exit("the platform command is not installed (pip install -e .)")
    samples = time_command([platform, "plan", "--cloud", args.cloud, "--env", args.env, "--json"], args.runs, cwd=str(ROOT))
    report(f"platform plan --cloud {args.cloud} --env {args.env} --json", samples, 3.0)


if __name__ == "__main__":
    main()
