"""A stack's backup and restore pods, run on loopback as the kubelet would run them: each container's
own command, in order (init containers first, each only after the one before exited 0), as a local
process against a real PostgreSQL and a real object store (moto's S3, or Azurite's Blob). Only what
the cluster supplies is pointed at loopback: the database's address (libpq's environment), the
Secrets (mounted, or read into the environment), the mounted CA, the kit's ConfigMap folder, the
emptyDir, the store's endpoint, and `python` and `mlflow` (this interpreter, which has what the MLflow
image has)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mlops_platform.components.data.backup_jobs import KIT_MOUNT, WORK
from mlops_platform.components.data.local import POSTGRES_SECRET_DIR


@dataclass(frozen=True)
class Ran:
    name: str
    code: int
    log: str  # stdout and stderr, as `kubectl logs` shows them (stderr last here)
    seconds: float = 0.0


@dataclass(frozen=True)
class Loopback:
    root: Path  # a folder of the test's
    kit: Mapping[str, str]  # the kit ConfigMap's data
    postgres_port: int
    postgres_bin: Path
    store_env: Mapping[str, str]  # how the kit reaches the store here (AWS_ENDPOINT_URL, or a connection string)
    postgres_host: str = "127.0.0.1"  # the name the database's certificate carries, where it verifies one
    secrets: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # for env valueFrom.secretKeyRef
    files: Mapping[str, str] = field(default_factory=dict)  # a mounted file's path in the pod -> here

    def _rewrite(self, text: str, work: Path) -> str:
        for inside, here in self.files.items():
            text = text.replace(inside, here)
        return (text.replace(KIT_MOUNT, str(self.root / "kit" / "backup_kit"))
                .replace(f"{POSTGRES_SECRET_DIR}/password", str(self.root / "password"))
                .replace(f"{WORK}/", f"{work}/"))

    def _value(self, entry: Mapping[str, Any]) -> str:
        if "value" in entry:
            return str(entry["value"])
        ref = entry["valueFrom"]["secretKeyRef"]  # the kubelet fails the container on a missing one
        return self.secrets[ref["name"]][ref["key"]]

    def _pod_folders(self) -> tuple[Path, Path]:
        kit = self.root / "kit" / "backup_kit"
        kit.mkdir(parents=True, exist_ok=True)
        for name, text in self.kit.items():
            (kit / name).write_text(text)
        (self.root / "password").write_text("unused-with-trust-auth")
        work = self.root / f"work-{len(list(self.root.glob('work-*')))}"  # the pod's emptyDir
        work.mkdir()
        return kit, work

    def _process(self, container: Mapping[str, Any], kit: Path, work: Path, extra_env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        """A container's command and environment, as it runs here."""
        env = {e["name"]: self._rewrite(self._value(e), work) for e in container.get("env", [])}
        env.update({"PGHOST": self.postgres_host, "PGPORT": str(self.postgres_port)} if "PGHOST" in env else {})
        env.update({"BACKUP_FOLDER": str(work), "PYTHONPATH": str(kit.parent), **self.store_env,
                    "HOME": str(self.root)} if "BACKUP_BUCKET" in env else {})
        env.update(extra_env)
        command = [self._rewrite(part, work) for part in [*container["command"], *container.get("args", [])]]
        if command[0] == "python":
            command[0] = sys.executable
        elif command[0] == "mlflow":  # the image's entry point: this interpreter's MLflow
            command[0:1] = [sys.executable, "-m", "mlflow"]
        return command, {**os.environ, "PATH": f"{self.postgres_bin}{os.pathsep}{os.environ['PATH']}", **env}

    def run_pod(self, pod: Mapping[str, Any], extra_env: Mapping[str, str] = {}) -> list[Ran]:
        kit, work = self._pod_folders()
        ran = []
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            command, env = self._process(container, kit, work, extra_env)
            started = time.monotonic()
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=self.root)
            ran.append(Ran(container["name"], done.returncode, done.stdout + done.stderr, round(time.monotonic() - started, 2)))
            if done.returncode:
                break
        return ran

    def start(self, pod: Mapping[str, Any], extra_env: Mapping[str, str] = {}) -> "subprocess.Popen[str]":
        """A pod of one container that serves until it exits on its own (the backup transfer)."""
        kit, work = self._pod_folders()
        (container,) = pod["containers"]
        command, env = self._process(container, kit, work, extra_env)
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=self.root)
