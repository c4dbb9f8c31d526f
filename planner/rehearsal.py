"""The plan of an upgrade rehearsal (`platform upgrade --rehearse --dry-run`): an ephemeral environment
stood up at the deployed release, the stack's latest backup restored into it, this release applied,
the platform's health checked, the environment torn down; each step with its exact command and an
estimate of its time, and the reason where a step cannot run on the stack's cloud yet.

The estimates come from the offline plan: the first deploy's critical path (planner/critical_path.py,
this release's program standing in for the deployed one's), the restore time of planner/recovery.py,
and for the upgrade the releases that change, one after another (an upper bound: a Helm upgrade
waits for its resources like an install, and independent ones run in parallel) plus MLflow's
migration Job. Deletion times are not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from mlops_platform.components.data.backup_kit.record import ON_DEMAND_CLOUDS

from .critical_path import DURATIONS, HELM_RELEASES, critical_path
from .harness import ProgramRun
from .recovery import recovery

PREFIX = "rh-"  # the rehearsal environment: rh-<env>, an environment without a stack file of its own
HEALTH_MINUTES = 2  # the checks below, each retried until ready: our assumption
MIGRATION_SECONDS = DURATIONS["kubernetes:batch/v1:Job"][0]


@dataclass(frozen=True)
class RehearsalStep:
    name: str
    command: str
    minutes: Optional[int]  # None: not estimated
    basis: str
    blocked: str = ""  # why this step cannot run on the stack's cloud yet ("" when it can)

    def to_json(self) -> dict[str, Any]:
        return {"step": self.name, "command": self.command, "minutesEstimate": self.minutes, "basis": self.basis,
                **({"blocked": self.blocked} if self.blocked else {})}


@dataclass(frozen=True)
class Rehearsal:
    stack: str
    env: str
    deployed_release: Optional[str]
    steps: tuple[RehearsalStep, ...]
    checks: tuple[str, ...]

    @property
    def minutes(self) -> int:
        return sum(s.minutes or 0 for s in self.steps)

    @property
    def runnable(self) -> bool:
        return not any(s.blocked for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "environment": self.env, "deployedRelease": self.deployed_release,
                "minutesEstimate": self.minutes, "runnable": self.runnable,
                "steps": [s.to_json() for s in self.steps], "checks": list(self.checks)}

    def lines(self) -> list[str]:
        out = [f"rehearsal of the upgrade of stack {self.stack} in environment {self.env} "
               f"(about {self.minutes} min, deletion not counted):"]
        for number, step in enumerate(self.steps, 1):
            time = f"~{step.minutes} min" if step.minutes is not None else "not estimated"
            out.append(f"  {number}. {step.name} ({time}; {step.basis})")
            out.append(f"     $ {step.command}")
            if step.blocked:
                out.append(f"     cannot run yet: {step.blocked}")
        out += [f"     check: {check}" for check in self.checks]
        return out


def rehearsal_env(env: str) -> str:
    """The rehearsal environment's name for `env`: a valid environment name, at most 20 characters."""
    return (PREFIX + env)[:20].rstrip("-")


def plan_rehearsal(config: Any, rehearsal_config: Any, rehearsal_run: ProgramRun, record: Mapping[str, Any],
                   upgrade: Any) -> Rehearsal:
    """`config`: the stack being upgraded; `rehearsal_config` and `rehearsal_run`: its rehearsal
    environment and that environment's offline plan; `record`: the deployment record; `upgrade`:
    planner/upgrade.py's assessment."""
    cloud, env = config.cloud, rehearsal_config.env
    flags = f"--cloud {cloud} --env {env}"
    release = record.get("platform")
    venv = f"/tmp/mlops-platform-{release or 'deployed'}"
    install = (f"python -m venv {venv} && {venv}/bin/pip install 'mlops-platform=={release}' && " if release else
               "(the release that deployed the stack: its deployment record predates the field) ")
    first = critical_path(rehearsal_run)
    steps = [
        RehearsalStep("stand up the environment at the deployed release",
                      f"{install}{venv}/bin/platform up {flags} --yes", math.ceil(first.seconds / 60),
                      "the first deploy's critical path"),
        _restore(config, rehearsal_config, flags),
        RehearsalStep("apply this release", f"platform up {flags} --yes", _upgrade_minutes(upgrade),
                      "at most: each changing release's install time one after another, plus MLflow's migration Job"),
        RehearsalStep("check its health", "the checks below", HEALTH_MINUTES, "each retried until ready"),
        RehearsalStep("tear it down", f"platform destroy {flags} --yes", None, "deletion times are not modelled"),
    ]
    return Rehearsal(config.stack_name, env, release, tuple(steps), _checks(rehearsal_config, rehearsal_run))


def _restore(config: Any, rehearsal_config: Any, flags: str) -> RehearsalStep:
    command = f"platform restore {flags} --from latest --from-env {config.env} --yes"
    restore = recovery(rehearsal_config)
    blocked = "" if config.cloud in ON_DEMAND_CLOUDS else (
        f"`platform restore --from-env` reads another environment's backups on AWS and GCP only: on {config.cloud} "
        "each environment's backups are where only its own cluster reaches them (README: Backup and restore); "
        "the rehearsal would run on an empty database")
    basis = ("planner/recovery.py's restore estimate" if restore.rto_minutes is not None else
             f"planner/recovery.py has none for {config.cloud}")
    return RehearsalStep(f"restore {config.stack_name}'s latest backup into it", command, restore.rto_minutes, basis, blocked)


def _upgrade_minutes(upgrade: Any) -> int:
    changing = [r for r in upgrade.releases if r.added or r.removed or r.changed or r.from_version != r.to_version]
    seconds = sum(HELM_RELEASES.get(r.name, DURATIONS["kubernetes:helm.sh/v3:Release"])[0] for r in changing)
    if any(f.code == "ONE_WAY_MIGRATION" for f in upgrade.findings):
        seconds += MIGRATION_SECONDS
    return math.ceil(seconds / 60)


def _checks(rehearsal_config: Any, run: ProgramRun) -> tuple[str, ...]:
    endpoints = {k: v for k, v in (getattr(run.result, "endpoints", None) or {}).items() if isinstance(v, str)}
    checks = []
    if "mlflow" in endpoints:
        checks.append(f"MLflow answers GET {endpoints['mlflow']}/health with 200 OK")
    for model in rehearsal_config.models:
        url = endpoints.get(f"model/{model.name}")
        if url:
            path = f"/v2/models/{model.name}/ready" if model.protocol == "v2" else f"/v1/models/{model.name}"
            checks.append(f"model {model.name} ready through Traefik: GET {url}{path}")
    if "prometheus" in endpoints:
        checks.append(f"every Prometheus target up: GET {endpoints['prometheus']}/api/v1/targets?state=active, "
                      "each with health \"up\"")
    return tuple(checks)

