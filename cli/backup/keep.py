"""`platform destroy --keep-data` and the `up` that adopts what it kept (AWS).

What is kept:
- the artifact bucket and its settings: taken out of the stack's state before the destroy (so the
  engine does not delete them), and imported by the next `up` (components/data/aws.py);
- the database, as the RDS snapshot of a `platform backup` taken first: the instance cannot outlive
  the VPC the destroy removes (its subnet group and security group live there), so the next `up`
  creates it from that snapshot.
Both are written to the stack file as `platform:keptData`, the record the next `up` reads and
removes once it has adopted them.
Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RestoreFromSnapshot.html
"""

from __future__ import annotations

from typing import Any, Optional

from mlops_platform.components.config.sections import KeptData

KEY = "keptData"
# The bucket and the settings that are its own (each imported by the bucket's name).
BUCKET_TYPES = (
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
)


def refuse_unkeepable(config: Any) -> None:
    """Exit 2 before anything is touched where this stack cannot keep its data through a destroy."""
    from ..errors import fail

    reason = _refusal(config)
    if reason:
        fail(f"cannot keep the data: {reason}; nothing was destroyed")


def _refusal(config: Any) -> Optional[str]:
    from .. import ephemeral
    from ..project import project_dir, stack_file

    if config.cloud != "aws":
        return (f"--keep-data keeps an AWS stack's data so far; on {config.cloud} the database lives inside what destroy "
                "removes (README: Backup and restore)")
    if config.protected:
        return (f"stack {config.stack_name}'s data is protected: a plain `platform destroy` already keeps its database and "
                "bucket, and the next `up` uses them as they are")
    path = stack_file(project_dir(), config.stack_name)
    if not path.is_file() or ephemeral.is_derived(path):
        return (f"{config.env} is an ephemeral environment derived from the dev stack file: it keeps nothing; give it a "
                "stack file of its own to keep its data")
    return None


def kept_ids(kept: Optional[KeptData]) -> list[str]:
    """The cloud ids of what destroy --keep-data kept (the stack file's record): expected by a sweep, never left over."""
    return [kept.bucket, kept.database_snapshot] if kept is not None else []


def bucket_resources(resources: list[dict[str, Any]], bucket: str) -> list[dict[str, Any]]:
    """The bucket and its own settings in the stack's state (their ids are its name)."""
    return [r for r in resources if r.get("type") in BUCKET_TYPES and r.get("id") == bucket]


def keep(config: Any, engine: Any, resources: list[dict[str, Any]]) -> tuple[KeptData, list[dict[str, Any]]]:
    """Back up, record what is kept in the stack file, then release the bucket from the state; returns
    what is kept and the state's resources left to destroy. On a failure before the release, nothing
    has changed but a backup more; the stack file is put back if the release fails. A destroy that an
    earlier --keep-data began (the record is there) just goes on."""
    from .. import display
    from ..engine.state import ReleaseRefused
    from ..errors import EXIT_FAILED, fail
    from ..running import run_operation
    from .guard import failures
    from .operations import Target, take_backup
    from .target import engine_target

    if config.kept_data is not None:
        kept = config.kept_data
        display.progress(f"the data was kept by an earlier destroy --keep-data (bucket {kept.bucket}, snapshot "
                         f"{kept.database_snapshot}): finishing the teardown")
        return kept, resources
    with failures():
        target = engine_target(config, engine)
        assert isinstance(target, Target), "keep-data is refused before here on an in-cluster stack"
        display.progress(f"backing up stack {config.stack_name} before the destroy (its database leaves as this snapshot)")
        record, _ = take_backup(target, display.progress)
    bucket = target.bucket.name
    owned = bucket_resources(resources, bucket)
    urns = [r["urn"] for r in owned]
    if not any(r["type"] == BUCKET_TYPES[0] for r in owned):
        fail(f"the bucket {bucket} named by the stack's outputs is not in its state; nothing was destroyed",
             f"run platform refresh --cloud {config.cloud} --env {config.env}, then destroy again", EXIT_FAILED)
    kept = KeptData.model_validate({"bucket": bucket, "databaseSnapshot": record.database.ref, "backup": record.id})
    path, before = _stack_file(config)
    _write(path, before, kept)
    try:
        run_operation(config, lambda: engine.release(urns))
    except ReleaseRefused as err:
        _write(path, before, None)
        fail(f"cannot take the bucket out of the stack's state: {err}; nothing was destroyed", exit_code=EXIT_FAILED)
    except BaseException:  # the engine's failure (already one line) or an interrupt: the record goes with it
        _write(path, before, None)
        raise
    display.progress(f"kept bucket {bucket} ({len(urns)} resources out of the state) and database snapshot "
                     f"{kept.database_snapshot} (backup {record.id}); the next `platform up` adopts them")
    return kept, run_operation(config, engine.resources)


def adopting(kept: KeptData) -> None:
    from .. import display

    display.progress(f"adopting what destroy --keep-data kept: bucket {kept.bucket} (imported) and the database "
                     f"(created from snapshot {kept.database_snapshot})")


def adopted(config: Any) -> None:
    """After an `up` that adopted the kept data: the record leaves the stack file (the stack holds them again)."""
    from .. import display

    path, before = _stack_file(config)
    _write(path, before, None)
    kept = config.kept_data
    display.progress(f"adopted bucket {kept.bucket} and the database restored from {kept.database_snapshot}; "
                     f"{KEY} removed from the stack file")


def _stack_file(config: Any) -> tuple[Any, str]:
    from ..project import project_dir, stack_file

    path = stack_file(project_dir(), config.stack_name)
    return path, path.read_text(encoding="utf-8")


def _write(path: Any, before: str, kept: Optional[KeptData]) -> None:
    from mlops_platform.planner import files

    from ..errors import EXIT_FAILED, fail
    from ..stack_edit import set_platform_mapping

    value = None if kept is None else kept.model_dump(mode="json", by_alias=True)
    try:
        files.write_text(path, before if kept is None and KEY not in before else set_platform_mapping(before, KEY, value))
    except OSError as err:
        fail(f"cannot write {path.name}: {err.strerror or err}; " + ("the data is still in the stack" if kept else
             f"remove platform:{KEY} from it by hand"), exit_code=EXIT_FAILED)
