"""A Kubernetes API's Jobs and CronJobs for the CLI's in-cluster backups (cli/backup/in_cluster.py),
answered in the API's own shapes (CronJob, Job, PodList, a pod's log, Status for 403/404/409),
whose Job controller runs each Job's pod as the kubelet would (support/local_jobs.py): served by
support/kube.py.
Ref: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/job-v1/
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any, Iterable

from support.kube import status
from support.local_jobs import Loopback, Ran
from support.servers import free_port


def cronjobs(resources: Iterable[Any], namespace: str) -> dict[str, dict[str, Any]]:
    """The program's CronJobs in `namespace` (planned resources), as the API holds them (each with a
    uid of its own), by name."""
    return {r.inputs["metadata"]["name"]: {"apiVersion": "batch/v1", "kind": "CronJob",
                                           "metadata": {**r.inputs["metadata"], "uid": str(uuid.uuid4())}, "spec": r.inputs["spec"]}
            for r in resources if r.type == "kubernetes:batch/v1:CronJob" and r.inputs["metadata"]["namespace"] == namespace}


class Cluster:
    """One namespace's CronJobs (as the stack's program declares them) and the Jobs made from them;
    each Job's pod runs on loopback in a thread, and the Job completes or fails as it did."""

    def __init__(self, namespace: str, cronjobs: dict[str, dict[str, Any]], runner: Loopback):
        self.namespace = namespace
        self.jobs_path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
        self.cronjobs_path = f"/apis/batch/v1/namespaces/{namespace}/cronjobs/"
        self.pods_path = f"/api/v1/namespaces/{namespace}/pods"
        self.cronjobs = cronjobs
        self.runner = runner
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pods: dict[str, dict[str, Any]] = {}  # by the Job's uid
        self.logs: dict[tuple[str, str], str] = {}
        self.forbidden: set[str] = set()  # paths answered with 403
        self.created: list[dict[str, Any]] = []
        self.waiting: tuple[str, str, str] | None = None  # (container, reason, message) of a pod that cannot start
        self.serving: dict[str, tuple[int, subprocess.Popen[str]]] = {}  # a serving pod's name -> its port here, its process
        self.proxied: list[tuple[str, str]] = []  # (method, path) of each request the proxy passed on
        self.proxy_forbidden = False  # the caller lacks pods/proxy: 403

    def _serve(self, job: dict[str, Any], name: str) -> list[tuple[str, int, str]]:
        """A pod that serves (the backup transfer): Running while its process lives, then as it ended."""
        port = free_port()
        process = self.runner.start(job["spec"]["template"]["spec"], {"TRANSFER_PORT": str(port)})
        self.serving[name] = (port, process)
        (container,) = job["spec"]["template"]["spec"]["containers"]
        self.pods[job["metadata"]["uid"]] = {
            "metadata": {"name": name, "namespace": self.namespace, "labels": {"batch.kubernetes.io/controller-uid": job["metadata"]["uid"]}},
            "status": {"phase": "Running", "containerStatuses": [{"name": container["name"], "state": {"running": {}}}]}}
        out, err = process.communicate()
        return [(container["name"], process.returncode, out + err)]

    def _run(self, job: dict[str, Any]) -> None:
        spec = job["spec"]["template"]["spec"]
        if self.waiting:  # the first container cannot start: the pod stays pending, the Job active
            name, reason, message = self.waiting
            self.pods[job["metadata"]["uid"]] = {
                "metadata": {"name": f"{job['metadata']['name']}-x7k2p", "namespace": self.namespace},
                "status": {"phase": "Pending", "initContainerStatuses": [
                    {"name": name, "state": {"waiting": {"reason": reason, "message": message}}}]}}
            return
        name = f"{job['metadata']['name']}-x7k2p"
        if any("backup_kit.transfer" in c["command"] for c in spec["containers"]):
            ran = [Ran(n, code, log) for n, code, log in self._serve(job, name)]
        else:
            ran = self.runner.run_pod(spec)
        every = [*spec.get("initContainers", []), *spec["containers"]]
        statuses = [{"name": r.name, "state": {"terminated": {"exitCode": r.code, "reason": "Completed" if not r.code else "Error"}}}
                    for r in ran]
        statuses += [{"name": c["name"], "state": {"waiting": {"reason": "PodInitializing"}}} for c in every[len(ran):]]
        for r in ran:
            self.logs[(name, r.name)] = r.log
        failed = any(r.code for r in ran)
        init = len(spec.get("initContainers", []))
        self.pods[job["metadata"]["uid"]] = {
            "metadata": {"name": name, "namespace": self.namespace, "labels": {"batch.kubernetes.io/controller-uid": job["metadata"]["uid"]}},
            "status": {"phase": "Failed" if failed else "Succeeded", "initContainerStatuses": statuses[:init],
                       "containerStatuses": statuses[init:]}}
        condition = {"type": "Failed" if failed else "Complete", "status": "True",
                     **({"reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"} if failed else {})}
        job["status"] = {"conditions": [condition], **({"failed": 1} if failed else {"succeeded": 1})}

    def answer(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        if path in self.forbidden:
            return 403, status(403, "Forbidden", f"cronjobs.batch is forbidden: User \"dev\" cannot get resource at {path}")
        if method == "GET" and path.startswith(self.cronjobs_path):
            found = self.cronjobs.get(path[len(self.cronjobs_path):])
            return (200, found) if found else (404, status(404, "NotFound", "cronjobs.batch not found"))
        if method == "POST" and path == self.jobs_path:
            name = body["metadata"]["name"]
            if name in self.jobs:
                return 409, status(409, "AlreadyExists", f"jobs.batch \"{name}\" already exists")
            job = {**body, "metadata": {**body["metadata"], "uid": str(uuid.uuid4()), "creationTimestamp": "2026-12-07T10:00:00Z"},
                   "status": {}}
            self.jobs[name] = job
            self.created.append(json.loads(json.dumps(body)))
            threading.Thread(target=self._run, args=(job,), daemon=True).start()
            return 201, job
        if path.startswith(self.jobs_path + "/"):
            name = path[len(self.jobs_path) + 1:]
            if name not in self.jobs:
                return 404, status(404, "NotFound", f"jobs.batch \"{name}\" not found")
            if method == "DELETE":
                del self.jobs[name]
                for pod, (_, process) in self.serving.items():  # the Job's pod goes with it
                    if pod.startswith(f"{name}-") and process.poll() is None:
                        process.terminate()
                return 200, status(200, "Success", "deleted") | {"status": "Success"}
            return 200, self.jobs[name]
        if method == "GET" and path == self.pods_path:
            uid = query["labelSelector"][0].split("=", 1)[1]
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [self.pods[uid]] if uid in self.pods else []}
        if method == "GET" and path.startswith(self.pods_path + "/") and path.endswith("/log"):
            pod = path[len(self.pods_path) + 1:-len("/log")]
            return 200, self.logs.get((pod, query["container"][0]), "").encode()
        if path.startswith(self.pods_path + "/") and "/proxy/" in path:
            return self._proxy(method, path, body)
        return 404, status(404, "NotFound", f"no route {path}")

    def _proxy(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        """The API server's pod proxy: the request passed on to the pod's port (here, its process's)."""
        target, rest = path[len(self.pods_path) + 1:].split("/proxy/", 1)
        pod = target.split(":", 1)[0]
        if self.proxy_forbidden:
            return 403, status(403, "Forbidden", f"pods \"{pod}\" is forbidden: User \"dev\" cannot get resource \"pods/proxy\"")
        if pod not in self.serving:
            return 404, status(404, "NotFound", f"pods \"{pod}\" not found")
        self.proxied.append((method, rest))
        port = self.serving[pod][0]
        request = urllib.request.Request(f"http://127.0.0.1:{port}/{rest}", data=(body or b"") if method in ("PUT", "POST") else None,
                                         method=method)
        if method in ("PUT", "POST"):
            request.add_header("Content-Length", str(len(body or b"")))
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except OSError as err:  # not listening (yet): the API server answers 503
            return 503, status(503, "ServiceUnavailable", f"error trying to reach service: {err}")
