"""What MLflow holds, as its API answers (experiments, runs, registered model versions, deleted ones
included), and its health: recorded with a backup and compared after a restore."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any, Callable, Iterator

from mlops_platform.components.data.backup_kit.errors import BackupFailed
from mlops_platform.components.data.backup_kit.record import Counts

from ..registry import Registry, RegistryError

PAGE = 1000


def _every(search: Callable[..., Any], **params: Any) -> Iterator[Any]:
    """Every item a paged MLflow search returns, page after page (its page token)."""
    token = None
    while True:
        page = search(max_results=PAGE, page_token=token, **params)
        yield from page
        token = page.token
        if not token:
            return


def counts(registry: Registry) -> Counts:
    from mlflow.entities import ViewType

    try:
        with registry.client() as client:
            ids = [e.experiment_id for e in _every(client.search_experiments, view_type=ViewType.ALL)]
            # The run search takes at most 100 experiments at once.
            runs = sum(1 for start in range(0, len(ids), 100)
                       for _ in _every(client.search_runs, experiment_ids=ids[start:start + 100], run_view_type=ViewType.ALL))
            versions = sum(1 for _ in _every(client.search_model_versions))
    except RegistryError as err:
        raise BackupFailed(str(err)) from None
    return Counts(experiments=len(ids), runs=runs, model_versions=versions)


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
