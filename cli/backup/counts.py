"""What MLflow holds, as its API answers (experiments, runs, registered model versions, deleted ones
included), and its health: recorded with a backup and compared after a restore."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from mlops_platform.components.data.backup_kit.errors import BackupFailed
from mlops_platform.components.data.backup_kit.record import Counts

from ..registry import Registry, RegistryError

PAGE = 1000


def counts(registry: Registry) -> Counts:
    from mlflow.entities import ViewType

    try:
        with registry.client() as client:
            experiments = []
            token = None
            while True:
                page = client.search_experiments(view_type=ViewType.ALL, max_results=PAGE, page_token=token)
                experiments.extend(page)
                token = page.token
                if not token:
                    break
            runs = 0
            ids = [e.experiment_id for e in experiments]
            for start in range(0, len(ids), 100):  # the search takes at most 100 experiments at once
                token = None
                while True:
                    found = client.search_runs(ids[start:start + 100], run_view_type=ViewType.ALL, max_results=PAGE, page_token=token)
                    runs += len(found)
                    token = found.token
                    if not token:
                        break
            versions = 0
            token = None
            while True:
                listed = client.search_model_versions(max_results=PAGE, page_token=token)
                versions += len(listed)
                token = listed.token
                if not token:
                    break
    except RegistryError as err:
        raise BackupFailed(str(err)) from None
    return Counts(experiments=len(experiments), runs=runs, model_versions=versions)


def wait_healthy(url: str, timeout: float = 300, insecure: bool = False) -> None:
    """MLflow's /health answers 200 (after a switch, its pool reconnects to the restored database)."""
    import ssl

    context = ssl._create_unverified_context() if insecure else None  # noqa: S323 - the stack's own CA, as `models` does
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=10, context=context) as answer:
                if answer.status == 200:
                    return
                last = f"HTTP {answer.status}"
        except (urllib.error.URLError, OSError) as err:
            last = str(getattr(err, "reason", err))
        if time.monotonic() > deadline:
            raise BackupFailed(f"MLflow at {url} is not healthy after {int(timeout)} s: {last[:120]}")
        time.sleep(1)
