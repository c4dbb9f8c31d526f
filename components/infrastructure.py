"""The cloud under the platform: for each cloud, the cluster component and the data component,
picked from one table. Each implements the same contract (components/cluster/outputs.py,
components/data/outputs.py): `args_from(...)`, `outputs`, and the same registered outputs, so
MlopsPlatform and every addon are the same on every cloud. A cloud's modules (and its SDK) are
imported only for a stack on that cloud.
"""

from __future__ import annotations

import importlib
from typing import Any, Optional, Protocol

import pulumi

from .cluster.outputs import ClusterOutputs
from .config import PlatformConfig
from .data.outputs import DataOutputs

# cloud -> (cluster module:class, data module:class), relative to this package.
IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "local": ("cluster.kind:KindCluster", "data.local:LocalData"),
    "aws": ("cluster.eks:EksCluster", "data.aws:AwsData"),
    "azure": ("cluster.aks:AksCluster", "data.azure:AzureData"),
    "gcp": ("cluster.gke:GkeCluster", "data.gcp:GcpData"),
}


class ClusterComponent(Protocol):
    outputs: ClusterOutputs

    def __init__(self, name: str, args: Any, opts: Optional[pulumi.ResourceOptions] = None) -> None: ...

    @staticmethod
    def args_from(config: PlatformConfig) -> Any: ...


class DataComponent(Protocol):
    outputs: DataOutputs

    def __init__(self, name: str, args: Any, opts: Optional[pulumi.ResourceOptions] = None) -> None: ...

    @staticmethod
    def args_from(config: PlatformConfig, cluster: ClusterOutputs) -> Any: ...


def implementation(reference: str) -> Any:
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(f".{module}", __package__), name)


def build_infrastructure(name: str, config: PlatformConfig, parent: pulumi.Resource) -> tuple[ClusterOutputs, DataOutputs]:
    """The stack's cluster and its data layer, children of `parent`."""
    from . import cloud_sdks

    reason = cloud_sdks.missing(config.cloud)
    if reason:  # `pulumi up` run directly: one line from the engine, no traceback
        raise pulumi.RunError(reason)
    cluster_ref, data_ref = IMPLEMENTATIONS[config.cloud]
    opts = pulumi.ResourceOptions(parent=parent)
    cluster_type: ClusterComponent = implementation(cluster_ref)
    cluster = cluster_type(f"{name}-cluster", cluster_type.args_from(config), opts).outputs  # type: ignore[operator]
    data_type: DataComponent = implementation(data_ref)
    data = data_type(f"{name}-data", data_type.args_from(config, cluster), opts).outputs  # type: ignore[operator]
    return cluster, data
