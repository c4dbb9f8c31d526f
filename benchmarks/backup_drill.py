"""Backup and restore time of the loopback drill: a real PostgreSQL (Debian's package), a real
`mlflow server` on it and moto's S3 as the artifact store, holding a registry of 1,000 runs and 100
model versions (each version with a 256 KiB artifact), backed up, then restored after the database
was dropped.

    python benchmarks/backup_drill.py [--runs 1000] [--versions 100] [--local [--keep-data]]

Prints the seeding time, then each step of the backup and of the restore with its wall time. By
default the CLI's pg_dump path (a versioned bucket); with --local the local stack's own backup and
restore pods (its CronJob templates, container by container, as tests/support/local_jobs.py runs
them) against an unversioned bucket, as on kind; with --keep-data also what `destroy --keep-data` and
the `up` after it add there: the backup carried out of the cluster through the API's pod proxy (the
loopback API of tests/support/cluster_jobs.py, the transfer Job's server as a process), the store
emptied as a new cluster's, and the copy carried back in before the restore. Needs the test extra (pip install -e '.[test]') and
PostgreSQL's server package (for initdb and pg_ctl).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.postgres import start_postgres  # noqa: E402
from support.servers import free_port  # noqa: E402

BUCKET = "bench-artifacts"
DATABASE = "mlflow_bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=100)
    parser.add_argument("--local", action="store_true", help="the local stack's backup and restore pods")
    parser.add_argument("--keep-data", action="store_true", help="with --local: the backup carried out and back in")
    args = parser.parse_args()

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from mlops_platform.components.data.local import BUCKET as LOCAL_BUCKET

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    postgres = start_postgres()
    moto_port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{moto_port}"
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "MLFLOW_S3_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "bench",
                       "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
    s3 = boto3.client("s3")
    bucket, database = (LOCAL_BUCKET, "mlflow") if args.local else (BUCKET, DATABASE)
    s3.create_bucket(Bucket=bucket)
    if not args.local:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    else:
        postgres.sql("CREATE ROLE mlflow LOGIN SUPERUSER")  # the local stack's database login
    url_db = postgres.create_database(database)
    work = Path(tempfile.mkdtemp(prefix="backup-bench-"))
    try:
        with seeded_mlflow(url_db, f"s3://{bucket}/mlflow", work, args.runs, args.versions) as url:
            if args.local:
                _local(postgres, s3, url, work, endpoint, args.keep_data)
            else:
                _cli_path(postgres, s3, url)
    finally:
        moto.stop()
        postgres.stop()


@contextmanager
def seeded_mlflow(backend_uri: str, artifacts: str, work: Path, runs: int, versions: int) -> Iterator[str]:
    """The pinned `mlflow server` on `backend_uri`, its artifacts at `artifacts`, seeded with `runs`
    runs and `versions` model versions; yields its URL, stops it on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", backend_uri, "--artifacts-destination", artifacts,
                               "--serve-artifacts", "--workers", "2"],
                              stdout=subprocess.DEVNULL, stderr=(work / "server.log").open("w"), cwd=work)
    try:
        _wait(url, server)
        started = time.monotonic()
        _seed(url, work, runs, versions)
        print(f"seeded {runs} runs and {versions} model versions in {time.monotonic() - started:.1f} s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def pods_drill(runner: Any, pods: dict[str, Any], url: str, disaster: Callable[[str], None]) -> None:
    """The stack's backup pod, then `disaster` (given the backup's id), then its restore pod, each
    container timed; then MLflow's health and counts."""
    import json

    from mlops_platform.cli.backup.counts import counts, wait_healthy
    from mlops_platform.cli.registry import Registry

    ran = runner.run_pod(pods["backup"])
    _print_pod("backup", ran)
    backup_id = json.loads(next(line for line in ran[-1].log.splitlines() if line.startswith("{")))["backup"]
    disaster(backup_id)
    ran = runner.run_pod(pods["restore"], {"RESTORE_FROM": backup_id, "RESTORE_FORCE": "0", "RESTORE_SUFFIX": "be0c11"})
    _print_pod("restore", ran)
    started = time.monotonic()
    wait_healthy(url)
    found = counts(Registry(url))
    print(f"  health and counts: {time.monotonic() - started:.2f} s ({found.runs} runs, {found.model_versions} model versions)")


def _disaster(s3: Any, bucket: str) -> None:
    """Every model's weights deleted (the database is dropped by the caller)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="mlflow/"):
        for item in page.get("Contents", []):
            if item["Key"].endswith("weights.bin"):
                s3.delete_object(Bucket=bucket, Key=item["Key"])


def _cli_path(postgres: Any, s3: Any, url: str) -> None:
    from mlops_platform.cli.backup.operations import Target, restore, take_backup
    from mlops_platform.cli.backup.postgres import Dumped, Server
    from mlops_platform.cli.registry import Registry
    from mlops_platform.components.data.backup_kit.catalog import find
    from mlops_platform.components.data.backup_kit.objects import Bucket

    target = Target(stack="bench", cloud="local", env="bench", bucket=Bucket(s3, BUCKET),
                    database=Dumped(Server("127.0.0.1", postgres.port, "postgres", "", sslmode="disable"), DATABASE),
                    mlflow=Registry(url))
    record, seconds = take_backup(target, lambda line: None, {"platform": "bench", "mlflow": "bench"})
    _print("backup", seconds, f"dump {record.database.bytes:,} bytes, {record.artifacts.objects} artifacts "
                              f"({record.artifacts.bytes:,} bytes)")
    postgres.sql(f'DROP DATABASE "{DATABASE}" WITH (FORCE)')
    _disaster(s3, BUCKET)
    report = restore(target, find(target.bucket, record.id), lambda line: None)
    _print("restore", report.seconds, f"{report.counts.runs} runs, {report.counts.model_versions} model versions back, "
                                      f"{report.artifacts.restored} artifacts copied back")


def _local(postgres: Any, s3: Any, url: str, work: Path, endpoint: str, keep_data: bool) -> None:
    """The local stack's pods as its program declares them, each container timed."""
    from mlops_platform.components.config import PlatformConfig
    from mlops_platform.components.data.local import BUCKET as LOCAL_BUCKET
    from mlops_platform.planner.harness import plan_platform
    from support.local_jobs import Loopback
    from support.postgres import postgres_bin

    by_name = {r.name: r for r in plan_platform(PlatformConfig.from_stack_file(ROOT / "stacks" / "Pulumi.local-dev.yaml",
                                                                                "local-dev")).resources}
    pods = {name: by_name[f"mlops-data-{name}"].inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            for name in ("backup", "restore")}
    (work / "pods").mkdir()
    runner = Loopback(work / "pods", by_name["mlops-data-backup-kit"].inputs["data"], postgres.port, postgres_bin(),
                      {"AWS_ENDPOINT_URL": endpoint})

    def disaster(_backup_id: str) -> None:
        postgres.sql('DROP DATABASE "mlflow" WITH (FORCE)')
        _disaster(s3, LOCAL_BUCKET)

    if not keep_data:
        pods_drill(runner, pods, url, disaster)
        return
    from support.cluster_jobs import Cluster, cronjobs
    from support.kube import serving

    with serving(Cluster("data", cronjobs(by_name.values(), "data"), runner).answer) as kubeconfig:
        pods_drill(runner, pods, url, lambda backup_id: _carried(kubeconfig, url, backup_id, work, lambda: _new_cluster(postgres, s3)))


def _new_cluster(postgres: Any, s3: Any) -> None:
    """What the next `up` starts from: the database gone, the store empty (old backups too)."""
    from mlops_platform.components.data.local import BUCKET as LOCAL_BUCKET

    postgres.sql('DROP DATABASE "mlflow" WITH (FORCE)')
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=LOCAL_BUCKET):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=LOCAL_BUCKET, Key=item["Key"])


def _carried(kubeconfig: str, url: str, backup_id: str, work: Path, between: Callable[[], None]) -> None:
    """The backup carried out of the cluster (destroy --keep-data), `between`, and back in (the up)."""
    from mlops_platform.cli.backup.cluster_target import ClusterTarget
    from mlops_platform.cli.backup.kube_jobs import JobApi
    from mlops_platform.cli.backup.transfer import export, import_
    from mlops_platform.cli.registry import Registry

    target = ClusterTarget(api=JobApi(kubeconfig), namespace="data", mlflow=Registry(url))
    folder = work / "kept" / backup_id
    started = time.monotonic()
    copied = export(target, backup_id, folder, lambda line: None)
    objects = sum(1 for p in folder.rglob("*") if p.is_file())
    print(f"copy out of the cluster: {time.monotonic() - started:.2f} s ({objects} objects, {copied:,} bytes, "
          "through the pod proxy, the transfer pod's start included)")
    between()
    started = time.monotonic()
    import_(target, backup_id, folder, lambda line: None)
    print(f"copy into the new cluster: {time.monotonic() - started:.2f} s")


def _print_pod(what: str, ran: list[Any]) -> None:
    failed = [r for r in ran if r.code]
    if failed:
        raise SystemExit(f"{what}: step {failed[0].name} failed: {failed[0].log.strip().splitlines()[-1]}")
    _print(what, {r.name: r.seconds for r in ran}, "the pod's containers, one after another")


def _wait(url: str, server: subprocess.Popen) -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("mlflow server did not start") from None
            time.sleep(0.3)


def _seed(url: str, work: Path, runs: int, versions: int) -> None:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiments = [client.create_experiment(f"team-{n}") for n in range(10)]
    blob = work / "model"
    blob.mkdir()
    (blob / "weights.bin").write_bytes(os.urandom(256 * 1024))
    (blob / "MLmodel").write_text("flavors:\n  python_function: {}\n")
    client.create_registered_model("bench-model")
    for n in range(runs):
        run = client.create_run(experiments[n % len(experiments)])
        stamp = int(time.time() * 1000)
        client.log_batch(run.info.run_id, metrics=[Metric("loss", 1.0 / (step + 1), stamp, step) for step in range(10)],
                         params=[Param("lr", str(0.001 * (n % 7 + 1)))])
        if n < versions:
            client.log_artifacts(run.info.run_id, str(blob), "model")
            client.create_model_version("bench-model", f"runs:/{run.info.run_id}/model", run.info.run_id)


def _print(what: str, seconds: dict[str, float], detail: str) -> None:
    print(f"{what}: {sum(seconds.values()):.1f} s ({detail})")
    for step, value in seconds.items():
        print(f"  {step}: {value:.2f} s")


if __name__ == "__main__":
    main()
