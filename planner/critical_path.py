"""How long a first `platform up` takes at least: the longest chain of resources that wait for one
another, each weighted by how long it takes to create.

Pulumi creates independent resources in parallel, so a first deploy cannot be faster than its
heaviest dependency chain. A resource waits for its dependencies (explicit and through inputs; a
dependency on a component is one on each of its children) and for its provider, which waits for its
own inputs (a kubeconfig: the cluster). The durations below are estimates of a create with the
engine's default behaviour (the Kubernetes provider waits for Deployments and Jobs to be ready, Helm
releases for their resources); each names where it comes from.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any, Optional

from mlops_platform.components.data.outputs import AZURE_POSTGRES_RESTART

from .harness import ProgramRun, ResourceRecord

# type token -> (seconds, source). Sources: provider documentation where it states a figure, else
# the create times users and infrastructure tools report (Terraform registry timeouts, the
# providers' own examples); the Kubernetes side from the provider's await logic.
DURATIONS: dict[str, tuple[int, str]] = {
    # --- AWS ---
    "aws:eks/cluster:Cluster": (600, "EKS control plane: about 10 min (AWS EKS user guide, 'Create a cluster'; Terraform aws_eks_cluster default create timeout 30 min)"),
    "aws:eks/nodeGroup:NodeGroup": (240, "managed node group: 3-5 min to launch and join (AWS EKS user guide)"),
    "aws:eks/addon:Addon": (90, "EKS add-on (EBS CSI) becomes ACTIVE in 1-2 min once nodes run"),
    "aws:ec2/natGateway:NatGateway": (120, "NAT gateway: pending -> available in 1-2 min (AWS VPC user guide)"),
    "aws:rds/instance:Instance": (480, "RDS PostgreSQL single-AZ: about 8 min (RDS user guide; Terraform default create timeout 40 min)"),
    "aws:rds/instance:Instance+multiAz": (900, "RDS Multi-AZ: about 15 min (a standby is created and synchronised)"),
    "aws:kms/key:Key": (10, "KMS CreateKey: seconds"),
    "aws:ec2/vpc:Vpc": (10, "VPC: seconds"),
    "aws:ec2/internetGateway:InternetGateway": (10, "internet gateway: seconds"),
    "aws:iam/role:Role": (10, "IAM role: seconds (eventually consistent)"),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": (10, "IAM OIDC provider: seconds"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": (90, "VPC endpoint: a gateway in seconds, an interface pending -> available in "
                                           "1-2 min; the longer, as an estimate (no published figure)"),
    # --- Azure ---
    "azure-native:containerservice:ManagedCluster": (420, "AKS cluster with its system pool: 5-10 min (AKS quickstart)"),
    "azure-native:containerservice:AgentPool": (240, "AKS user node pool: 3-5 min"),
    "azure-native:dbforpostgresql:Server": (480, "Postgres flexible server: about 8 min (Azure docs 'Create a server')"),
    "azure-native:dbforpostgresql:Server+ha": (900, "Postgres flexible server, zone-redundant HA: about 15 min (a standby in a second zone)"),
    "azure-native:dbforpostgresql:Administrator": (90, "Entra admin of a flexible server: a server operation, an estimate "
                                                       "of about 1-2 min (no published figure)"),
    "azure-native:privatedns:VirtualNetworkLink": (60, "private DNS zone link: about 1 min"),
    "azure-native:privatedns:PrivateZone": (30, "private DNS zone: under 1 min"),
    "azure-native:network:PrivateEndpoint": (60, "private endpoint: about 1 min, an estimate (no published figure)"),
    "azure-native:authorization:RoleAssignment": (30, "role assignment: seconds, plus Entra ID propagation"),
    "azure-native:storage:StorageAccount": (30, "storage account: under 1 min"),
    "azure-native:network:VirtualNetwork": (15, "virtual network: seconds"),
    "azure-native:network:Subnet": (15, "subnet: seconds (serialised per VNet)"),
    "azure-native:resources:ResourceGroup": (5, "resource group: seconds"),
    # --- GCP ---
    "gcp:container/cluster:Cluster": (420, "GKE regional control plane: 5-10 min (GKE docs 'Creating a regional cluster')"),
    "gcp:container/nodePool:NodePool": (240, "GKE node pool: 3-5 min"),
    "gcp:sql/databaseInstance:DatabaseInstance": (480, "Cloud SQL for PostgreSQL: about 8 min (Cloud SQL docs; Terraform default create timeout 30 min)"),
    "gcp:sql/databaseInstance:DatabaseInstance+ha": (720, "Cloud SQL regional (HA): about 12 min"),
    "gcp:servicenetworking/connection:Connection": (90, "private services access peering: 1-2 min"),
    "gcp:compute/routerNat:RouterNat": (30, "Cloud NAT: under 1 min"),
    "gcp:compute/network:Network": (30, "VPC network: under 1 min"),
    "gcp:compute/subnetwork:Subnetwork": (20, "subnetwork: seconds"),
    "gcp:dns/managedZone:ManagedZone": (10, "Cloud DNS zone: seconds"),
    "gcp:dns/recordSet:RecordSet": (10, "Cloud DNS record set: seconds"),
    # --- local ---
    "command:local:Command": (90, "kind create cluster --wait: about 1-2 min (kind quick start)"),
    "command:local:Command+postgres-restart": (120, "az postgres flexible-server restart: the server stops and starts, "
                                                    "an estimate of about 2 min (no published figure)"),
    # --- Kubernetes (the provider's await logic) ---
    "kubernetes:helm.sh/v3:Release": (90, "a Helm release waits for its resources to be ready: 1-2 min"),
    "kubernetes:apps/v1:Deployment": (45, "a Deployment is awaited until its replicas are ready (image pull + readiness)"),
    "kubernetes:apps/v1:StatefulSet": (60, "a StatefulSet is awaited until ready"),
    "kubernetes:batch/v1:Job": (30, "a Job is awaited until it completes"),
    "kubernetes:core/v1:Service": (2, "a ClusterIP Service is ready at once"),
    "kubernetes:core/v1:Service+LoadBalancer": (120, "a LoadBalancer Service is awaited until the cloud assigns an address: 1-3 min"),
    "kubernetes:core/v1:PersistentVolumeClaim": (2, "WaitForFirstConsumer claims are ready once created"),
    "pulumi:providers:kubernetes": (1, "a provider is configured, not created"),
}
# Charts whose install takes longer than the Release default above, or shorter.
HELM_RELEASES: dict[str, tuple[int, str]] = {
    "cert-manager": (75, "cert-manager: the post-install startupapicheck waits for the webhook, about 1 min (cert-manager docs)"),
    "kube-prometheus-stack": (150, "kube-prometheus-stack: operator, Grafana, Prometheus, about 2-3 min"),
    "mlflow": (120, "MLflow: a large image to pull, then the server sets up its auth database before it is ready, about 2 min"),
    "traefik": (45, "Traefik: one Deployment, under 1 min"),
    "kserve-crd": (15, "CRDs only: seconds"),
    "kserve-runtimes": (15, "ClusterServingRuntimes only: seconds"),
}
# Jobs whose run is known to be longer than the default.
JOBS: dict[str, tuple[int, str]] = {
    "fit": (120, "detector fit: TensorFlow import and alibi-detect fit, about 2 min (tests/test_fit_detectors.py)"),
}
# The engine parallelism levels a plan reports the estimate at: those `--parallel` defaults to.
PARALLEL_LEVELS = (4, 8, 16)
DEFAULT_SECONDS = (3, "an object the API server stores at once")
INSTANT = (0, "no cloud call (generated locally)")


@dataclass(frozen=True)
class Step:
    urn: str
    type: str
    name: str
    seconds: int
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "seconds": self.seconds}


@dataclass(frozen=True)
class CriticalPath:
    steps: tuple[Step, ...]

    @property
    def seconds(self) -> int:
        return sum(s.seconds for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "minutes": round(self.seconds / 60, 1),
                "resources": [s.to_json() for s in self.steps]}


def duration(record: ResourceRecord) -> tuple[int, str]:
    """(seconds, source) an estimate of how long `record` takes to create."""
    kind = record.type
    if kind.startswith(("random:", "pulumi:providers:")) and kind != "pulumi:providers:kubernetes":
        return INSTANT
    if kind == "aws:rds/instance:Instance" and record.input("multiAz"):
        return DURATIONS["aws:rds/instance:Instance+multiAz"]
    if kind == "azure-native:dbforpostgresql:Server" and record.input("highAvailability", "mode") == "ZoneRedundant":
        return DURATIONS["azure-native:dbforpostgresql:Server+ha"]
    if kind == "gcp:sql/databaseInstance:DatabaseInstance" and record.input("settings", "availabilityType") == "REGIONAL":
        return DURATIONS["gcp:sql/databaseInstance:DatabaseInstance+ha"]
    if kind == "kubernetes:core/v1:Service" and record.input("spec", "type") == "LoadBalancer":
        return DURATIONS["kubernetes:core/v1:Service+LoadBalancer"]
    if kind == "command:local:Command" and str(record.input("create", default="")).startswith(AZURE_POSTGRES_RESTART):
        return DURATIONS["command:local:Command+postgres-restart"]
    if kind == "kubernetes:helm.sh/v3:Release":
        return HELM_RELEASES.get(str(record.input("name")), DURATIONS[kind])
    if kind == "kubernetes:batch/v1:Job":
        job_name = str(record.input("metadata", "name", default=""))
        return next((v for key, v in JOBS.items() if f"-{key}-" in job_name), DURATIONS[kind])
    if kind in DURATIONS:
        return DURATIONS[kind]
    if kind.startswith(("aws:", "gcp:", "azure-native:")):
        return (10, "a cloud API object created in seconds")
    return DEFAULT_SECONDS


def critical_path(run: ProgramRun) -> CriticalPath:
    """The heaviest chain of resources that wait for one another (custom resources only)."""
    records = [r for r in run.resources if r.custom]
    by_urn = {r.urn: r for r in records}
    finish: dict[str, int] = {}
    previous: dict[str, Optional[str]] = {}
    # run.resources is in dependency order (stable_order), so every wait is settled before it is read.
    for record in records:
        waits = [u for u in (*record.dependencies, record.provider_urn) if u in by_urn and u != record.urn]
        before = max(waits, key=lambda u: (finish.get(u, 0), u), default=None)
        finish[record.urn] = (finish.get(before, 0) if before else 0) + duration(record)[0]
        previous[record.urn] = before
    if not finish:
        return CriticalPath(())
    end: Optional[str] = max(finish, key=lambda u: (finish[u], u))
    chain: list[Step] = []
    while end is not None:
        record = by_urn[end]
        seconds, source = duration(record)
        chain.append(Step(record.urn, record.type, record.name, seconds, source))
        end = previous[end]
    return CriticalPath(tuple(reversed(chain)))


def schedule(run: ProgramRun, parallel: int) -> int:
    """Seconds to create every resource with at most `parallel` operations at once: resources start
    in registration order as their waits finish and a slot frees, as the engine's step executor
    does. With enough slots this is the critical path; with fewer, queueing can lengthen it."""
    if parallel < 1:
        raise ValueError("parallel must be at least 1")
    records = [r for r in run.resources if r.custom]
    by_urn = {r.urn: r for r in records}
    order = {r.urn: i for i, r in enumerate(records)}
    waits = {r.urn: {u for u in (*r.dependencies, r.provider_urn) if u in by_urn and u != r.urn} for r in records}
    done: set[str] = set()
    pending = [r.urn for r in records]
    running: list[tuple[int, int, str]] = []  # (finish, order, urn), a heap
    now = 0
    while pending or running:
        ready = [u for u in pending if waits[u] <= done]
        for urn in ready[: parallel - len(running)]:
            pending.remove(urn)
            heapq.heappush(running, (now + duration(by_urn[urn])[0], order[urn], urn))
        if not running:  # a cycle cannot come out of Pulumi; do not spin on one
            raise ValueError(f"resources wait for one another in a cycle: {pending[:3]}")
        now, _, urn = heapq.heappop(running)
        done.add(urn)
        while running and running[0][0] == now:
            done.add(heapq.heappop(running)[2])
    return now
