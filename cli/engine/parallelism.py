"""How many resource operations the engine runs at once (`--parallel`), unless the user says.

Pulumi's own default is unbounded (2147483647): every resource whose dependencies are done starts.
Ref: https://www.pulumi.com/docs/iac/cli/commands/pulumi_up/ (-p, --parallel)

Most of a deploy waits on remote APIs, so a bound costs nothing as long as it does not hold back
the chain that bounds the deploy. `benchmarks/critical_path.py --parallel` replays every shipped
stack's plan with N slots (planner/critical_path.py: schedule) under the duration table:

- cloud stacks reach their unbounded estimate at 16 and lose nothing above it (at 8 aws-prod is
  about 25 s slower, at 4 about 4 min), but azure-prod, which is 1 s later at 16: when its resource
  group exists, 17 operations are ready at once and its Postgres DNS zone waits a second for a slot.
  A bound of 16 keeps a first deploy from firing 60 Kubernetes and cloud API calls at once into a
  cluster whose control plane is still scaling up, and from tripping per-account API throttling
  (AWS, ARM, GCP all throttle bursts of mutating calls); the work is remote, so 16 suits a 2-core
  laptop and a CI runner alike.
- local (kind) stacks share the machine's cores with the cluster itself: the API server, etcd,
  the controllers and every pod starting. The estimate assumes free CPU, so it favours more
  parallelism than a 2-core laptop can serve; 4 per core (8 on 2 cores, 16 from 4 cores) costs
  about 35 s of estimate on 2 cores (6.4 instead of 5.8 min; sign-in added two dozen objects)
  and keeps the control plane responsive while up to 8 charts install.

`--parallel N` (or PLATFORM_PARALLEL) overrides either.
"""

from __future__ import annotations

import os
from typing import Optional

CLOUD = 16
LOCAL_PER_CPU = 4
LOCAL_MIN, LOCAL_MAX = 4, 16
ENV = "PLATFORM_PARALLEL"


def default(cloud: str, cpus: Optional[int] = None) -> int:
    if cloud != "local":
        return CLOUD
    cpus = cpus or os.cpu_count() or 1
    return max(LOCAL_MIN, min(LOCAL_MAX, LOCAL_PER_CPU * cpus))


def from_environment() -> Optional[int]:
    """PLATFORM_PARALLEL for commands without a --parallel flag (plan's estimate); ValueError naming it
    when it is set but not a whole number from 1 to 256 (the flag's range)."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 256:
        raise ValueError(f"${ENV}={raw[:20]!r} is not a whole number from 1 to 256")
    return int(raw)


def resolve(cloud: str, flag: Optional[int]) -> int:
    """The flag, else PLATFORM_PARALLEL (validated by the caller's option), else the default."""
    return flag if flag is not None else default(cloud)
