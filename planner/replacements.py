"""Which input changes make the engine replace a resource rather than update it in place.

`platform plan --compare` has no provider to ask, so it applies the rules the providers follow for
the resource types this platform creates. A path listed here (or below it) forces a replacement; so
does any path a resource lists in its own `replaceOnChanges` option. What is not listed is shown as
an update: `platform preview` against the real providers remains the authority.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

# Every Kubernetes object: its identity. The Kubernetes provider replaces an object whose name or
# namespace changes.
KUBERNETES_IDENTITY = ("metadata.name", "metadata.namespace")

# Kubernetes fields the API server refuses to change after creation.
# Ref: https://kubernetes.io/docs/reference/kubernetes-api/ (the "immutable" notes of each field) and
# the apiserver's own messages, e.g. "updates to statefulset spec for fields other than 'replicas',
# 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and
# 'minReadySeconds' are forbidden".
KUBERNETES_IMMUTABLE: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:apps/v1:DaemonSet": ("spec.selector",),
    "kubernetes:apps/v1:ReplicaSet": ("spec.selector",),
    "kubernetes:batch/v1:Job": ("spec.selector", "spec.template"),
    "kubernetes:core/v1:Service": ("spec.clusterIP", "spec.clusterIPs"),
    "kubernetes:storage.k8s.io/v1:StorageClass": ("provisioner", "parameters", "reclaimPolicy", "volumeBindingMode"),
}
# Of these kinds, only the listed spec fields may change; any other spec change replaces.
KUBERNETES_MUTABLE_SPEC: dict[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:StatefulSet": ("spec.replicas", "spec.ordinals", "spec.template", "spec.updateStrategy",
                                       "spec.persistentVolumeClaimRetentionPolicy", "spec.minReadySeconds"),
    # A claim can only grow (volume expansion) once bound.
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec.resources.requests", "spec.volumeAttributesClassName"),
}
# ConfigMaps and Secrets are replaced on any change of their contents: the provider treats them as
# immutable unless enableConfigMapMutable / enableSecretMutable is set, which the platform does not
# (a replaced ConfigMap rolls the pods that mount it).
# Ref: https://www.pulumi.com/registry/packages/kubernetes/api-docs/provider/ (enableConfigMapMutable)
KUBERNETES_REPLACED_ON_CONTENT: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:ConfigMap": ("data", "binaryData"),
    "kubernetes:core/v1:Secret": ("data", "stringData", "type"),
}
HELM_RELEASE_IDENTITY = ("name", "namespace")  # a renamed release is a new release

# Cloud resources: the properties their APIs cannot change in place. pulumi-aws and pulumi-gcp are
# bridged from the Terraform providers and replace on their ForceNew attributes.
# Ref: registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/eks_node_group (and
# eks_cluster, db_instance, subnet, vpc, s3_bucket): "Changing ... forces a new resource".
CLOUD_FORCE_NEW: dict[str, tuple[str, ...]] = {
    "aws:eks/cluster:Cluster": ("name", "roleArn", "kubernetesNetworkConfig"),
    "aws:eks/nodeGroup:NodeGroup": ("clusterName", "nodeGroupName", "nodeRoleArn", "subnetIds", "instanceTypes",
                                    "amiType", "capacityType", "diskSize"),
    "aws:rds/instance:Instance": ("identifier", "engine", "username", "dbName", "availabilityZone",
                                  "storageEncrypted", "kmsKeyId"),
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("vpcId", "cidrBlock", "availabilityZone"),
    "aws:s3/bucket:Bucket": ("bucket",),
    "gcp:container/cluster:Cluster": ("name", "location", "network", "subnetwork"),
    "gcp:container/nodePool:NodePool": ("name", "location", "cluster"),
    # Ref: registry.terraform.io/providers/hashicorp/google/latest/docs/resources/sql_database_instance
    # (encryption_key_name: "changing this forces a new resource").
    "gcp:sql/databaseInstance:DatabaseInstance": ("name", "region", "encryptionKeyName"),
    "gcp:compute/network:Network": ("name",),
    "gcp:compute/subnetwork:Subnetwork": ("name", "network", "region"),
    "gcp:storage/bucket:Bucket": ("name", "location"),
}
# azure-native: a resource's location, group and name are its Azure resource ID, which never changes.
# Ref: https://learn.microsoft.com/azure/azure-resource-manager/management/move-resource-group-and-subscription
AZURE_IDENTITY = ("location", "resourceGroupName", "resourceName", "serverName", "accountName", "agentPoolName",
                  "virtualNetworkName", "subnetName", "privateZoneName", "databaseName", "containerName")


def _under(path: str, prefixes: Iterable[str]) -> Optional[str]:
    """The prefix `path` equals or lies below, if any."""
    for prefix in prefixes:
        if path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "["):
            return prefix
    return None


def kubernetes_immutable(resource_type: str, path: str) -> Optional[str]:
    """The rule by which the API server refuses a change at `path` of an existing object (Helm's
    upgrade then fails), or None: the fields of KUBERNETES_IMMUTABLE and KUBERNETES_MUTABLE_SPEC."""
    found = _under(path, KUBERNETES_IMMUTABLE.get(resource_type, ()))
    if found:
        return found
    mutable = KUBERNETES_MUTABLE_SPEC.get(resource_type)
    if mutable is not None and _under(path, ("spec",)) and not _under(path, mutable):
        return path
    return None


def forcing(resource_type: str, path: str, options: Optional[Mapping[str, Any]] = None) -> Optional[str]:
    """The rule (a property path) by which a change at `path` replaces the resource, or None."""
    declared = (options or {}).get("replaceOnChanges") or []
    found = _under(path, [str(p) for p in declared])
    if found:
        return found
    if resource_type.startswith("kubernetes:"):
        if resource_type == "kubernetes:helm.sh/v3:Release":
            return _under(path, HELM_RELEASE_IDENTITY)
        return (_under(path, KUBERNETES_IDENTITY) or kubernetes_immutable(resource_type, path)
                or _under(path, KUBERNETES_REPLACED_ON_CONTENT.get(resource_type, ())))
    if resource_type.startswith("azure-native:"):
        return _under(path, AZURE_IDENTITY)
    return _under(path, CLOUD_FORCE_NEW.get(resource_type, ()))
