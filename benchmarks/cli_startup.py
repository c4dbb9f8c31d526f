"""CLI start-up: `platform --help` in fresh processes.

    python benchmarks/cli_startup.py [--runs 10]

Target (issue #2): at most 0.3 s — heavy imports (Pulumi SDK, providers, rich) stay out of start-up.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import report, time_command  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    platform = shutil.which("platform") or sys.exit("the platform command is not installed (pip install -e .)")
    report("platform --help", time_command([platform, "--help"], args.runs), 0.3)
    report("platform --version", time_command([platform, "--version"], args.runs), 0.3)


if __name__ == "__main__":
    main()
