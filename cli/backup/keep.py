"""`platform destroy --keep-data` and the `up` that adopts what it kept (AWS, GCP, Azure; a local
stack's data lives in the kind cluster the destroy deletes, so it leaves as a backup copied to this
machine: cli/backup/keep_local.py).

What is kept:
- the artifact store and its settings: taken out of the stack's state before the destroy (so the
  engine does not delete them), and imported by the next `up` (components/data/aws.py, gcp.py,
  azure.py). On Azure that is the storage account, its blob service's settings and the artifacts
  container, and the resource group that holds them: the engine deletes a resource group with all
  it holds, so the group is released too, and the engine deletes everything else in it one by one
  (components/cluster/aks.py imports it back);
- the database, as a backup taken first by `platform backup`: the instance cannot outlive the
  network the destroy removes (its subnet group and security group on AWS, the private services
  peering on GCP, the delegated subnet on Azure). On AWS, the RDS snapshot, which the next `up`
  creates the database from. On GCP, the Cloud SQL on-demand backup, made to outlive its instance
  (retainBackupsOnDelete); the next `up` creates an empty instance, then restores the backup onto
  it, sets MLflow's logins back (as a restore of another instance's backup does:
  cli/backup/logins.py, schema_job.py), checks MLflow's counts, and deletes the retained backup. On
  Azure, the backup's pg_dump in the kept account; the next `up` creates a new server, then the
  cluster's restore Job restores the dump into it and switches MLflow to it (what `platform restore`
  does), and MLflow's counts are checked.
Both are written to the stack file as `platform:keptData`, the record the next `up` reads and
removes once it has adopted them.
Ref: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_RestoreFromSnapshot.html
Ref: https://cloud.google.com/sql/docs/postgres/backup-recovery/manage-backups-deleted-instance
Ref: https://learn.microsoft.com/azure/azure-resource-manager/management/delete-resource-group
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from mlops_platform.components import names
from mlops_platform.components.config.sections import KeptData

if TYPE_CHECKING:
    from .cloudsql import CloudSqlBackup

KEY = "keptData"
# The bucket and the settings that are its own (each imported by the bucket's name), by cloud.
BUCKET_TYPES = {
    "aws": (
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketPolicy:BucketPolicy",
    ),
    "gcp": ("gcp:storage/bucket:Bucket",),  # its settings are the bucket's own fields
    # The account, then what lives under its id and is its own (not the role assignments and
    # diagnostic settings on it: they name identities and a workspace that go, and the next `up`
    # makes them again), then the resource group that holds it.
    "azure": (
        "azure-native:storage:StorageAccount",
        "azure-native:storage:BlobServiceProperties",
        "azure-native:storage:BlobContainer",
        "azure-native:resources:ResourceGroup",
    ),
}

def refuse_unkeepable(config: Any) -> None:
    """Exit 2 before anything is touched where this stack cannot keep its data through a destroy."""
    from ..errors import fail

    reason = _refusal(config)
    if reason:
        fail(f"cannot keep the data: {reason}; nothing was destroyed")


def _refusal(config: Any) -> Optional[str]:
    from .. import ephemeral
    from ..project import project_dir, stack_file

    # Only prod's data is under keys of the stack's own (ManagedDataArgs.customer_keys), which a destroy
    # would delete with it; prod is always protected (checks.py refuses protect: false there), so the
    # data kept here is under the provider's keys, which outlive the stack.
    if config.protected:
        return (f"stack {config.stack_name}'s data is protected: a plain `platform destroy` already keeps its database and "
                "bucket, and the next `up` uses them as they are")
    path = stack_file(project_dir(), config.stack_name)
    if not path.is_file() or ephemeral.is_derived(path):
        return (f"{config.env} is an ephemeral environment derived from the dev stack file: it keeps nothing; give it a "
                "stack file of its own to keep its data")
    return None


def kept_ids(kept: Optional[KeptData]) -> list[str]:
    """The cloud ids of what destroy --keep-data kept (the stack file's record): expected by a sweep,
    never left over. An Azure dump lives in the kept account, which is its id."""
    if kept is None:
        return []
    return [kept.bucket, names.resource_group_id(kept.bucket)] if kept.database_dump else [kept.bucket, kept.database]


def bucket_resources(resources: list[dict[str, Any]], bucket: str, cloud: str) -> list[dict[str, Any]]:
    """The bucket and its own settings in the stack's state: their ids are its name (AWS, GCP), or
    the account's id and those under it, and its resource group's (Azure; ARM ids differ in case
    between APIs)."""
    if cloud != "azure":
        return [r for r in resources if r.get("type") in BUCKET_TYPES[cloud] and r.get("id") == bucket]
    account, group = bucket.lower(), names.resource_group_id(bucket).lower()

    def held(resource_id: str) -> bool:
        return resource_id in (account, group) or resource_id.startswith(account + "/")

    return [r for r in resources if r.get("type") in BUCKET_TYPES[cloud] and held(str(r.get("id") or "").lower())]


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
    from .target import backup_now, engine_outputs, target_from

    if config.kept_data is not None:
        kept = config.kept_data
        display.progress(f"the data was kept by an earlier destroy --keep-data ({_store(config, kept)}, {_database(kept)}): "
                         "finishing the teardown")
        return kept, resources
    if config.cloud == "local":
        return _keep_copy(config, engine), resources
    with failures():
        outputs = engine_outputs(config, engine)
        target = target_from(config, outputs)
        bucket = _store_id(config, target, outputs, resources)
    owned = bucket_resources(resources, bucket, config.cloud)
    urns = [r["urn"] for r in owned]
    # Checked before the backup: a stack that could not keep its bucket gets no backup, and on GCP no
    # instance set to retain its backups.
    if not any(r["type"] == BUCKET_TYPES[config.cloud][0] for r in owned):
        fail(f"the bucket {bucket} named by the stack's outputs is not in its state; nothing was destroyed",
             f"run platform refresh --cloud {config.cloud} --env {config.env}, then destroy again", EXIT_FAILED)
    with failures():
        display.progress(f"backing up stack {config.stack_name} before the destroy (its database leaves as this backup)")
        record, _ = backup_now(target, display.progress)
        database = _kept_database(config.cloud, target, record)
    kept = KeptData.model_validate({"bucket": bucket, **database, "backup": record.id})
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
    display.progress(f"kept {_store(config, kept)} ({len(urns)} resources out of the state) and the database as "
                     f"{_database(kept)} (backup {record.id}); the next `platform up` adopts them")
    return kept, run_operation(config, engine.resources)


def _keep_copy(config: Any, engine: Any) -> KeptData:
    """Local: the cluster and all in it go; the data leaves as a backup copied to this machine."""
    from .. import display
    from . import keep_local

    kept = keep_local.keep(config, engine)
    path, before = _stack_file(config)
    _write(path, before, kept)
    display.progress(f"kept the data as {_store(config, kept)}; the next `platform up` restores it into the new cluster")
    return kept


def _store_id(config: Any, target: Any, outputs: dict[str, Any], resources: list[dict[str, Any]]) -> str:
    """The kept store's id: the bucket the target names (AWS, GCP); on Azure, the resource id of the
    account the `data` output names, from the state (the flow logs' account is another)."""
    if config.cloud != "azure":
        return str(target.bucket.name)
    account = str((outputs.get("data") or {}).get("account") or "")
    held = [str(r.get("id") or "") for r in resources if r.get("type") == BUCKET_TYPES["azure"][0]]
    return next((i for i in held if account and i.lower().endswith(f"/storageaccounts/{account.lower()}")), account or "(none)")


def _kept_database(cloud: str, target: Any, record: Any) -> dict[str, str]:
    """The stack file's key and value for the database that outlives the destroy."""
    from .. import display
    from .cloudsql import CloudSqlBackup

    if cloud == "aws":
        return {"databaseSnapshot": record.database.ref}
    if cloud == "azure":
        return {"databaseDump": record.database.ref}  # in the kept account's container
    assert isinstance(target.database, CloudSqlBackup), "a GCP stack's database is a Cloud SQL instance"
    return {"databaseBackup": target.database.retain(record.database, record.id, display.progress)}


def _store(config: Any, kept: KeptData) -> str:
    if config.cloud == "local":
        from .keep_local import where

        return f"backup {kept.backup}, copied to {where(config, kept)}"
    if kept.database_dump:
        account, group = kept.bucket.rsplit("/", 1)[-1], names.resource_group_id(kept.bucket).rsplit("/", 1)[-1]
        return f"storage account {account} and its resource group {group}"
    return f"bucket {kept.bucket}"


def _database(kept: KeptData) -> str:
    if kept.database_dump:
        return f"the dump {kept.database_dump}"
    return f"snapshot {kept.database_snapshot}" if kept.database_snapshot else f"Cloud SQL backup {kept.database_backup}"


def adopting(config: Any) -> None:
    """Before the update: says what is adopted, and on local checks the kept copy is there (exit 2)."""
    from .. import display

    kept = config.kept_data
    if config.cloud == "local":
        from .keep_local import check_copy

        check_copy(config, kept)
        how = "a new cluster, with the copy carried into its store and restored by its restore Job after the update"
    elif kept.database_snapshot:
        how = f"created from snapshot {kept.database_snapshot}"
    elif kept.database_backup:
        how = f"a new instance, with the kept backup {kept.database_backup} restored onto it after the update"
    else:
        how = f"a new server, with backup {kept.backup} restored into it by the cluster's restore Job after the update"
    imported = "" if config.cloud == "local" else " (imported)"
    display.progress(f"adopting what destroy --keep-data kept: {_store(config, kept)}{imported} and the database ({how})")


def adopted(config: Any, engine: Any) -> None:
    """After an `up` that imported the kept bucket: on GCP the kept backup goes onto the new instance
    first (restore_kept); then the record leaves the stack file (the stack holds them again), and on
    GCP the retained backup is deleted."""
    from .. import display

    kept = config.kept_data
    database = restore_kept(config, engine, kept) if kept.database_backup else None
    if config.cloud == "local":
        from . import keep_local

        keep_local.restore_copy(config, engine, kept)
    elif kept.database_dump:
        restore_dump(config, engine, kept)
    path, before = _stack_file(config)
    _write(path, before, None)
    display.progress(f"adopted {_store(config, kept)} and the database from {_database(kept)}; {KEY} removed from the stack file")
    if config.cloud == "local":
        keep_local.forget_copy(config, kept)
    if database is not None:
        _forget(config, database, str(kept.database_backup))


def restore_kept(config: Any, engine: Any, kept: KeptData) -> "CloudSqlBackup":
    """GCP: the kept backup restored onto the instance the update created, MLflow's logins set back
    (the master's through the API, its own by the schema Job), then MLflow's counts checked against
    the backup's record. A failure exits 1 with the record kept: the next `up` tries again."""
    from mlops_platform.components.data.backup_kit.catalog import find
    from mlops_platform.components.data.backup_kit.errors import BackupRefused

    from .. import display
    from .cloudsql import CloudSqlBackup
    from .guard import failures
    from .operations import Steps, Target, verify
    from .target import engine_target

    with failures():
        target = engine_target(config, engine)
        assert isinstance(target, Target) and isinstance(target.database, CloudSqlBackup), "a GCP stack's target"
        record = find(target.bucket, kept.backup, target.stack)
        if target.schema_job is None:
            raise BackupRefused(f"stack {config.stack_name} has no kubeconfig in its outputs, which the kept database's "
                                "restore needs to give MLflow its login")
        target.schema_job.check()
        steps = Steps(display.progress)
        database, schema = target.database, target.schema_job
        steps.run("restoring the kept database onto the new instance", lambda: database.adopt(str(kept.database_backup),
                                                                                              display.progress))
        steps.run("giving MLflow its own login, rights and schema there", lambda: schema.run(display.progress))
        verify(steps, target.mlflow, target.insecure, record)
    return database


def restore_dump(config: Any, engine: Any, kept: KeptData) -> None:
    """Azure: the kept backup restored into the server the update created, by the cluster's restore
    Job (what `platform restore` does: MLflow's login gets its rights, the switch by renaming), then
    MLflow's counts checked against the backup's record. A failure exits 1 (a refusal, such as a
    backup the Job cannot find, 2) with the record kept: the next `up` tries again."""
    from .. import display
    from .cluster_target import ClusterTarget, restore
    from .guard import failures
    from .target import engine_target, require_mlflow

    with failures():
        target = engine_target(config, engine)
        assert isinstance(target, ClusterTarget), "an Azure stack's backups run in its cluster"
        require_mlflow(config, target.mlflow.url)
        report = restore(target, kept.backup, False, display.progress)
    if report.kept_database:
        display.progress(f"the new server's own empty database is kept as {report.kept_database}: drop it when you like")


def _forget(config: Any, database: "CloudSqlBackup", name: str) -> None:
    """Deletes the retained backup, now that its data is the stack's again; a failure only warns (it
    bills until deleted)."""
    from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused

    from .. import display

    try:
        database.forget(name)
    except (BackupFailed, BackupRefused) as err:
        display.progress(f"warning: the kept backup {name} could not be deleted ({err}); it bills until you delete it: "
                         f"gcloud sql backups delete {name.rsplit('/', 1)[-1]} --project {config.gcp.project}")


def _stack_file(config: Any) -> tuple[Any, str]:
    from ..project import project_dir, stack_file

    path = stack_file(project_dir(), config.stack_name)
    return path, path.read_text(encoding="utf-8")


def _write(path: Any, before: str, kept: Optional[KeptData]) -> None:
    from mlops_platform.planner import files

    from ..errors import EXIT_FAILED, fail
    from ..stack_edit import set_platform_mapping

    value = None if kept is None else kept.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        files.write_text(path, before if kept is None and KEY not in before else set_platform_mapping(before, KEY, value))
    except OSError as err:
        fail(f"cannot write {path.name}: {err.strerror or err}; " + ("the data is still in the stack" if kept else
             f"remove platform:{KEY} from it by hand"), exit_code=EXIT_FAILED)
