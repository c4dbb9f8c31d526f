"""The drain's Kubernetes calls (cli/engine/kube_api.py) at the HTTP level: the official client
against an API server replayed on loopback. The responses are the API's own shapes (ServiceList,
PersistentVolumeClaimList, PersistentVolume, a custom-object list, Status for 404 and 403), written
from the Kubernetes API reference; the server keeps a small cluster's state so that what the drain
deletes goes away as a controller would make it go (the Service after its load balancer finalizer,
the claim, then its volume once it reclaims with Delete).
Ref: https://kubernetes.io/docs/reference/kubernetes-api/
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.cli.engine import drain
from mlops_platform.cli.engine.kube_api import KubeApi
from support.kube import serving, status


def _meta(name: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    meta = {"name": name, "uid": f"uid-{name}", "resourceVersion": "1001", "creationTimestamp": "2026-12-01T10:00:00Z", **extra}
    if namespace:
        meta["namespace"] = namespace
    return meta


class Cluster:
    """What the replayed API server holds and how it changes: a LoadBalancer Service with the cloud
    controller's finalizer, the monitoring operator's resources, a claim bound to a volume that
    reclaims with Retain (set by hand), and controllers that finish `release_after` reads later."""

    def __init__(self) -> None:
        self.services = {("traefik", "traefik-lb"): "a1b2.elb.us-east-1.amazonaws.com", ("traefik", "traefik"): None}
        self.operators = {("prometheuses", "monitoring", "kube-prometheus-stack-prometheus"),
                          ("alertmanagers", "monitoring", "kube-prometheus-stack-alertmanager")}
        self.claims = {("monitoring", "prometheus-db-0"): "pvc-7f3a"}
        self.volumes = {"pvc-7f3a": ["Retain", "vol-0abc"]}
        self.release_after = 2  # reads of a deleted object before its controller has removed it
        self.deleting: dict[str, int] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.forbidden: set[str] = set()

    def _tick(self) -> None:
        for key in list(self.deleting):
            self.deleting[key] -= 1
            if self.deleting[key] <= 0:
                del self.deleting[key]
                kind, _, rest = key.partition(":")
                if kind == "svc":
                    self.services.pop(tuple(rest.split("/")), None)
                elif kind == "pvc":
                    volume = self.claims.pop(tuple(rest.split("/")))
                    if self.volumes.get(volume, ["Retain"])[0] == "Delete":
                        self.deleting[f"pv:{volume}"] = self.release_after
                elif kind == "pv":
                    self.volumes.pop(rest, None)

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.requests.append((method, path, body))
        if path in self.forbidden:
            return 403, status(403, "Forbidden", f"forbidden: cannot {method} {path}")
        if method == "GET" and path == "/api/v1/services":
            self._tick()
            return 200, {"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": "2001"}, "items": [
                {"metadata": _meta(n, ns, finalizers=["service.kubernetes.io/load-balancer-cleanup"] if a else []),
                 "spec": {"type": "LoadBalancer" if a else "ClusterIP", "ports": [{"port": 443, "protocol": "TCP"}]},
                 "status": {"loadBalancer": {"ingress": [{"hostname": a}]} if a else {}}}
                for (ns, n), a in sorted(self.services.items(), key=lambda kv: kv[0])]}
        if match := re.fullmatch(r"/api/v1/namespaces/([^/]+)/services/([^/]+)", path):
            key = match.groups()
            if method == "DELETE" and key in self.services:
                self.deleting[f"svc:{key[0]}/{key[1]}"] = self.release_after
                return 200, {"kind": "Service", "apiVersion": "v1", "metadata": _meta(key[1], key[0], deletionTimestamp="2026-12-05T10:00:00Z")}
            return 404, status(404, "NotFound", f'services "{key[1]}" not found')
        if match := re.fullmatch(r"/apis/monitoring.coreos.com/v1/namespaces/([^/]+)/([a-z]+)(?:/([^/]+))?", path):
            namespace, plural, name = match.groups()
            if namespace not in ("monitoring", "traefik", "mlflow", "models", "detectors", "kserve", "cert-manager", "data"):
                return 404, status(404, "NotFound", f'namespaces "{namespace}" not found')
            if method == "GET":
                items = [{"apiVersion": "monitoring.coreos.com/v1", "kind": plural[:-2].capitalize() if plural == "prometheuses" else "Alertmanager",
                          "metadata": _meta(n, ns)} for p, ns, n in sorted(self.operators) if p == plural and ns == namespace]
                return 200, {"apiVersion": "monitoring.coreos.com/v1", "kind": "List", "metadata": {"resourceVersion": "3001"}, "items": items}
            if method == "DELETE":
                if (plural, namespace, name) not in self.operators:
                    return 404, status(404, "NotFound", f'{plural} "{name}" not found')
                self.operators.discard((plural, namespace, name))
                return 200, status(200, "", "") | {"status": "Success"}
        if method == "GET" and path == "/api/v1/persistentvolumeclaims":
            self._tick()
            return 200, {"kind": "PersistentVolumeClaimList", "apiVersion": "v1", "metadata": {"resourceVersion": "4001"}, "items": [
                {"metadata": _meta(n, ns), "spec": {"accessModes": ["ReadWriteOnce"], "volumeName": v, "storageClassName": "gp3",
                                                    "resources": {"requests": {"storage": "5Gi"}}},
                 "status": {"phase": "Bound"}} for (ns, n), v in sorted(self.claims.items())]}
        if match := re.fullmatch(r"/api/v1/namespaces/([^/]+)/persistentvolumeclaims/([^/]+)", path):
            key = match.groups()
            if method == "DELETE" and key in self.claims:
                self.deleting[f"pvc:{key[0]}/{key[1]}"] = self.release_after
                return 200, {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "metadata": _meta(key[1], key[0])}
            return 404, status(404, "NotFound", f'persistentvolumeclaims "{key[1]}" not found')
        if match := re.fullmatch(r"/api/v1/persistentvolumes/([^/]+)", path):
            name = match.group(1)
            if name not in self.volumes:
                return 404, status(404, "NotFound", f'persistentvolumes "{name}" not found')
            if method == "PATCH":
                self.volumes[name][0] = body["spec"]["persistentVolumeReclaimPolicy"]
            policy, handle = self.volumes[name]
            return 200, {"kind": "PersistentVolume", "apiVersion": "v1", "metadata": _meta(name),
                         "spec": {"persistentVolumeReclaimPolicy": policy, "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
                                  "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": handle}},
                         "status": {"phase": "Bound"}}
        return 404, status(404, "NotFound", f"the server could not find the requested resource ({method} {path})")


@pytest.fixture()
def api_server() -> Iterator[tuple[Cluster, str]]:
    cluster = Cluster()
    with serving(lambda method, path, query, body: cluster.answer(method, path, body)) as kubeconfig:
        yield cluster, kubeconfig


def test_the_client_reads_and_changes_the_cluster_as_the_api_answers(api_server):
    cluster, kubeconfig = api_server
    api = KubeApi(kubeconfig)
    assert api.load_balancer_services() == [("traefik", "traefik-lb", "a1b2.elb.us-east-1.amazonaws.com")], "ClusterIP ones are not"
    assert api.operator_resources(["monitoring", "gone"]) == [
        ("prometheuses", "monitoring", "kube-prometheus-stack-prometheus"),
        ("alertmanagers", "monitoring", "kube-prometheus-stack-alertmanager")], "a namespace that is gone is skipped"
    assert api.claims(["monitoring"]) == [("monitoring", "prometheus-db-0", "pvc-7f3a")]
    assert api.claims(["models"]) == []
    assert api.volume("pvc-7f3a") == ("Retain", "vol-0abc") and api.volume("pvc-none") is None
    api.set_reclaim_delete("pvc-7f3a")
    method, path, body = cluster.requests[-1]
    assert (method, path, body) == ("PATCH", "/api/v1/persistentvolumes/pvc-7f3a", {"spec": {"persistentVolumeReclaimPolicy": "Delete"}})
    api.delete_service("traefik", "already-gone")  # a 404 on delete is what the drain wants anyway
    api.delete_claim("monitoring", "already-gone")
    api.delete_operator_resource("prometheuses", "monitoring", "already-gone")


def test_a_refusal_other_than_not_found_is_raised(api_server):
    from kubernetes.client.exceptions import ApiException

    cluster, kubeconfig = api_server
    cluster.forbidden.add("/api/v1/namespaces/traefik/services/traefik-lb")
    with pytest.raises(ApiException) as refused:
        KubeApi(kubeconfig).delete_service("traefik", "traefik-lb")
    assert refused.value.status == 403


def test_the_drain_through_the_api_deletes_in_order_and_waits(api_server):
    cluster, kubeconfig = api_server
    report = drain.drain(KubeApi(kubeconfig), timeout=30, poll=0.05)
    assert report.done and not cluster.services.get(("traefik", "traefik-lb")) and not cluster.claims and not cluster.volumes
    changes = [(m, p) for m, p, _ in cluster.requests if m != "GET"]
    assert changes == [
        ("DELETE", "/api/v1/namespaces/traefik/services/traefik-lb"),
        ("DELETE", "/apis/monitoring.coreos.com/v1/namespaces/monitoring/prometheuses/kube-prometheus-stack-prometheus"),
        ("DELETE", "/apis/monitoring.coreos.com/v1/namespaces/monitoring/alertmanagers/kube-prometheus-stack-alertmanager"),
        ("PATCH", "/api/v1/persistentvolumes/pvc-7f3a"),
        ("DELETE", "/api/v1/namespaces/monitoring/persistentvolumeclaims/prometheus-db-0"),
    ]


# --- destroy: a drain that does not finish stops it ------------------------------------------------


@pytest.fixture()
def deployed(api_server, project, tmp_path, monkeypatch, standin_engine):

    cluster, kubeconfig = api_server
    fake = standin_engine(state=True)
    fake.stacks({"aws-dev": {"outputs": {"kubeconfig": kubeconfig}, "secrets": ["kubeconfig"], "resources": [
        {"urn": "urn:pulumi:aws-dev::mlops-platform::aws:eks/cluster:Cluster::mlops-cluster-eks", "type": "aws:eks/cluster:Cluster"}]}})
    fake.events("destroy", "destroy")
    return cluster, fake


def test_a_drain_that_times_out_stops_destroy_before_the_engine_deletes_anything(deployed):
    cluster, fake = deployed
    cluster.release_after = 10_000  # the cloud never releases the load balancer
    result = CliRunner().invoke(app, ["destroy", "--cloud", "aws", "--yes", "--drain-timeout", "1"])
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith("error: the drain timed out after 1s; still held: Service traefik/traefik-lb")
    assert "nothing was destroyed" in line
    assert "destroy" not in [c["args"][0] for c in fake.calls()], "the engine deleted nothing"
    assert "not-a-real-token" not in json.dumps(fake.calls()), "the kubeconfig's credential is in no engine call"


def test_no_drain_skips_it_and_the_engine_destroys(deployed, moto_endpoint):
    cluster, fake = deployed
    cluster.release_after = 10_000
    result = CliRunner().invoke(app, ["destroy", "--cloud", "aws", "--yes", "--no-drain", "--drain-timeout", "1"])
    assert "destroy" in [c["args"][0] for c in fake.calls()]
    assert not [r for r in cluster.requests if r[0] != "GET"] and not cluster.requests, "the cluster was not touched"
    assert result.exit_code == 0, result.stderr
    assert "nothing left in account" in result.stdout
