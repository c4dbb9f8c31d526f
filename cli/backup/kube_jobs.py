"""The Kubernetes calls a local backup or restore makes: a Job created from a CronJob's template,
its pod's steps followed, their logs read. The official Python client, the stack's kubeconfig
output; documents stay the API's own JSON (no client models in between).
Ref: https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/job-v1/
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any, BinaryIO, Optional

from mlops_platform.components.data.backup_kit.errors import BackupFailed, BackupRefused


class JobExists(Exception):
    """A Job of that name is there already."""


class JobApi:
    def __init__(self, kubeconfig: str):
        from kubernetes import client

        from ..engine.kube_api import api_client_for

        api_client = api_client_for(kubeconfig)
        self.batch = client.BatchV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self._error = client.exceptions.ApiException
        self._server = api_client.configuration.host
        self._client = api_client

    def _call(self, doing: str, call: Any, *args: Any, raw: bool = False, **kwargs: Any) -> Any:
        """The API's answer as JSON (`raw`: its bytes); None for 404. Errors as one line: 403
        refused, others failed."""
        try:
            answer = call(*args, _preload_content=False, **kwargs)
        except self._error as err:
            if err.status == 404:
                return None
            if err.status == 409:
                raise JobExists(doing) from None
            reason = _message(err.body) or err.reason or ""
            if err.status in (401, 403):
                raise BackupRefused(f"{doing}: the cluster refused it ({err.status}: {reason[:160]}); "
                                    "the kubeconfig's identity lacks the rights a backup needs") from None
            raise BackupFailed(f"{doing}: {err.status} {reason[:160]}") from None
        except OSError as err:  # urllib3's connection errors are OSErrors
            raise BackupFailed(f"{doing}: cannot reach the cluster at {self._server} ({str(err)[:120]})") from None
        return answer.data if raw else json.loads(answer.data or b"null")

    def cronjob(self, namespace: str, name: str) -> Optional[dict[str, Any]]:
        return self._call(f"reading CronJob {namespace}/{name}", self.batch.read_namespaced_cron_job, name, namespace)

    def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self._call(f"creating Job {namespace}/{body['metadata']['name']}",
                                             self.batch.create_namespaced_job, namespace, body)
        return created

    def job(self, namespace: str, name: str) -> Optional[dict[str, Any]]:
        return self._call(f"reading Job {namespace}/{name}", self.batch.read_namespaced_job, name, namespace)

    def delete_job(self, namespace: str, name: str) -> None:
        # Background: the Job goes now, its pods after it (kubectl's default).
        self._call(f"deleting Job {namespace}/{name}", self.batch.delete_namespaced_job, name, namespace,
                   propagation_policy="Background")

    def pods(self, namespace: str, job_uid: str) -> list[dict[str, Any]]:
        # The Job controller labels its pods with the Job's uid (a reused name cannot mix them up).
        found = self._call(f"listing the pods of Job {job_uid}", self.core.list_namespaced_pod, namespace,
                           label_selector=f"batch.kubernetes.io/controller-uid={job_uid}")
        return list((found or {}).get("items", []))

    def log(self, namespace: str, pod: str, container: str) -> str:
        text = self._call(f"reading the log of {pod}/{container}", self.core.read_namespaced_pod_log, pod, namespace,
                          container=container, raw=True)
        return bytes(text or b"").decode(errors="replace")

    def proxy(self, method: str, namespace: str, pod: str, path: str, body: Optional[bytes | BinaryIO] = None,
              into: Optional[BinaryIO] = None) -> tuple[int, bytes]:
        """An HTTP request to `pod` (NAME:PORT) through the API server's proxy: (status, body). A file
        `body` is streamed (its size sent as Content-Length), and so is a 200 answer's body `into` a
        file, when one is given: a model's weights are never held whole in memory. Sent with the
        client's own connection pool and credentials (its generated calls take JSON or bytes only,
        and escape a path's slashes). Ref:
        https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#get-connect-proxy-path-of-pod"""
        import os

        import urllib3

        url = f"{self._server}/api/v1/namespaces/{namespace}/pods/{pod}/proxy/{urllib.parse.quote(path, safe='/')}"
        doing = f"{method} {path.split('/', 1)[-1]} on pod {namespace}/{pod.split(':')[0]}"  # not the token
        headers = {"Accept": "*/*", "Content-Type": "application/octet-stream"}
        self._client.update_params_for_auth(headers, [], ["BearerToken"])
        if body is not None and not isinstance(body, bytes):
            headers["Content-Length"] = str(os.fstat(body.fileno()).st_size)
        elif method not in ("GET", "HEAD"):
            headers["Content-Length"] = str(len(body or b""))
        try:
            answer = self._client.rest_client.pool_manager.request(
                method, url, body=body, headers=headers, preload_content=False, timeout=urllib3.Timeout(connect=30, read=600))
            if answer.status in (401, 403):
                raise BackupRefused(f"{doing}: the cluster refused it ({answer.status}); the kubeconfig's identity needs "
                                    "the pods/proxy right")
            if answer.status != 200 or into is None:
                return int(answer.status), bytes(answer.read())
            for chunk in answer.stream(1 << 20):
                into.write(chunk)
        except (OSError, urllib3.exceptions.HTTPError) as err:  # unreachable, cut, or short of its Content-Length
            raise BackupFailed(f"{doing}: failed between here and the cluster at {self._server} ({str(err)[:120]})") from None
        return 200, b""


def _message(body: Any) -> str:
    try:
        return str(json.loads(body).get("message", ""))
    except (TypeError, ValueError, AttributeError):
        return ""
