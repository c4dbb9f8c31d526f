"""Estimated first-deploy time of every shipped stack: its critical path now, against the recorded
baseline (benchmarks/critical_path_before.json: the plans before the false dependencies were cut)
and against the issue's own estimates where it gave one.

    python benchmarks/critical_path.py [--chain] [--parallel] [--record FILE]

The estimate is `platform plan`'s (planner/critical_path.py): the heaviest chain of resources that
wait for one another, each weighted by the duration table there. `--chain` prints each stack's chain;
`--parallel` replays each plan with the engine bounded to N operations at once (the figures behind
cli/engine/parallelism.py); `--record FILE` writes today's figures in the baseline's format.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "benchmarks" / "critical_path_before.json"
STACKS = ("local-dev", "aws-dev", "aws-prod", "azure-dev", "azure-prod", "gcp-dev", "gcp-prod")
GOAL = 0.15  # the issue's bar: every chain at least 15% shorter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", action="store_true", help="print each stack's chain")
    parser.add_argument("--parallel", action="store_true", help="the estimate at --parallel 1, 2, 4, 8, 16, 32")
    parser.add_argument("--record", type=Path, help="write today's figures as a baseline file")
    options = parser.parse_args()

    from mlops_platform.components.config import PlatformConfig
    from mlops_platform.planner.critical_path import critical_path, schedule
    from mlops_platform.planner.harness import plan_platform

    baseline = json.loads(BASELINE.read_text(encoding="utf-8"))
    issue = baseline.get("issue_estimates_minutes", {})
    now: dict[str, dict] = {}
    runs = {}
    print(f"{'stack':11} {'before':>8} {'after':>8} {'change':>7}   {'issue est.':>10} {'change':>7}   steps")
    for stack in STACKS:
        config = PlatformConfig.from_stack_file(ROOT / "stacks" / f"Pulumi.{stack}.yaml", stack)
        runs[stack] = run = plan_platform(config)
        path = critical_path(run)
        now[stack] = {"seconds": path.seconds, "resources": len(path.steps), "chain": [s.name for s in path.steps]}
        before = baseline["stacks"][stack]["seconds"]
        change = path.seconds / before - 1
        line = f"{stack:11} {before / 60:6.1f}m {path.seconds / 60:6.1f}m {change:+7.1%}"
        if stack in issue:
            line += f"   {issue[stack]:8.1f}m {path.seconds / 60 / issue[stack] - 1:+7.1%}"
        else:
            line += f"   {'':>9} {'':>7}"
        flag = "" if change <= -GOAL else "   (short of -15%)"
        print(f"{line}   {len(path.steps)}{flag}")
        if options.chain:
            for step in path.steps:
                if step.seconds:
                    print(f"      {step.seconds:4d}s  {step.type}  {step.name}")
    if options.parallel:
        levels = (1, 2, 4, 8, 16, 32)
        print("\nestimate (min) with the engine bounded to N operations at once:")
        print(f"{'stack':11} " + " ".join(f"{'N=' + str(n):>7}" for n in levels) + f" {'unbounded':>10}")
        for stack, run in runs.items():
            print(f"{stack:11} " + " ".join(f"{schedule(run, n) / 60:7.1f}" for n in levels)
                  + f" {critical_path(run).seconds / 60:10.1f}")
    if options.record:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        record = {"note": f"Critical paths of the shipped stacks at commit {commit}, by benchmarks/critical_path.py --record.",
                  "commit": commit, "issue_estimates_minutes": issue, "stacks": now}
        options.record.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {options.record}", file=sys.stderr)


if __name__ == "__main__":
    main()
