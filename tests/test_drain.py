"""Teardown order: what holds a cloud resource from inside the cluster goes before the cluster.

- In the program: every in-cluster holder (a release or object that makes a load balancer or a
  disk) waits for every node pool and the cluster, so the engine deletes it first (all clouds, kind).
- The drain `destroy` runs first (cli/engine/drain.py): its order and its waiting, exercised here
  over an in-memory stand-in for the few API calls it makes, seeded from a shipped stack's rendered
  cluster. Its calls against a live API server are not exercised here (none can run on this
  machine); its failure to reach one is, through `destroy` and the engine stand-in.
- `destroy` itself: no drain or sweep for kind; an unreachable cluster stops it before the engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Optional

import pytest

from mlops_platform.cli.engine import drain
from support import SHIPPED_STACKS

HOLDER_KINDS = ("Service", "PersistentVolumeClaim", "StatefulSet", "Prometheus", "Alertmanager")
NODES = ("aws:eks/nodeGroup:NodeGroup", "aws:eks/cluster:Cluster", "azure-native:containerservice:AgentPool",
         "azure-native:containerservice:ManagedCluster", "gcp:container/nodePool:NodePool", "gcp:container/cluster:Cluster",
         "command:local:Command")


def _holds_cloud_resource(manifest: dict) -> bool:
    kind, spec = manifest.get("kind"), manifest.get("spec") or {}
    if kind == "Service":
        return spec.get("type") == "LoadBalancer"
    if kind == "StatefulSet":
        return bool(spec.get("volumeClaimTemplates"))
    if kind in ("Prometheus", "Alertmanager"):
        return bool((spec.get("storage") or {}).get("volumeClaimTemplate"))
    return kind == "PersistentVolumeClaim"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_in_cluster_holder_is_deleted_before_the_nodes_and_the_cluster(stack, planned, viewed):
    run, view = planned(stack), viewed(stack)
    # kind's nodes are its create command (not any local command: Azure's server restart is one too).
    nodes = [r for r in run.resources if r.type in NODES and (r.type != "command:local:Command" or r.name.endswith("-kind"))]
    assert nodes
    holders = {o.owner for o in [*view.program, *(x for r in view.releases for x in r.objects)]
               if _holds_cloud_resource(dict(o.manifest))}
    if stack.startswith(("aws", "azure", "gcp")):
        releases = {r.urn: r.release for r in view.releases}
        assert "kube-prometheus-stack" in {releases.get(h) for h in holders}, "the Prometheus disk"
        assert any(h.endswith("Service::mlops-traefik-lb") for h in holders), "Traefik's load balancer"
    assert holders
    for holder in holders:
        waits = run.waits_for(run.by_urn()[holder])
        missing = [n.name for n in nodes if n.urn not in waits]
        assert not missing, f"{holder} would be deleted after {missing}"


@pytest.mark.parametrize("stack", ["aws-dev", "azure-prod", "gcp-dev"])
def test_prometheus_claims_go_with_their_statefulset(stack, stack_config, viewed):
    view = viewed(stack)
    (prometheus,) = [o for o in view.runtime if o.kind == "StatefulSet" and o.name.startswith("prometheus-")]
    spec = prometheus.manifest["spec"]
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
    size = stack_config(stack).monitoring.storage_gb
    assert spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == f"{size}Gi"


# --- the drain, over a stand-in for its API calls ---------------------------------------------------


@dataclass
class Cluster:
    """What the drain sees: LoadBalancer Services, operator resources, claims and volumes. A deleted
    Service or volume lingers for `release_after` polls (its controller releasing the cloud side)."""

    services: dict[tuple[str, str], str] = field(default_factory=dict)
    operators: set[tuple[str, str, str]] = field(default_factory=set)
    claim_volumes: dict[tuple[str, str], str] = field(default_factory=dict)  # (namespace, claim) -> volume
    volumes: dict[str, list[str]] = field(default_factory=dict)  # -> [reclaim policy, disk]
    release_after: int = 1
    calls: list[str] = field(default_factory=list)
    _releasing: dict[str, int] = field(default_factory=dict)

    def _tick(self) -> None:
        for key in list(self._releasing):
            self._releasing[key] -= 1
            if self._releasing[key] < 0:
                del self._releasing[key]
                kind, _, name = key.partition(":")
                if kind == "svc":
                    ns, _, n = name.partition("/")
                    self.services.pop((ns, n), None)
                elif self.volumes.get(name, ["Retain"])[0] == "Delete":
                    self.volumes.pop(name, None)

    def load_balancer_services(self):
        self._tick()
        return [(ns, n, a) for (ns, n), a in sorted(self.services.items())]

    def delete_service(self, namespace, name):
        self.calls.append(f"delete Service {namespace}/{name}")
        self._releasing[f"svc:{namespace}/{name}"] = self.release_after

    def operator_resources(self, namespaces: Iterable[str]):
        return sorted(o for o in self.operators if o[1] in set(namespaces))

    def delete_operator_resource(self, plural, namespace, name):
        self.calls.append(f"delete {plural} {namespace}/{name}")
        self.operators.discard((plural, namespace, name))

    def claims(self, namespaces):
        return sorted((ns, n, v) for (ns, n), v in self.claim_volumes.items() if ns in set(namespaces))

    def volume(self, name) -> Optional[tuple[str, str]]:
        found = self.volumes.get(name)
        return None if found is None else (found[0], found[1])

    def set_reclaim_delete(self, volume):
        self.calls.append(f"reclaim Delete {volume}")
        self.volumes[volume][0] = "Delete"

    def delete_claim(self, namespace, name):
        self.calls.append(f"delete PersistentVolumeClaim {namespace}/{name}")
        volume = self.claim_volumes.pop((namespace, name))
        self._releasing[f"pv:{volume}"] = self.release_after



def cluster_of(viewed, stack: str) -> Cluster:
    """The drain's view of a shipped stack once deployed: from its rendered and modelled objects."""
    view = viewed(stack)
    objects = [*(x for r in view.releases for x in r.objects), *view.runtime, *view.program]
    cluster = Cluster()
    for obj in objects:
        spec = obj.manifest.get("spec") or {}
        if obj.kind == "Service" and spec.get("type") == "LoadBalancer":
            cluster.services[(obj.namespace, obj.name)] = f"{obj.name}.elb.example"
        if obj.kind in ("Prometheus", "Alertmanager") and obj.namespace in drain.PLATFORM_NAMESPACES:
            cluster.operators.add((obj.kind.lower() + ("es" if obj.kind == "Prometheus" else "s"), obj.namespace, obj.name))
        if obj.kind == "StatefulSet":
            for template in spec.get("volumeClaimTemplates") or []:
                claim = f"{template['metadata']['name']}-{obj.name}-0"
                volume = f"pvc-{len(cluster.volumes)}"
                cluster.claim_volumes[(obj.namespace, claim)] = volume
                # The storage classes reclaim with Delete; one volume here was set to Retain by hand.
                cluster.volumes[volume] = ["Retain" if not cluster.volumes else "Delete", f"vol-{len(cluster.volumes)}"]
    return cluster


def test_the_drain_deletes_in_order_and_waits_for_the_cloud_side(viewed):
    cluster = cluster_of(viewed, "aws-dev")
    assert cluster.services == {("traefik", "traefik-lb"): "traefik-lb.elb.example"}
    assert cluster.operators == {("prometheuses", "monitoring", "kube-prometheus-stack-prometheus"),
                                 ("alertmanagers", "monitoring", "kube-prometheus-stack-alertmanager")}
    assert len(cluster.claim_volumes) == 1
    cluster.volumes["pvc-0"][0] = "Retain"
    now = [0.0]
    report = drain.drain(cluster, timeout=60, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert report.done and not cluster.services and not cluster.claim_volumes and not cluster.volumes
    order = [c.split(" ")[1] for c in cluster.calls]
    assert order == ["Service", "alertmanagers", "prometheuses", "Delete", "PersistentVolumeClaim"], cluster.calls
    assert "reclaim Delete pvc-0" in cluster.calls, "a Retain volume would keep its disk"
    assert 0 < report.seconds <= 60


def test_a_drain_that_times_out_names_what_is_held(viewed):
    cluster = cluster_of(viewed, "gcp-dev")
    cluster.release_after = 10_000  # a controller that never releases
    now = [0.0]
    report = drain.drain(cluster, timeout=30, poll=5, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert not report.done and report.seconds == 30
    assert "Service traefik/traefik-lb (its load balancer traefik-lb.elb.example)" in report.held
    assert any(h.startswith("PersistentVolume pvc-0 (disk vol-0)") for h in report.held)


def test_kind_has_nothing_to_drain(viewed):
    cluster = cluster_of(viewed, "local-dev")
    assert not cluster.services, "kind exposes Traefik through NodePorts"


# --- destroy, through the engine stand-in ------------------------------------------------------------


@pytest.fixture()
def engine(project, monkeypatch, tmp_path, standin_engine):

    return standin_engine(state=True)


UNREACHABLE = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
"""


def test_an_unreachable_cluster_stops_destroy_before_the_engine(engine):
    from typer.testing import CliRunner

    from mlops_platform.cli.app import app

    engine.stacks({"aws-dev": {"outputs": {"kubeconfig": UNREACHABLE}, "secrets": ["kubeconfig"], "resources": [
        {"urn": "urn:pulumi:aws-dev::mlops-platform::aws:eks/cluster:Cluster::mlops-cluster-eks", "type": "aws:eks/cluster:Cluster"}]}})
    engine.events("destroy", "destroy")
    result = CliRunner().invoke(app, ["destroy", "--cloud", "aws", "--yes"])
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith("error: cannot drain the cluster of stack aws-dev:") and "--no-drain" in line
    assert "destroy" not in [c["args"][0] for c in engine.calls()], "the engine deleted nothing"
    assert "token: t}" not in json.dumps(engine.calls()), "the kubeconfig (its credential) is in no engine call"


def test_kind_destroy_has_no_drain_and_no_sweep(engine):
    from typer.testing import CliRunner

    from mlops_platform.cli.app import app

    engine.stacks({"local-dev": {"outputs": {"kubeconfig": UNREACHABLE}, "secrets": ["kubeconfig"], "resources": [
        {"urn": "urn:pulumi:local-dev::mlops-platform::command:local:Command::mlops-cluster-kind", "type": "command:local:Command"}]}})
    engine.events("destroy", "destroy")
    result = CliRunner().invoke(app, ["destroy", "--cloud", "local", "--yes"])
    assert result.exit_code == 0, result.stderr
    assert "Draining" not in result.stderr and "Sweeping" not in result.stderr
    assert "destroy" in [c["args"][0] for c in engine.calls()]
