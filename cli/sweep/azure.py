"""The Azure sweep: what an AKS stack can leave in its subscription after `destroy`.

Two places to look. Resources tagged with the stack (`mlops-platform-stack`: the program tags
everything it creates, and AKS passes the cluster's tags on). And the cluster's node resource
group, `MC_<group>_<cluster>_<location>`, where AKS and its cloud provider create what Kubernetes
asks for: managed disks for claims (tagged `kubernetes.io-created-for-pvc-name`), public IPs and the
load balancer for LoadBalancer Services (`k8s-azure-service`). Azure deletes that group with the
cluster; if the group outlives it, everything in it is a leftover.
Ref: https://learn.microsoft.com/azure/aks/concepts-clusters-workloads#node-resource-group
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Optional

from mlops_platform.components import names
from mlops_platform.components.prices import monthly_flat, monthly_hourly, price

from . import Leftover, Sweeper, SweepError, first_line

STACK_TAG = names.tag_key("azure", "stack")
KUBERNETES_TAGS = ("k8s-azure-created-by", "k8s-azure-service", "kubernetes.io-created-for-pvc-name", "k8s-azure-cluster-name")
# ARM API versions for reading a disk's size and deleting what the sweep may delete.
API_VERSIONS = {
    "microsoft.compute/disks": "2023-10-02",
    "microsoft.network/publicipaddresses": "2023-09-01",
    "microsoft.network/loadbalancers": "2023-09-01",
    "microsoft.network/networksecuritygroups": "2023-09-01",
}
KINDS = {
    "microsoft.compute/disks": "managed disk",
    "microsoft.network/publicipaddresses": "public IP",
    "microsoft.network/loadbalancers": "load balancer",
    "microsoft.network/networksecuritygroups": "network security group",
}
TYPES = {kind: type_key for type_key, kind in KINDS.items()}


def node_resource_group(env: str, location: str) -> str:
    """AKS's default name for the node resource group (components/cluster/aks.py sets no other):
    MC_<the stack's resource group>_<cluster>_<location>."""
    return f"MC_{names.azure_resource_group(env)}_{names.cluster_name(env)}_{location}"


class AzureSweep(Sweeper):
    # A load balancer before the public IPs its frontends hold; disks once detached.
    DELETE_ORDER = ("load balancer", "public IP", "network security group", "managed disk")

    def __init__(self, config: Any, clients: Any = None):
        """`clients`: a ResourceManagementClient (tests); None: DefaultAzureCredential."""
        self.stack, self.env, self.location = config.stack_name, config.env, config.region
        self.subscription = subscription_of(config)
        if clients is None:
            from azure.identity import DefaultAzureCredential
            from azure.mgmt.resource import ResourceManagementClient

            clients = ResourceManagementClient(DefaultAzureCredential(), self.subscription)
        self.client = clients

    def scope(self) -> str:
        return f"subscription {self.subscription}"

    def _leftover(self, resource: Any, tie: str, in_node_group: bool) -> Leftover:
        kind_key = str(resource.type).lower()
        tags = dict(resource.tags or {})
        ours = in_node_group and (tags.get(STACK_TAG) == self.stack or any(t in tags for t in KUBERNETES_TAGS))
        monthly: Optional[float] = None
        detail = tie
        if kind_key == "microsoft.network/publicipaddresses":
            monthly = monthly_hourly("azure", "public_ip_standard_static_hour")
        elif kind_key == "microsoft.network/loadbalancers":
            monthly = monthly_hourly("azure", "lb_standard_first5_rules_hour")
        elif kind_key in ("microsoft.network/networksecuritygroups",):
            monthly = 0.0
        elif kind_key == "microsoft.compute/disks":
            full = self.client.resources.get_by_id(resource.id, API_VERSIONS[kind_key])
            size = float((full.properties or {}).get("diskSizeGB") or 0)
            sku = str((full.sku.name if full.sku else "") or "")
            detail = f"{size:g} GiB {sku}; {tie}"
            # Standard SSD pro-rated from E10 (128 GiB); Premium at P10 up to its 128 GiB.
            if sku.startswith("StandardSSD"):
                monthly = monthly_flat("azure", "disk_standard_ssd_e10_month", size, factor=1 / 128)
            elif sku.startswith("Premium") and size <= 128:
                monthly = price("azure", "disk_premium_ssd_p10_month")
        name = tags.get("kubernetes.io-created-for-pvc-name") or tags.get("k8s-azure-service") or resource.name
        return Leftover(KINDS.get(kind_key, str(resource.type)), str(resource.id), str(name), str(resource.location or self.location),
                        detail, monthly, deletable=ours and kind_key in API_VERSIONS)

    def scan(self) -> list[Leftover]:
        found: dict[str, Leftover] = {}
        tagged = self.client.resources.list(filter=f"tagName eq '{STACK_TAG}' and tagValue eq '{self.stack}'")
        group = node_resource_group(self.env, self.location)
        for resource in tagged:
            in_group = f"/resourcegroups/{group.lower()}/" in str(resource.id).lower()
            found[str(resource.id).lower()] = self._leftover(resource, f"{STACK_TAG}={self.stack}", in_group)
        if self.client.resource_groups.check_existence(group):
            for resource in self.client.resources.list_by_resource_group(group):
                key = str(resource.id).lower()
                if key not in found:
                    found[key] = self._leftover(resource, f"in the node resource group {group}", True)
        return list(found.values())

    def delete_one(self, item: Leftover) -> None:
        self.client.resources.begin_delete_by_id(item.id, API_VERSIONS[TYPES[item.kind]]).result()

    @staticmethod
    @contextmanager
    def cloud_errors() -> Iterator[None]:
        from azure.core.exceptions import AzureError, ClientAuthenticationError

        try:
            yield
        except ClientAuthenticationError as err:
            raise SweepError(f"no Azure credentials: log in with az login ({first_line(err, 160)})") from None
        except AzureError as err:
            raise SweepError(f"Azure refused the sweep's query ({first_line(err)})") from None


def subscription_of(config: Any) -> str:
    """The stack's subscription: its stack file, else $AZURE_SUBSCRIPTION_ID, else the Azure CLI's."""
    import os
    import shutil
    import subprocess

    given = (config.azure.subscription_id if config.azure else None) or os.environ.get("AZURE_SUBSCRIPTION_ID")
    if given:
        return str(given)
    az = shutil.which("az")
    if az:
        result = subprocess.run([az, "account", "show", "--query", "id", "-o", "tsv"], capture_output=True, text=True, timeout=60)
        if result.returncode == 0 and result.stdout.strip():
            return result.stdout.strip()
    raise SweepError("no Azure subscription: set platform:azure.subscriptionId, or AZURE_SUBSCRIPTION_ID, or log in with az login")


SWEEPER = AzureSweep
