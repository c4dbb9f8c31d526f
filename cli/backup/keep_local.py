"""`platform destroy --keep-data` and the `up` after it on a local stack, whose database and objects
live in the kind cluster that the destroy deletes: the data leaves as a backup (`platform backup`
in the cluster), carried to this machine (cli/backup/transfer.py: kept/<stack>/<id>/ under the
platform's state folder) and recorded as `platform:keptData`. The next `up` checks the copy is
there before it deploys; once the new cluster is up, it carries the copy into the new store, and
the cluster's restore Job restores it (what `platform restore` does), MLflow's counts checked. Then
the record leaves the stack file and the copy is deleted.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from mlops_platform.components.config.sections import KeptData
from mlops_platform.components.data.local import BUCKET


def keep(config: Any, engine: Any) -> KeptData:
    """Backs the stack up and copies the backup here; returns the record for the stack file. Nothing
    of the stack has changed if this fails (a backup more in the store, which the destroy deletes)."""
    from .. import display
    from .cluster_target import ClusterTarget
    from .guard import failures
    from .target import backup_now, engine_outputs, target_from
    from .transfer import export, kept_folder

    with failures():
        target = target_from(config, engine_outputs(config, engine))
        assert isinstance(target, ClusterTarget), "a local stack's backups run in its cluster"
        display.progress(f"backing up stack {config.stack_name} before the destroy (its data leaves as this backup)")
        record, _ = backup_now(target, display.progress)
        folder = kept_folder(config.stack_name, record.id)
        copied = export(target, record.id, folder, display.progress)
    display.progress(f"copied backup {record.id} ({copied} bytes) out of the cluster to {folder}")
    return KeptData.model_validate({"bucket": BUCKET, "databaseDump": record.database.ref, "backup": record.id})


def where(config: Any, kept: KeptData) -> Path:
    """Where the stack's kept copy is (transfer.kept_folder)."""
    from .transfer import kept_folder

    return kept_folder(config.stack_name, kept.backup)


def check_copy(config: Any, kept: KeptData) -> None:
    """Before `up` deploys anything: the kept copy is whole where destroy put it (exit 2 if not)."""
    from .guard import failures
    from .transfer import local_files

    with failures():
        local_files(kept.backup, where(config, kept))


def restore_copy(config: Any, engine: Any, kept: KeptData) -> None:
    """After the update: the copy carried into the new cluster's store, then restored there by the
    restore Job, MLflow's counts checked. A failure exits 1 (a refusal 2) with the record and the
    copy kept: the next `up` tries again."""
    from .. import display
    from .cluster_target import ClusterTarget, restore
    from .guard import failures
    from .target import engine_target, require_mlflow
    from .transfer import import_

    with failures():
        target = engine_target(config, engine)
        assert isinstance(target, ClusterTarget), "a local stack's backups run in its cluster"
        require_mlflow(config, target.mlflow.url)
        import_(target, kept.backup, where(config, kept), display.progress)
        restore(target, kept.backup, False, display.progress)


def forget_copy(config: Any, kept: KeptData) -> None:
    """The copy, now that the new store holds the backup again; a failure only warns."""
    from .. import display

    folder = where(config, kept)
    try:
        shutil.rmtree(folder)
    except OSError as err:
        display.progress(f"warning: the kept copy {folder} could not be deleted ({err.strerror or err}); "
                         "the stack's store holds the backup again, so delete it when you like")
