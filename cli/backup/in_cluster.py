"""A Job run from a CronJob's template in the stack's backup namespace, followed step by step: how
`platform backup`, `backups list` and `restore` reach a database that only the cluster reaches
(components/data/backup_jobs.py, restore_jobs.py).

The Job is what `kubectl create job --from=cronjob/NAME` makes: the template's spec, owned by the
CronJob, marked as started by hand. Each step (a container) prints one JSON line on success; a
failed step's last log line says why, and its exit code says whether it refused (2: nothing
changed) or failed (1).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Optional, Protocol

from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused

from .kube_jobs import JobExists

POLL_SECONDS = 2.0
# How long past the Job's own deadline (its activeDeadlineSeconds, backup_jobs.job_seconds) the CLI
# waits for Kubernetes to mark it failed; a template without one gets DEFAULT_JOB_SECONDS.
MARGIN_SECONDS = 300.0
DEFAULT_JOB_SECONDS = 3600
# A container that cannot start: these waiting reasons do not clear on their own (a missing Secret or
# key, a bad image name); an image that cannot be pulled is given PULL_GRACE_SECONDS of back-off
# first (a slow registry recovers). Ref: https://kubernetes.io/docs/concepts/containers/images/#imagepullbackoff
CANNOT_START = ("CreateContainerConfigError", "CreateContainerError", "InvalidImageName", "ErrImageNeverPull")
CANNOT_PULL = ("ErrImagePull", "ImagePullBackOff")
PULL_GRACE_SECONDS = 180.0


class Api(Protocol):
    def cronjob(self, namespace: str, name: str) -> Optional[dict[str, Any]]: ...
    def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def job(self, namespace: str, name: str) -> Optional[dict[str, Any]]: ...
    def delete_job(self, namespace: str, name: str) -> None: ...
    def pods(self, namespace: str, job_uid: str) -> list[dict[str, Any]]: ...
    def log(self, namespace: str, pod: str, container: str) -> str: ...
    def proxy(self, method: str, namespace: str, pod: str, path: str, body: Optional[bytes | BinaryIO] = None,
              into: Optional[BinaryIO] = None) -> tuple[int, bytes]: ...


@dataclass(frozen=True)
class JobSpec:
    namespace: str  # the stack's backup Jobs' (backup_jobs.JOB_NAMESPACES)
    template: str  # the CronJob
    name: str  # the Job
    env: tuple[tuple[str, str], ...] = ()  # added to every container
    only: Optional[tuple[str, tuple[str, ...]]] = None  # run just this container of the template, with this command
    labels: tuple[tuple[str, str], ...] = ()  # added to the pod's (what a NetworkPolicy selects)


def job_body(cronjob: dict[str, Any], spec: JobSpec) -> dict[str, Any]:
    template = copy.deepcopy(cronjob["spec"]["jobTemplate"])
    pod = template["spec"]["template"]["spec"]
    if spec.only is not None:
        container, command = spec.only
        every = pod.get("initContainers", []) + pod["containers"]
        chosen = next((c for c in every if c["name"] == container), None)
        if chosen is None:
            raise BackupRefused(f"CronJob {spec.namespace}/{spec.template} has no step {container}: run platform up to update it")
        pod.pop("initContainers", None)
        pod["containers"] = [{**chosen, "command": list(command)}]
    if spec.labels:
        pod_meta = template["spec"]["template"].setdefault("metadata", {})
        pod_meta["labels"] = {**pod_meta.get("labels", {}), **dict(spec.labels)}
    for container in pod.get("initContainers", []) + pod["containers"]:
        container["env"] = [*container.get("env", []), *({"name": k, "value": v} for k, v in spec.env)]
    meta = cronjob["metadata"]
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {
            "name": spec.name, "namespace": spec.namespace, "labels": template.get("metadata", {}).get("labels", {}),
            # Ref: https://kubernetes.io/docs/reference/labels-annotations-taints/#cronjob-kubernetes-io-instantiate
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": meta["name"], "uid": meta["uid"]}],
        },
        "spec": template["spec"],
    }


def run(api: Api, spec: JobSpec, progress: Callable[[str], None], timeout: Optional[float] = None,
        poll: Optional[float] = None) -> dict[str, Any]:
    """Creates the Job, waits for it, and returns each step's JSON line by container name. A Job of
    that name still running refuses the run (the restore's fixed name is its lock); a finished one
    is replaced."""
    namespace = spec.namespace
    body, job = start(api, spec)
    uid = job["metadata"]["uid"]
    progress(f"Job {namespace}/{spec.name} started")
    timeout = timeout or float(body["spec"].get("activeDeadlineSeconds") or DEFAULT_JOB_SECONDS) + MARGIN_SECONDS
    deadline = time.monotonic() + timeout
    said = ""
    pulling: dict[str, float] = {}  # container -> when it was first seen unable to pull
    while True:
        job = api.job(namespace, spec.name) or job
        pods = api.pods(namespace, uid)
        state = _finished(job)
        if state == "Complete":
            return _outputs(api, pods, body)
        if state == "Failed":
            raise _failure(api, pods, body, job)
        stuck = _stuck(pods, pulling)
        if stuck:
            # Nothing past the step before it ran (the switch and the record are last): removing the
            # Job ends its pod and frees the restore's name for the next try.
            api.delete_job(namespace, spec.name)
            raise BackupFailed(f"step {stuck} of Job {namespace}/{spec.name} cannot start; the Job was removed, "
                               "nothing was switched or recorded")
        now = _doing(pods)
        if now != said:
            progress(now)
            said = now
        if time.monotonic() > deadline:
            raise BackupFailed(f"Job {namespace}/{spec.name} has not finished after {int(timeout)} s ({said}); "
                               f"see kubectl -n {namespace} describe job {spec.name}")
        time.sleep(poll or POLL_SECONDS)


def start(api: Api, spec: JobSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Creates the Job from its CronJob's template: (what was asked, what the API made)."""
    cronjob = api.cronjob(spec.namespace, spec.template)
    if cronjob is None:
        raise BackupRefused(f"the cluster has no CronJob {spec.namespace}/{spec.template} (deployed by an older platform, "
                            "or not up): `platform up` creates it (an update that migrates MLflow needs --skip-backup that once)")
    body = job_body(cronjob, spec)
    return body, _create(api, body, spec)


def _create(api: Api, body: dict[str, Any], spec: JobSpec) -> dict[str, Any]:
    for _ in range(30):
        try:
            return api.create_job(spec.namespace, body)
        except JobExists:
            there = api.job(spec.namespace, spec.name)
            if there is None:  # gone meanwhile (a replaced one being deleted): try again
                time.sleep(1)
                continue
            if _finished(there) is None:
                started = there.get("status", {}).get("startTime") or there["metadata"].get("creationTimestamp", "")
                raise BackupRefused(f"Job {spec.namespace}/{spec.name} is already running (started {started}): "
                                    "wait for it; a second one would race it") from None
            api.delete_job(spec.namespace, spec.name)  # a finished one: its logs were read by the run that made it
    raise BackupFailed(f"Job {spec.namespace}/{spec.name} could not be created: an earlier one with its name is still being removed")


def _finished(job: dict[str, Any]) -> Optional[str]:
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return str(condition["type"])
    return None


def _steps(body: dict[str, Any]) -> list[str]:
    pod = body["spec"]["template"]["spec"]
    return [c["name"] for c in pod.get("initContainers", []) + pod["containers"]]


def _statuses(pod: dict[str, Any]) -> list[dict[str, Any]]:
    status = pod.get("status", {})
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def _doing(pods: list[dict[str, Any]]) -> str:
    if not pods:
        return "waiting for the Job's pod"
    for container in _statuses(pods[-1]):
        state = container.get("state", {})
        if "running" in state:
            return f"step {container['name']} running"
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") not in (None, "PodInitializing"):
            return f"step {container['name']} waiting: {waiting['reason']}"
    return f"pod {pods[-1].get('status', {}).get('phase', 'Pending')}"


def _stuck(pods: list[dict[str, Any]], pulling: dict[str, float]) -> Optional[str]:
    """`container: reason (message)` of a container that will not start, else None."""
    for container in _statuses(pods[-1]) if pods else []:
        waiting = container.get("state", {}).get("waiting") or {}
        reason, name = waiting.get("reason", ""), container["name"]
        if reason in CANNOT_PULL:
            pulling.setdefault(name, time.monotonic())
        if reason in CANNOT_START or (reason in CANNOT_PULL and time.monotonic() - pulling[name] >= PULL_GRACE_SECONDS):
            message = str(waiting.get("message", ""))[:200]
            return f"{name}: {reason}" + (f" ({message})" if message else "")
    return None


def _outputs(api: Api, pods: list[dict[str, Any]], body: dict[str, Any]) -> dict[str, Any]:
    namespace = body["metadata"]["namespace"]
    done = [p for p in pods if p.get("status", {}).get("phase") == "Succeeded"]
    if not done:
        raise BackupFailed(f"Job {namespace}/{body['metadata']['name']} completed, but its pod is gone: its results cannot be read")
    pod = done[-1]["metadata"]["name"]
    out: dict[str, Any] = {}
    for step in _steps(body):
        lines = [line for line in api.log(namespace, pod, step).splitlines() if line.startswith("{")]
        if lines:
            try:
                out[step] = json.loads(lines[-1])
            except ValueError:
                raise BackupFailed(f"step {step} of pod {pod} printed no result this platform reads") from None
    return out


def _failure(api: Api, pods: list[dict[str, Any]], body: dict[str, Any], job: dict[str, Any]) -> Exception:
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    for pod in reversed(pods):
        for container in _statuses(pod):
            ended = container.get("state", {}).get("terminated") or {}
            code = ended.get("exitCode", 0)
            if code:
                lines = [line for line in api.log(namespace, pod["metadata"]["name"], container["name"]).splitlines() if line.strip()]
                why = lines[-1].strip()[:300] if lines else ended.get("reason", f"exit code {code}")
                if code == 2:
                    return BackupRefused(why)
                return BackupFailed(f"step {container['name']} of Job {namespace}/{name} failed: {why}")
    conditions = [c.get("message") or c.get("reason") for c in job.get("status", {}).get("conditions") or [] if c.get("type") == "Failed"]
    return BackupFailed(f"Job {namespace}/{name} failed: {(conditions or ['no step reported why'])[0]}")
