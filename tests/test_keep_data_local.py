"""`platform destroy --keep-data` and the `up` that adopts what it kept, on a local stack, whose data
lives in the kind cluster the destroy deletes: the backup is taken in the cluster, carried to this
machine through the API's pod proxy by the transfer Job (the kit's own server, run as the pod), and
the next `up` carries it into the new cluster's store, where the restore Job restores it
(support/local_stack.py: a real PostgreSQL, moto's S3 as SeaweedFS, the pinned `mlflow server`, the
cluster's API on loopback, the engine stand-in)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components.config import stack_values_from_text
from mlops_platform.components.data.backup_kit.errors import BackupFailed
from mlops_platform.components.data.local import BUCKET
from mlops_platform.components.data.restore_jobs import TRANSFER_JOB, TRANSFER_LABELS
from support.cli import destroyed_keeping_data, refused, up_after_a_late_run
from support.drill import snapshot

STACK = "local-dev"


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _kept_folder(backup_id: str) -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "mlops-platform" / "kept" / STACK / backup_id


def _objects(s3: Any, prefix: str) -> dict[str, bytes]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix):]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def _empty_store(s3: Any) -> None:
    """The new cluster's SeaweedFS: nothing in the bucket, the old backups neither."""
    for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        s3.delete_object(Bucket=BUCKET, Key=o["Key"])


def test_destroy_keep_data_copies_the_backup_out_and_the_next_up_restores_it(local_stack, project):
    cluster, s3, url, fake = local_stack["cluster"], local_stack["s3"], local_stack["url"], local_stack["fake"]
    fake.events("destroy", "destroy")
    before = snapshot(url, s3, BUCKET)
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"

    report, stderr, before_file = destroyed_keeping_data(project, "local")
    kept = report["keptData"]
    backup_id = kept["backup"]
    assert kept == {"bucket": BUCKET, "databaseDump": f"backups/{backup_id}/database.dump", "backup": backup_id}
    assert fake.ran("destroy"), "the cluster, and all in it, is destroyed"
    # The copy here is the backup, object for object, and nothing half-written is beside it.
    folder = _kept_folder(backup_id)
    in_store = _objects(s3, f"backups/{backup_id}/")
    assert {"record.json", "database.dump"} <= set(in_store)
    assert {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()} == in_store
    assert os.listdir(folder.parent) == [backup_id]
    assert str(folder) in stderr
    values = stack_values_from_text(stack_file.read_text(), "stack file")
    assert values["keptData"] == kept
    assert {k: v for k, v in values.items() if k != "keptData"} == stack_values_from_text(before_file, "before")
    # The transfer ran as its own Job with the label its NetworkPolicy admits, was reached only with
    # its token, and is gone.
    (job,) = [j for j in cluster.created if j["metadata"]["name"] == TRANSFER_JOB]
    pod = job["spec"]["template"]
    assert TRANSFER_LABELS.items() <= pod["metadata"]["labels"].items()
    token = next(e["value"] for e in pod["spec"]["containers"][0]["env"] if e["name"] == "TRANSFER_TOKEN")
    assert cluster.proxied and all(path.startswith(f"{token}/") for _, path in cluster.proxied)
    assert token not in stderr + json.dumps(report)
    assert TRANSFER_JOB not in cluster.jobs

    # The next cluster starts empty; the database differs from the backup (a run after it).
    _empty_store(s3)
    result = up_after_a_late_run(url, fake, "local")
    assert f"adopting what destroy --keep-data kept: backup {backup_id}, copied to {folder}" in result.stderr
    assert _objects(s3, f"backups/{backup_id}/") == in_store, "the copy went back into the new store"
    assert snapshot(url, s3, BUCKET) == before, "MLflow and the artifacts are what the backup recorded"
    assert "keptData" not in stack_file.read_text()
    assert not folder.exists(), "the copy is deleted once the store holds the backup again"


def test_up_refuses_before_deploying_when_the_kept_copy_is_gone(local_stack, project):
    from mlops_platform.cli.stack_edit import set_platform_mapping

    backup_id = "bk-20261206t010203z-abcdef"
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    kept = {"bucket": BUCKET, "databaseDump": f"backups/{backup_id}/database.dump", "backup": backup_id}
    stack_file.write_text(set_platform_mapping(stack_file.read_text(), "keptData", kept))
    local_stack["fake"].events("up", "up")
    refused(invoke("up", "--cloud", "local", "--yes"), f"the kept copy of backup {backup_id} is not at",
            str(_kept_folder(backup_id)))
    assert not local_stack["fake"].ran("up")
    assert "keptData" in stack_file.read_text()


def _cut(into: Any) -> Any:
    into.write(b"PGDMP partial")
    raise BackupFailed("GET object/... on pod data/x: the answer was cut short (connection reset)")


def _without_record(answer: Any) -> Any:
    status, body = answer
    if status != 200:  # not serving yet
        return answer
    keys = [k for k in json.loads(body)["keys"] if not k.endswith("/record.json")]
    return status, json.dumps({"keys": keys}).encode()


@pytest.mark.parametrize("fault,code,says", [
    ("dump", 1, "cut short"),  # the dump's download cut mid-way, after some bytes were written
    ("record", 1, "has no record in the cluster's store"),  # the backup's record not among its objects
    ("forbidden", 2, "needs the pods/proxy right"),  # the kubeconfig's identity may run Jobs, not reach their pods
])
def test_a_failed_transfer_leaves_no_copy_no_record_and_nothing_destroyed(local_stack, project, monkeypatch, fault, code, says):
    """No folder (nor a half-written one), the stack file as it was, the engine not asked to destroy,
    the transfer's Job removed."""
    from mlops_platform.cli.backup.kube_jobs import JobApi

    real = JobApi.proxy

    def faulty(self: Any, method: str, namespace: str, pod: str, path: str, body: Any = None, into: Any = None) -> Any:
        if fault == "dump" and path.endswith("/database.dump") and into is not None:
            return _cut(into)
        answer = real(self, method, namespace, pod, path, body, into)
        return _without_record(answer) if fault == "record" and "/keys/bk-2" in path else answer

    fake, cluster = local_stack["fake"], local_stack["cluster"]
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    before = stack_file.read_text()
    monkeypatch.setattr(JobApi, "proxy", faulty)
    cluster.proxy_forbidden = fault == "forbidden"
    result = invoke("destroy", "--cloud", "local", "--yes", "--keep-data")
    assert result.exit_code == code, result.output
    assert says in result.stderr and "Traceback" not in result.output
    assert stack_file.read_text() == before and not fake.ran("destroy")
    kept = Path(os.environ["XDG_STATE_HOME"]) / "mlops-platform" / "kept" / STACK
    assert kept.is_dir() and os.listdir(kept) == [], "neither the copy nor its partial sibling"
    assert TRANSFER_JOB not in cluster.jobs


def _transfer_server(env: dict[str, str]) -> "subprocess.Popen[str]":
    import sys

    from mlops_platform.components.data import backup_kit

    kit = str(Path(backup_kit.__file__).parent.parent)
    return subprocess.Popen([sys.executable, "-m", "backup_kit.transfer"], env={**os.environ, "PYTHONPATH": kit, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _status(url: str, method: str = "GET", body: bytes | None = None) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method), timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_the_transfer_server_serves_only_with_its_token_and_only_a_backups_objects(moto_endpoint, tmp_path):
    import time

    import boto3

    from support.servers import free_port

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="transfer-test")
    s3.put_object(Bucket="transfer-test", Key="mlflow/1/model.pkl", Body=b"not a backup's")
    s3.put_object(Bucket="transfer-test", Key="backups/bk-20261206t010203z-abcdef/record.json", Body=b"{}")
    token, port = "a1" * 24, free_port()
    env = {"TRANSFER_TOKEN": token, "TRANSFER_PORT": str(port), "BACKUP_BUCKET": "transfer-test", "AWS_ENDPOINT_URL": moto_endpoint,
           "BACKUP_FOLDER": str(tmp_path)}
    server = _transfer_server(env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while _status_or_none(f"{base}/{token}/keys/bk-x") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        backup = "backups/bk-20261206t010203z-abcdef"
        assert _status(f"{base}/{token}/object/{backup}/record.json") == 200
        assert _status(f"{base}/{'b2' * 24}/object/{backup}/record.json") == 404, "another token"
        assert _status(f"{base}/object/{backup}/record.json") == 404, "no token"
        assert _status(f"{base}/{token}/object/mlflow/1/model.pkl") == 404, "not a backup's object"
        assert _status(f"{base}/{token}/object/{backup}/../../mlflow/1/model.pkl") == 404
        assert _status(f"{base}/{token}/object/mlflow/1/model.pkl", "PUT", b"overwritten") == 404
        assert s3.get_object(Bucket="transfer-test", Key="mlflow/1/model.pkl")["Body"].read() == b"not a backup's"
        assert _status(f"{base}/{token}/object/{backup}/database.dump", "PUT", b"PGDMP") == 201
        assert s3.get_object(Bucket="transfer-test", Key=f"{backup}/database.dump")["Body"].read() == b"PGDMP"
        assert _status(f"{base}/{token}/done", "POST", b"") == 200
        out, _ = server.communicate(timeout=20)
        assert server.returncode == 0 and json.loads(out) == {"transfer": {"sent": 1, "received": 1}}
    finally:
        server.kill()
    # A server nobody talks to ends on its own, as failed; one with a weak token never starts.
    idle = _transfer_server({**env, "TRANSFER_PORT": str(free_port()), "TRANSFER_IDLE_SECONDS": "1"})
    assert idle.wait(timeout=30) == 1
    weak = _transfer_server({**env, "TRANSFER_TOKEN": "short"})
    assert weak.wait(timeout=30) == 2


def _status_or_none(url: str) -> int | None:
    try:
        return _status(url)
    except OSError:
        return None


def test_only_the_transfer_pods_take_requests_from_outside_the_data_namespace(planned):
    """The data namespace denies ingress by default; its one policy for the API server's proxy admits
    the transfer's port on the transfer's pods alone, and no scheduled or restore pod carries their
    label."""
    from mlops_platform.components.data.backup_kit.transfer import PORT

    plan = planned(STACK)
    policies = [r.inputs for r in plan.resources if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
                and r.inputs["metadata"]["namespace"] == "data"]
    names = {p["metadata"]["name"] for p in policies}
    assert {"default-deny", "allow-backup-transfer"} <= names
    (transfer,) = [p for p in policies if any(PORT == port["port"] for rule in p["spec"].get("ingress", [])
                                              for port in rule.get("ports", []))]
    assert transfer["metadata"]["name"] == "allow-backup-transfer"
    assert transfer["spec"]["podSelector"] == {"matchLabels": TRANSFER_LABELS}
    assert transfer["spec"]["policyTypes"] == ["Ingress"]
    for cronjob in (r for r in plan.resources if r.type == "kubernetes:batch/v1:CronJob"):
        labels = cronjob.inputs["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        assert not TRANSFER_LABELS.items() <= labels.items(), cronjob.name


def test_a_folder_the_copy_cannot_be_written_to_stops_before_anything_is_destroyed(local_stack, project, monkeypatch, tmp_path):
    """The platform's state folder unusable (here a file where a folder must be): one line, exit 1,
    the stack file as it was, nothing destroyed, the transfer's Job removed."""
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setattr("mlops_platform.cli.backup.transfer.kept_folder", lambda stack, backup_id: blocked / stack / backup_id)
    stack_file = project / "stacks" / f"Pulumi.{STACK}.yaml"
    before = stack_file.read_text()
    result = invoke("destroy", "--cloud", "local", "--yes", "--keep-data")
    assert result.exit_code == 1, result.output
    assert f"cannot write the backup into {blocked / STACK}" in result.stderr and "Traceback" not in result.output
    assert stack_file.read_text() == before and not local_stack["fake"].ran("destroy")
    assert TRANSFER_JOB not in local_stack["cluster"].jobs
