"""A backup command's failures as the CLI reports them: refused input exits 2, a failed step 1,
each as one line."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused


@contextmanager
def failures() -> Iterator[None]:
    from ..errors import EXIT_FAILED, EXIT_USAGE, fail

    try:
        yield
    except BackupRefused as err:
        fail(str(err), exit_code=EXIT_USAGE)
    except BackupFailed as err:
        fail(str(err), exit_code=EXIT_FAILED)
