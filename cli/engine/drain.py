"""The drain `platform destroy` runs before the engine deletes anything: every in-cluster holder of a
cloud resource is deleted, and its release confirmed, while the cluster and its controllers still run.

Why a drain and not only the dependency order. The program already orders the deletes: every
Helm release and workload waits for the node pools and the cluster, so the engine deletes them
first. But the engine calls a release deleted when Helm's uninstall returns; the cloud resources
behind it are released later, by controllers running in that same cluster:
- a `LoadBalancer` Service's load balancer, by the cloud controller (the Service keeps the
  `service.kubernetes.io/load-balancer-cleanup` finalizer until it is gone);
- a claim's disk, by the CSI driver's provisioner, after the claim and then its volume are deleted;
  and a StatefulSet's claims only if its retention policy says so (the Prometheus claims do:
  components/addons/monitoring.py), by the StatefulSet controller.
Deleting the nodes or the cluster before those controllers finish orphans the load balancer or the
disk, which then bills with nothing in the state to say so. So the drain deletes them itself, waits
until the API reports them gone, and stops `destroy` before the engine runs if they are not.

The order: LoadBalancer Services (every namespace: the cluster is going); the Prometheus and
Alertmanager resources in the platform's namespaces (else the operator recreates their StatefulSets
and claims); then every claim in those namespaces, each bound volume first set to reclaim with
Delete; then it waits for the Services, the claims and the volumes to be gone.

A local (kind) stack has no drain: nothing outside its Docker container bills.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Protocol

from mlops_platform.components import names

PLATFORM_NAMESPACES = (names.NS_CERT_MANAGER, names.NS_TRAEFIK, names.NS_KSERVE, names.NS_MONITORING, names.NS_MLFLOW,
                       names.NS_MODELS, names.NS_DETECTORS, names.NS_DATA)
OPERATOR_KINDS = ("prometheuses", "alertmanagers")  # monitoring.coreos.com/v1 plurals


class Api(Protocol):
    """The few Kubernetes calls the drain makes (cli/engine/kube_api.py implements them)."""

    def load_balancer_services(self) -> list[tuple[str, str, str]]: ...  # (namespace, name, ingress hostname or IP)
    def delete_service(self, namespace: str, name: str) -> None: ...
    def operator_resources(self, namespaces: Iterable[str]) -> list[tuple[str, str, str]]: ...  # (plural, namespace, name)
    def delete_operator_resource(self, plural: str, namespace: str, name: str) -> None: ...
    def claims(self, namespaces: Iterable[str]) -> list[tuple[str, str, str]]: ...  # (namespace, name, bound volume)
    def volume(self, name: str) -> Optional[tuple[str, str]]: ...  # (reclaim policy, disk handle), None if gone
    def set_reclaim_delete(self, volume: str) -> None: ...
    def delete_claim(self, namespace: str, name: str) -> None: ...


@dataclass
class DrainReport:
    deleted: list[str] = field(default_factory=list)  # what the drain asked Kubernetes to delete, in order
    held: list[str] = field(default_factory=list)  # what was still there at the deadline
    seconds: float = 0.0

    @property
    def done(self) -> bool:
        return not self.held


def drain(api: Api, timeout: float, progress: Callable[[str], None] = lambda _: None, poll: float = 5.0,
          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> DrainReport:
    started = clock()
    report = DrainReport()
    services = api.load_balancer_services()
    for namespace, name, address in services:
        progress(f"deleting Service {namespace}/{name} (load balancer {address or 'pending'})")
        api.delete_service(namespace, name)
        report.deleted.append(f"Service {namespace}/{name}")
    for plural, namespace, name in api.operator_resources(PLATFORM_NAMESPACES):
        progress(f"deleting {plural} {namespace}/{name} (its StatefulSet and claims go with it)")
        api.delete_operator_resource(plural, namespace, name)
        report.deleted.append(f"{plural} {namespace}/{name}")
    claims = api.claims(PLATFORM_NAMESPACES)
    volumes = {volume for _, _, volume in claims if volume}
    for namespace, name, volume in claims:
        if volume:
            found = api.volume(volume)
            if found is not None and found[0] != "Delete":
                progress(f"PersistentVolume {volume} reclaims with {found[0]}: setting Delete, so its disk goes with it")
                api.set_reclaim_delete(volume)
        progress(f"deleting PersistentVolumeClaim {namespace}/{name}" + (f" (volume {volume})" if volume else ""))
        api.delete_claim(namespace, name)
        report.deleted.append(f"PersistentVolumeClaim {namespace}/{name}")
    waited = {f"Service {ns}/{n}" for ns, n, _ in services}
    while True:
        held = [f"Service {ns}/{n} (its load balancer {a or '?'})" for ns, n, a in api.load_balancer_services()
                if f"Service {ns}/{n}" in waited]
        held += [f"PersistentVolumeClaim {ns}/{n}" for ns, n, _ in api.claims(PLATFORM_NAMESPACES)]
        for volume in sorted(volumes):
            found = api.volume(volume)
            if found is not None:
                held.append(f"PersistentVolume {volume} (disk {found[1] or '?'})")
        if not held:
            break
        waited_so_far = clock() - started
        if waited_so_far >= timeout:
            report.held = held
            break
        sleep(min(poll, timeout - waited_so_far))
    report.seconds = round(clock() - started, 1)
    return report
