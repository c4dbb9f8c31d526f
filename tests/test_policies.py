"""The policy pack: every rule against a compliant and a violating resource, called the way the
engine's analyzer calls a policy (`policy.validate(args, report_violation)` with
pulumi_policy's own argument objects); the shipped stacks; and stacks weakened on purpose."""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

import pytest
from pulumi_policy import (
    PolicyResource,
    ResourceValidationArgs,
    StackValidationArgs,
)
from typer.testing import CliRunner

from mlops_platform.components.data.outputs import CONNECTION_LOG_SETTINGS
from mlops_platform.policies import pack
from mlops_platform.policies.offline import evaluate
from mlops_platform.policies.registry import BY_NAME, RULES, rule_config
from support import SHIPPED_STACKS, with_own_model
from support.policy_resources import AKS_GOOD, EKS_GOOD, GKE_GOOD, PGAUDIT_PARAMETERS, PINNED, POD, POOL_GOOD, SQL_FLAGS, patched, resource

POLICIES = {p.name: p for p in pack.policies()}


def report(rule: str, subject: Any, config: dict | None = None) -> list[str]:
    """Violations a rule reports for one resource (a resource rule) or a list of them (a stack rule)."""
    found: list[str] = []
    policy = POLICIES[rule]
    settings = {**rule_config(BY_NAME[rule], {}), **(config or {})}
    if BY_NAME[rule].is_stack_rule and not isinstance(subject, list):
        subject = [subject]
    if isinstance(subject, list):
        args = StackValidationArgs(resources=subject, config=settings)
    else:
        if not BY_NAME[rule].applies_to(subject.resource_type):
            return []
        args = ResourceValidationArgs(subject.resource_type, subject.props, subject.urn, subject.name, subject.opts, None, settings)
    policy.validate(args, lambda message, urn=None: found.append(message))
    return found


# --- fixtures for pod specs -----------------------------------------------------------------------

def deployment(pod: dict) -> PolicyResource:
    return resource("kubernetes:apps/v1:Deployment", {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
        "spec": {"template": {"spec": pod}},
    })


def predictor(pod: dict) -> PolicyResource:
    """The same pod as a KServe predictor: its containers are the model container."""
    spec = {k: v for k, v in pod.items() if k != "containers"}
    return resource("kubernetes:serving.kserve.io/v1beta1:InferenceService", {
        "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService", "metadata": {"name": "m", "namespace": "models"},
        "spec": {"predictor": {**spec, "model": {**pod["containers"][0], "modelFormat": {"name": "sklearn"}}}},
    })


def mutate(change: Callable[[dict, dict], None]) -> dict:
    pod = copy.deepcopy(POD)
    change(pod, pod["containers"][0])
    return pod


POD_RULES: dict[str, Callable[[dict, dict], None]] = {
    "k8s-no-privileged-containers": lambda p, c: c["securityContext"].update(privileged=True),
    "k8s-no-host-namespaces": lambda p, c: p.update(hostNetwork=True),
    "k8s-no-host-path-volumes": lambda p, c: p.update(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
    "k8s-no-host-ports": lambda p, c: c.update(ports=[{"containerPort": 80, "hostPort": 80}]),
    "k8s-no-privilege-escalation": lambda p, c: c["securityContext"].pop("allowPrivilegeEscalation"),
    "k8s-run-as-non-root": lambda p, c: (c["securityContext"].pop("runAsNonRoot"), p["securityContext"].pop("runAsNonRoot")),
    "k8s-drop-all-capabilities": lambda p, c: c["securityContext"].update(capabilities={"drop": ["NET_RAW"]}),
    "k8s-seccomp-runtime-default": lambda p, c: c["securityContext"].pop("seccompProfile"),
    "k8s-requests-and-memory-limit": lambda p, c: c["resources"].pop("limits"),
    "k8s-pinned-image-tags": lambda p, c: c.update(image="registry.example.com/app:latest"),
    "k8s-token-automount-off": lambda p, c: p.update(automountServiceAccountToken=True),
    "licence-source-available-components": lambda p, c: c.update(image=f"seldonio/alibi-detect-server:1.18.0{PINNED}"),
}


@pytest.mark.parametrize("rule", sorted(POD_RULES))
@pytest.mark.parametrize("make", [deployment, predictor], ids=["Deployment", "InferenceService-predictor"])
def test_pod_rules_in_workloads_and_custom_resources(rule, make):
    assert report(rule, make(copy.deepcopy(POD))) == []
    violations = report(rule, make(mutate(POD_RULES[rule])))
    assert len(violations) >= 1, rule


def _service(service_type: str, namespace: str, app: str) -> PolicyResource:
    return resource("kubernetes:core/v1:Service", {"metadata": {"name": "s", "namespace": namespace, "labels": {"app.kubernetes.io/name": app}},
                                                   "spec": {"type": service_type}})


def _namespace(enforce: str | None) -> PolicyResource:
    labels = {"pod-security.kubernetes.io/enforce": enforce} if enforce else {}
    return resource("kubernetes:core/v1:Namespace", {"metadata": {"name": "team", "labels": labels}}, name="team")


def _netpol(name: str, spec: dict) -> PolicyResource:
    return resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", {"metadata": {"name": name, "namespace": "team"}, "spec": spec}, name=name)


DENY = _netpol("deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})
DNS = _netpol("dns", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]})


def _bucket_with(companion_type: str, props: dict) -> list[PolicyResource]:
    bucket = resource("aws:s3/bucket:Bucket", {"bucketPrefix": "b-"}, name="bucket")
    return [bucket, resource(companion_type, {"bucket": "b-1", **props}, name="companion", bucket=[bucket])]


def _nodegroup(instance: str, max_size: int) -> PolicyResource:
    return resource("aws:eks/nodeGroup:NodeGroup", {"instanceTypes": [instance], "scalingConfig": {"desiredSize": 1, "maxSize": max_size}})


def _account(name: str, automount: bool | None) -> PolicyResource:
    props: dict = {"metadata": {"name": name, "namespace": "n"}}
    if automount is not None:
        props["automountServiceAccountToken"] = automount
    return resource("kubernetes:core/v1:ServiceAccount", props, name=f"sa-{name}")


def _binding(account: str) -> PolicyResource:
    return resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", {
        "metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "n"}],
    }, name="binding")


def _pod_using(account: str) -> PolicyResource:
    pod = {k: v for k, v in copy.deepcopy(POD).items() if k != "automountServiceAccountToken"}
    return deployment({**pod, "serviceAccountName": account})


def _limit_range() -> PolicyResource:
    return resource("kubernetes:core/v1:LimitRange", {
        "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": "n"},
        "spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": "10m", "memory": "32Mi"}, "default": {"memory": "128Mi"}}]},
    }, name="limits")


def _pod_with(resources: dict) -> PolicyResource:
    return deployment(mutate(lambda p, c: c.update(resources=resources)))


def _role(rules: list) -> PolicyResource:
    return resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", {"metadata": {"name": "r"}, "rules": rules})


# --- fixtures for the edge ------------------------------------------------------------------------

def _lb(ranges: list | None = None, annotations: dict | None = None) -> PolicyResource:
    spec: dict = {"type": "LoadBalancer"}
    if ranges is not None:
        spec["loadBalancerSourceRanges"] = ranges
    return resource("kubernetes:core/v1:Service", {"metadata": {"name": "traefik", "namespace": "traefik",
                                                                "annotations": annotations or {}}, "spec": spec})


def _guard(forward_auth: bool = True) -> PolicyResource:
    spec = {"forwardAuth": {"address": "http://oauth2-proxy.identity/oauth2/auth"}} if forward_auth else {"headers": {}}
    return resource("kubernetes:traefik.io/v1alpha1:Middleware", {"metadata": {"name": "sso", "namespace": "n"}, "spec": spec},
                    name="sso")


def _route(middlewares: list | None = None, annotations: dict | None = None, entry_points: list | None = None) -> PolicyResource:
    rule: dict = {"match": "Host(`a.example.com`)", "kind": "Rule", "services": [{"name": "a", "port": 80}]}
    if middlewares is not None:
        rule["middlewares"] = [{"name": m} for m in middlewares]
    return resource("kubernetes:traefik.io/v1alpha1:IngressRoute", {
        "metadata": {"name": "a", "namespace": "n", "annotations": annotations or {}},
        "spec": {"entryPoints": entry_points or ["websecure"], "routes": [rule]},
    }, name="route")


def _ui_reading(resources: list, account: tuple[str, str] = ("monitoring", "kube-prometheus-stack-grafana")) -> list[PolicyResource]:
    role = _role([{"apiGroups": [""], "resources": resources, "verbs": ["get", "watch", "list"]}])
    binding = resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", {
        "metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": account[1], "namespace": account[0]}]}, name="binding")
    return [role, binding]


_LOGGING_GROUP = resource("aws:rds/parameterGroup:ParameterGroup", {"parameters": [{"name": n, "value": "1"} for n in CONNECTION_LOG_SETTINGS] + PGAUDIT_PARAMETERS})

# (rule, compliant subject, violating subject, config)
CASES: list[tuple[str, Any, Any, dict]] = [
    ("k8s-no-wildcard-rbac",
     resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
     resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}), {}),
    ("k8s-load-balancer-only-for-ingress", _service("LoadBalancer", "traefik", "traefik"), _service("LoadBalancer", "mlflow", "mlflow"), {}),
    ("k8s-namespace-default-deny", [_namespace("restricted"), DENY, DNS], [_namespace("restricted"), DNS], {}),
    ("k8s-namespace-pod-security-labels", _namespace("restricted"), _namespace(None), {}),
    ("k8s-token-automount-off", resource("kubernetes:core/v1:ServiceAccount", {"automountServiceAccountToken": False}),
     resource("kubernetes:core/v1:ServiceAccount", {}), {}),
    # A token is fine for an account an RBAC binding grants API access, wherever the pod inherits it.
    ("k8s-token-automount-off",
     [_account("ctl", automount=None), _binding("ctl"), _pod_using("ctl")],
     [_account("ctl", automount=None), _pod_using("ctl")], {}),
    ("k8s-token-automount-off",
     [_account("app", automount=False), _pod_using("app")],
     [_account("app", automount=True), _pod_using("app")], {}),
    # A container without resources is admitted with its namespace's LimitRange defaults ...
    ("k8s-requests-and-memory-limit", [_limit_range(), _pod_with({})], [_pod_with({})], {}),
    # ... but a default limit below its own request gets the pod refused.
    ("k8s-requests-and-memory-limit",
     [_limit_range(), _pod_with({"requests": {"cpu": "10m", "memory": "64Mi"}})],
     [_limit_range(), _pod_with({"requests": {"cpu": "10m", "memory": "256Mi"}})], {}),
    ("k8s-no-wildcard-rbac",
     _role([{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["*"]}]),
     _role([{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["*"]}]), {}),
    ("aws-eks-endpoint-restricted", resource("aws:eks/cluster:Cluster", EKS_GOOD),
     resource("aws:eks/cluster:Cluster", patched(EKS_GOOD, ("vpcConfig", "publicAccessCidrs"), ["0.0.0.0/0"])), {}),
    ("aws-eks-secrets-encryption", resource("aws:eks/cluster:Cluster", EKS_GOOD),
     resource("aws:eks/cluster:Cluster", {k: v for k, v in EKS_GOOD.items() if k != "encryptionConfig"}), {}),
    ("aws-kms-key-rotation", resource("aws:kms/key:Key", {"enableKeyRotation": True}), resource("aws:kms/key:Key", {}), {}),
    ("aws-eks-control-plane-logging", resource("aws:eks/cluster:Cluster", EKS_GOOD),
     resource("aws:eks/cluster:Cluster", patched(EKS_GOOD, ("enabledClusterLogTypes",), ["api"])), {}),
    ("aws-imdsv2-hop-limit",
     resource("aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1}}),
     resource("aws:ec2/launchTemplate:LaunchTemplate", {"metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 2}}), {}),
    ("aws-s3-public-access-block",
     _bucket_with("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                  {"blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True}),
     _bucket_with("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                  {"blockPublicAcls": True, "blockPublicPolicy": False, "ignorePublicAcls": True, "restrictPublicBuckets": True}), {}),
    ("aws-s3-encryption",
     _bucket_with("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
                  {"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]}),
     [resource("aws:s3/bucket:Bucket", {}, name="bucket")], {}),
    ("aws-s3-versioning",
     _bucket_with("aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": {"status": "Enabled"}}),
     _bucket_with("aws:s3/bucketVersioning:BucketVersioning", {"versioningConfiguration": {"status": "Suspended"}}), {}),
    ("aws-rds-private-encrypted-backed-up",
     resource("aws:rds/instance:Instance", {"publiclyAccessible": False, "storageEncrypted": True, "backupRetentionPeriod": 7}),
     resource("aws:rds/instance:Instance", {"publiclyAccessible": True, "storageEncrypted": True, "backupRetentionPeriod": 1}), {}),
    ("azure-aks-api-restricted", resource("azure-native:containerservice:ManagedCluster", AKS_GOOD),
     resource("azure-native:containerservice:ManagedCluster", patched(AKS_GOOD, ("apiServerAccessProfile", "authorizedIPRanges"), [])), {}),
    ("azure-aks-network-policy", resource("azure-native:containerservice:ManagedCluster", AKS_GOOD),
     resource("azure-native:containerservice:ManagedCluster", patched(AKS_GOOD, ("networkProfile",), {})), {}),
    ("azure-aks-local-accounts-disabled", resource("azure-native:containerservice:ManagedCluster", AKS_GOOD),
     resource("azure-native:containerservice:ManagedCluster", patched(AKS_GOOD, ("disableLocalAccounts",), False)), {}),
    ("azure-storage-secure-transport-private",
     resource("azure-native:storage:StorageAccount", {"allowBlobPublicAccess": False, "minimumTlsVersion": "TLS1_2", "enableHttpsTrafficOnly": True}),
     resource("azure-native:storage:StorageAccount", {"allowBlobPublicAccess": True, "minimumTlsVersion": "TLS1_0"}), {}),
    ("azure-postgres-not-public", resource("azure-native:dbforpostgresql:Server", {"network": {"publicNetworkAccess": "Disabled"}}),
     resource("azure-native:dbforpostgresql:Server", {"network": {"publicNetworkAccess": "Enabled"}}), {}),
    ("gcp-gke-private-nodes", resource("gcp:container/cluster:Cluster", GKE_GOOD),
     resource("gcp:container/cluster:Cluster", patched(GKE_GOOD, ("privateClusterConfig", "enablePrivateNodes"), False)), {}),
    ("gcp-gke-authorized-networks", resource("gcp:container/cluster:Cluster", GKE_GOOD),
     resource("gcp:container/cluster:Cluster", patched(GKE_GOOD, ("masterAuthorizedNetworksConfig", "cidrBlocks"), [{"cidrBlock": "0.0.0.0/0"}])), {}),
    ("gcp-gke-network-policy", resource("gcp:container/cluster:Cluster", GKE_GOOD),
     resource("gcp:container/cluster:Cluster", patched(GKE_GOOD, ("datapathProvider",), "LEGACY_DATAPATH")), {}),
    ("gcp-gke-shielded-nodes", resource("gcp:container/nodePool:NodePool", POOL_GOOD),
     resource("gcp:container/nodePool:NodePool", patched(POOL_GOOD, ("nodeConfig", "shieldedInstanceConfig"), {})), {}),
    ("gcp-gke-workload-identity", resource("gcp:container/nodePool:NodePool", POOL_GOOD),
     resource("gcp:container/nodePool:NodePool", patched(POOL_GOOD, ("nodeConfig", "workloadMetadataConfig", "mode"), "GCE_METADATA")), {}),
    ("gcp-gcs-private-uniform",
     resource("gcp:storage/bucket:Bucket", {"uniformBucketLevelAccess": True, "publicAccessPrevention": "enforced"}),
     resource("gcp:storage/bucket:Bucket", {"uniformBucketLevelAccess": False, "publicAccessPrevention": "inherited"}), {}),
    ("gcp-cloudsql-private-backed-up",
     resource("gcp:sql/databaseInstance:DatabaseInstance", {"settings": {"ipConfiguration": {"ipv4Enabled": False}, "backupConfiguration": {"enabled": True}}}),
     resource("gcp:sql/databaseInstance:DatabaseInstance", {"settings": {"ipConfiguration": {"ipv4Enabled": True}, "backupConfiguration": {"enabled": False}}}), {}),
    ("reliability-prod-data-protected", resource("aws:rds/instance:Instance", {}, protect=True), resource("aws:rds/instance:Instance", {}),
     {"requireProtection": True}),
    ("reliability-prod-database-recoverable", resource("aws:rds/instance:Instance", {"backupRetentionPeriod": 7}),
     resource("aws:rds/instance:Instance", {"backupRetentionPeriod": 3}), {"requireRecovery": True}),
    ("reliability-prod-database-recoverable",
     resource("azure-native:dbforpostgresql:Server", {"backup": {"backupRetentionDays": 14, "geoRedundantBackup": "Enabled"}}),
     resource("azure-native:dbforpostgresql:Server", {"backup": {"backupRetentionDays": 14, "geoRedundantBackup": "Disabled"}}),
     {"requireRecovery": True}),
    ("reliability-prod-database-recoverable",
     resource("gcp:sql/databaseInstance:DatabaseInstance", {"settings": {"backupConfiguration": {
         "enabled": True, "pointInTimeRecoveryEnabled": True, "backupRetentionSettings": {"retainedBackups": 7}}}}),
     resource("gcp:sql/databaseInstance:DatabaseInstance", {"settings": {"backupConfiguration": {
         "enabled": True, "pointInTimeRecoveryEnabled": False, "backupRetentionSettings": {"retainedBackups": 7}}}}),
     {"requireRecovery": True}),
    ("k8s-webhooks-fail-closed",
     resource("kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration", {"webhooks": [{"name": "a"}]}),
     resource("kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration",
              {"webhooks": [{"name": "a", "failurePolicy": "Ignore"}]}), {}),
    ("k8s-ca-lifetime", resource("kubernetes:cert-manager.io/v1:Certificate", {"spec": {"isCA": True, "duration": "43800h"}}),
     resource("kubernetes:cert-manager.io/v1:Certificate", {"spec": {"isCA": True, "duration": "87600h"}}), {}),
    ("reliability-helm-chart-pinned", resource("kubernetes:helm.sh/v3:Release", {"chart": "traefik", "version": "41.3.0"}),
     resource("kubernetes:helm.sh/v3:Release", {"chart": "traefik", "version": "^41.0.0"}), {}),
    ("cost-node-count-within-limit", [_nodegroup("m6i.large", 6)], [_nodegroup("m6i.large", 6), _nodegroup("m6i.large", 8)], {"maxNodes": 10}),
    ("cost-instance-type-allowed", [_nodegroup("m6i.large", 2)], [_nodegroup("m6i.8xlarge", 2)], {"allowedInstanceTypes": ["m6i.large"]}),
    ("cost-gpu-only-when-enabled", [_nodegroup("m6i.large", 2)], [_nodegroup("g5.xlarge", 2)], {"gpuEnabled": False}),
    ("licence-source-available-components",
     resource("kubernetes:helm.sh/v3:Release", {"chart": "kserve-resources", "version": "v0.20.0"}),
     resource("kubernetes:helm.sh/v3:Release", {"chart": "seldon-core-v2-setup", "version": "2.10.2"}), {}),
    ("access-load-balancer-closed", _lb(["203.0.113.0/24"]), _lb(), {}),
    ("access-load-balancer-closed", _lb(["203.0.113.0/24", "198.51.100.0/24"]), _lb(["0.0.0.0/1", "128.0.0.0/1"]), {}),
    # EKS's in-tree service controller makes the NLB: it honours aws-load-balancer-internal; the
    # scheme annotation is the AWS Load Balancer Controller's, which the platform does not install.
    ("access-load-balancer-closed", _lb(["0.0.0.0/0"], {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}),
     _lb(["0.0.0.0/0"], {"service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}), {}),
    ("access-load-balancer-closed", _lb([], {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}),
     _lb(["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/3"]), {}),
    ("access-load-balancer-closed", _lb([], {"networking.gke.io/load-balancer-type": "Internal"}), _lb(["::/0"]), {}),
    ("access-routes-authenticated", [_guard(), _route(["sso"])], [_guard(), _route([])], {}),
    ("access-routes-authenticated", [_guard(), _route(annotations={"mlops.dev/sign-in": "grafana"})],
     [_guard(forward_auth=False), _route(["sso"])], {}),
    ("access-routes-authenticated", [_route(entry_points=["mirror"])], [_route(entry_points=["web", "mirror"])], {}),
    ("access-routes-authenticated", [_route(annotations={"mlops.dev/public": "true"})],
     [resource("kubernetes:networking.k8s.io/v1:Ingress", {"metadata": {"name": "i", "namespace": "n"}})], {}),
    ("access-nothing-public", _route(["sso"]), _route(annotations={"mlops.dev/public": "true"}), {}),
    ("access-ui-no-cluster-secrets", _ui_reading(["configmaps"]), _ui_reading(["secrets"]), {}),
    ("access-ui-no-cluster-secrets", _ui_reading(["secrets"], ("cert-manager", "cert-manager")),
     _ui_reading(["*"], ("traefik", "traefik")), {}),
    ("aws-eks-endpoint-restricted", resource("aws:eks/cluster:Cluster", EKS_GOOD),
     resource("aws:eks/cluster:Cluster", patched(EKS_GOOD, ("vpcConfig", "publicAccessCidrs"), ["0.0.0.0/1", "128.0.0.0/1"])), {}),
    ("gcp-gke-authorized-networks", resource("gcp:container/cluster:Cluster", GKE_GOOD),
     resource("gcp:container/cluster:Cluster", patched(GKE_GOOD, ("masterAuthorizedNetworksConfig", "cidrBlocks"),
                                                        [{"cidrBlock": "0.0.0.0/1"}, {"cidrBlock": "128.0.0.0/1"}])), {}),
    ("aws-rds-audit-logs", [_LOGGING_GROUP, resource("aws:rds/instance:Instance", {"enabledCloudwatchLogsExports": ["postgresql"]},
                                                     parameterGroupName=[_LOGGING_GROUP])], [resource("aws:rds/instance:Instance", {})], {}),
    ("gcp-cloudsql-connection-logging", resource("gcp:sql/databaseInstance:DatabaseInstance", {"settings": {"databaseFlags": SQL_FLAGS}}),

     resource("gcp:sql/databaseInstance:DatabaseInstance", {"settings": {}}), {}),
    ("azure-postgres-connection-logging", [], [resource("azure-native:dbforpostgresql:Server", {})], {}),
    ("aws-vpc-flow-logs", [], [resource("aws:ec2/vpc:Vpc", {})], {}),
    ("access-security-headers", [], [resource("kubernetes:helm.sh/v3:Release", {"chart": "traefik", "version": "41.3.0"})], {}),
    ("access-grafana-cookie-secure", resource("kubernetes:helm.sh/v3:Release", {"chart": "kube-prometheus-stack", "values": {
        "grafana": {"grafana.ini": {"security": {"cookie_secure": True}}}}}),
     resource("kubernetes:helm.sh/v3:Release", {"chart": "kube-prometheus-stack", "values": {}}), {}),
    ("gcp-subnet-flow-logs", resource("gcp:compute/subnetwork:Subnetwork", {"logConfig": {"metadata": "INCLUDE_ALL_METADATA"}}),
     resource("gcp:compute/subnetwork:Subnetwork", {}), {}),
    ("azure-storage-network-restricted", resource("azure-native:storage:StorageAccount", {"networkRuleSet": {"defaultAction": "Deny"}}),
     resource("azure-native:storage:StorageAccount", {}), {}),
    ("azure-prod-data-locked", [], [resource("azure-native:storage:StorageAccount", {})], {"requireLocks": True}),
    ("supply-chain-images-pinned", deployment(POD), deployment(mutate(lambda p, c: c.update(image="registry.example.com/app:1.2.3"))),
     {}),
    ("supply-chain-images-from-mirror",
     deployment(mutate(lambda p, c: c.update(image=f"mirror.example/m/registry.example.com/app:1.2.3{PINNED}"))),
     deployment(POD), {"mirror": "mirror.example/m"}),
]


@pytest.mark.parametrize("rule, good, bad, config", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_compliant_and_violating(rule, good, bad, config):
    assert report(rule, good, config) == []
    assert report(rule, bad, config), f"{rule} missed the violation"


def test_no_deleted_with_rule_sees_what_the_program_declares():
    """deletedWith is not in pulumi_policy's options; the offline plan passes it from the program."""
    from mlops_platform.policies.offline import _record_options

    class Record:
        protect, ignore_changes, delete_before_replace, parent = False, [], False, ""
        deleted_with = "urn:pulumi:t::p::command:local:Command::cluster"

    rule = BY_NAME["reliability-no-deleted-with-on-load-balancers-and-volumes"]
    lb = {"kind": "Service", "spec": {"type": "LoadBalancer"}}
    args = ResourceValidationArgs("kubernetes:core/v1:Service", lb, "urn:x", "lb", _record_options(Record()), None, {})
    assert rule.violations(args, {})
    Record.deleted_with = ""
    args = ResourceValidationArgs("kubernetes:core/v1:Service", lb, "urn:x", "lb", _record_options(Record()), None, {})
    assert rule.violations(args, {}) == []


def test_every_rule_is_tested_and_well_formed():
    # k8s-pod-security-admission: tests/test_pod_security.py, one case per requirement.
    from test_policy_fixtures import FIXTURES  # a rule's own fixture there tests it too

    tested = set(POD_RULES) | {c[0] for c in CASES} | {f[0] for f in FIXTURES} | {
        "reliability-no-deleted-with-on-load-balancers-and-volumes", "k8s-pod-security-admission"}
    names = [r.name for r in RULES]
    assert len(names) == len(set(names)) >= 25
    assert set(names) == tested, set(names) ^ tested
    for rule in RULES:
        assert rule.name == rule.name.lower() and " " not in rule.name and rule.description and rule.remediation
        assert rule.area in {"kubernetes", "access", "aws", "azure", "gcp", "reliability", "cost", "licence", "supply-chain"}
    assert {p.name for p in pack.policies()} == set(names)
    assert all(p.remediation_steps for p in pack.policies())


# --- enforcement per stack ----------------------------------------------------------------------


MIRROR_ONLY = {"supply-chain-images-from-mirror"}  # off in a stack without an image mirror (the shipped ones)
PROD_ONLY = {"supply-chain-prod-models-own-store"}  # off outside prod


def _expected_rules(stack: str) -> set[str]:
    return {r.name for r in RULES} - MIRROR_ONLY - (set() if stack.endswith("-prod") else PROD_ONLY)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_have_no_violations(stack, planned, stack_config):
    rules, violations = evaluate(planned(stack), stack_config(stack))
    assert set(rules) == _expected_rules(stack)
    assert [v.to_json() for v in violations] == []


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_what_the_charts_render_has_no_violations_either(stack, planned, stack_config, viewed):
    """The pack over the whole cluster: every release's objects and the pods operators create."""
    view = viewed(stack)
    rules, violations = evaluate(planned(stack), stack_config(stack), view)
    assert set(rules) == _expected_rules(stack)
    assert [v.to_json() for v in violations] == []
    checked = {o.urn for r in view.releases for o in r.objects} | {o.urn for o in view.runtime}
    assert len(checked) == view.rendered_count() + len(view.runtime) > 200


# --- stacks weakened on purpose fail `platform plan` naming the rule ------------------------------




def _plan(*args: str):
    from mlops_platform.cli.app import app

    return CliRunner().invoke(app, ["plan", *args, "--json"])


def _violations(result) -> list[dict]:
    return json.loads(result.stdout)["policies"]["violations"] if result.stdout else []


def test_prod_endpoint_open_to_the_world_fails_plan(project):
    stack = project / "stacks" / "Pulumi.aws-prod.yaml"
    # The API's ranges (the first list in the file), split so that no single range is the internet.
    stack.write_text(stack.read_text().replace("- 203.0.113.0/24", "- 0.0.0.0/1\n      - 128.0.0.0/1", 1))
    result = _plan("--cloud", "aws", "--env", "prod")
    assert result.exit_code == 1
    assert "mandatory policy violations: aws-eks-endpoint-restricted" in result.stderr
    assert [v["rule"] for v in _violations(result)] == ["aws-eks-endpoint-restricted"]


def test_prod_load_balancer_open_to_the_world_fails_plan(project):
    stack = project / "stacks" / "Pulumi.gcp-prod.yaml"
    text = stack.read_text()
    ingress = text.index("platform:ingress:")
    stack.write_text(text[:ingress] + text[ingress:].replace("- 203.0.113.0/24", "- 0.0.0.0/0", 1))
    result = _plan("--cloud", "gcp", "--env", "prod")
    assert result.exit_code == 1, result.stderr
    assert "mandatory policy violations: access-load-balancer-closed" in result.stderr
    assert [v["rule"] for v in _violations(result)] == ["access-load-balancer-closed"]


def test_public_model_fails_prod_plan_and_is_listed_in_dev(project):
    with_own_model(project / "stacks" / "Pulumi.azure-prod.yaml", public=True)
    dev = project / "stacks" / "Pulumi.azure-dev.yaml"
    dev.write_text(dev.read_text().replace("referenceData: sklearn:iris", "referenceData: sklearn:iris\n      public: true"))
    prod = _plan("--cloud", "azure", "--env", "prod")
    assert prod.exit_code == 1 and "mandatory policy violations: access-nothing-public" in prod.stderr
    assert [v["rule"] for v in _violations(prod)] == ["access-nothing-public"]
    dev = _plan("--cloud", "azure", "--env", "dev")
    assert dev.exit_code == 0 and [v["rule"] for v in _violations(dev)] == ["access-nothing-public"]


def test_latest_image_tag_fails_plan(project, monkeypatch):
    from mlops_platform.components import versions
    from mlops_platform.components.addons import detectors

    latest = versions.Image("seldonio/alibi-detect-server", "latest")
    monkeypatch.setattr(detectors.versions, "ALIBI_DETECT_SERVER", latest)
    with_own_model(project / "stacks" / "Pulumi.aws-prod.yaml")  # its detectors run the image
    result = _plan("--cloud", "aws", "--env", "prod", "--out", str(project / "plan.json"))
    assert result.exit_code == 1 and "k8s-pinned-image-tags" in result.stderr
    rules = {v["rule"] for v in json.loads((project / "plan.json").read_text())["policies"]["violations"]}
    assert "k8s-pinned-image-tags" in rules
    dev = _plan("--cloud", "local")
    assert dev.exit_code == 0, "advisory in dev: listed, not blocking"
    assert "k8s-pinned-image-tags" in {v["rule"] for v in _violations(dev)}


def test_privileged_predictor_fails_plan(project, monkeypatch):
    from mlops_platform.components.addons import models

    original = models.predictor_spec

    def privileged(*args, **kwargs):
        spec = original(*args, **kwargs)
        spec["model"]["securityContext"]["privileged"] = True
        return spec

    monkeypatch.setattr(models, "predictor_spec", privileged)
    with_own_model(project / "stacks" / "Pulumi.gcp-prod.yaml")
    result = _plan("--cloud", "gcp", "--env", "prod")
    assert result.exit_code == 1
    assert "k8s-no-privileged-containers" in result.stderr
    hits = [v for v in _violations(result) if v["rule"] == "k8s-no-privileged-containers"]
    assert hits and hits[0]["urn"].endswith("::mlops-models-iris") and hits[0]["enforcementLevel"] == "mandatory"


def test_plan_json_lists_the_rules_evaluated(project):
    result = _plan("--cloud", "local")
    assert result.exit_code == 0, result.stderr
    policies = json.loads(result.stdout)["policies"]
    assert policies["enforcement"] == "advisory" and policies["violations"] == []
    assert set(policies["rules"]) == _expected_rules("local-dev")
