"""Each check of each policy rule has a fixture that breaks that check and nothing else.

Every fixture is run through every rule of the pack, the way the engine runs them; it must make its
own rule report exactly one violation (the expected one) and every other rule none. So removing,
inverting or loosening any single check leaves its fixture unreported and fails here, where a
fixture breaking several checks at once would still be caught by the others. A meta test counts
the `yield`s of each rule's check function and asks for at least as many distinct fixtures.
Pod Security admission, a rule of many checks, has its own exact cases in test_pod_security.py.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any, Callable

import pytest
from pulumi_policy import ResourceValidationArgs, StackValidationArgs

from mlops_platform.policies import pack
from mlops_platform.policies.registry import RULES, rule_config
from support.policy_resources import (
    AKS_GOOD,
    AZURE_PGAUDIT,
    BUCKET_GOOD,
    EKS_GOOD,
    GCS_GOOD,
    GKE_GOOD,
    LOGGING,
    LT_GOOD,
    OPEN_HTTPS,
    OPEN_TO_METADATA,
    PAB,
    PINNED,
    POD,
    POOL_GOOD,
    RDS_GOOD,
    SQL_FLAGS,
    SQL_GOOD,
    SSE,
    STORAGE_GOOD,
    VERSIONING,
    blob_store,
    bucket_and,
    diagnosed,
    patched,
    pg_server,
    rds,
    resource,
)

POLICIES = {p.name: p for p in pack.policies()}


def found_by(found: list[str]) -> Callable[..., None]:
    return lambda message, urn=None: found.append(message)


def every_violation(subjects: list, config: dict[str, dict]) -> dict[str, list[str]]:
    """rule -> messages, for every rule of the pack over `subjects` (a stack of resources)."""
    out: dict[str, list[str]] = {}
    for rule in RULES:
        settings = {**rule_config(rule, {}), **config.get(rule.name, {})}
        found: list[str] = []
        report = found_by(found)
        if rule.is_stack_rule:
            POLICIES[rule.name].validate(StackValidationArgs(resources=subjects, config=settings), report)
        else:
            for s in subjects:
                if rule.applies_to(s.resource_type):
                    POLICIES[rule.name].validate(
                        ResourceValidationArgs(s.resource_type, s.props, s.urn, s.name, s.opts, None, settings), report)
        if found:
            out[rule.name] = found
    return out


# --- compliant bases ------------------------------------------------------------------------------


def deployment(edit: Callable[[dict, dict], Any] = lambda p, c: None, namespace: str = "n") -> Any:
    pod = copy.deepcopy(POD)
    pod["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    edit(pod, pod["containers"][0])
    return resource("kubernetes:apps/v1:Deployment", {"apiVersion": "apps/v1", "kind": "Deployment",
                                                      "metadata": {"name": "d", "namespace": namespace},
                                                      "spec": {"template": {"spec": pod}}})


def role(rules: list) -> Any:
    return resource("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", {"metadata": {"name": "r"}, "rules": rules})


def account(automount: Any) -> Any:
    props: dict = {"metadata": {"name": "sa", "namespace": "n"}}
    if automount is not None:
        props["automountServiceAccountToken"] = automount
    return resource("kubernetes:core/v1:ServiceAccount", props, name="sa")


def namespace(labels: dict) -> Any:
    return resource("kubernetes:core/v1:Namespace", {"metadata": {"name": "team", "labels": labels}}, name="team")


RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}


def netpol(name: str, spec: dict) -> Any:
    return resource("kubernetes:networking.k8s.io/v1:NetworkPolicy", {"metadata": {"name": name, "namespace": "team"},
                                                                      "spec": {"podSelector": {}, **spec}}, name=name)


DENY = netpol("deny", {"policyTypes": ["Ingress", "Egress"]})
DNS = netpol("dns", {"policyTypes": ["Egress"], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]})


def r(kind: str, props: dict, **extra: Any) -> Any:
    return resource(kind, props, **extra)


PG_PRIVATE = {"network": {"publicNetworkAccess": "Disabled"}}
HEADERS_REF = "traefik-security-headers@kubernetescrd"
HEADERS_GOOD = {"stsSeconds": 31536000, "contentTypeNosniff": True, "frameDeny": True}


def traefik_with_headers(headers: dict = HEADERS_GOOD, middlewares: tuple = (HEADERS_REF,)) -> list:
    """Traefik's release and the headers Middleware its websecure entrypoint names."""
    middleware = r("kubernetes:traefik.io/v1alpha1:Middleware", {"metadata": {"name": "security-headers", "namespace": "traefik"},
                                                                "spec": {"headers": headers}}, name="headers")
    values = {"ports": {"websecure": {"http": {"middlewares": list(middlewares)}}}}
    return [middleware, r("kubernetes:helm.sh/v3:Release", {"chart": "./.charts/traefik-41.3.0.tgz", "version": "41.3.0",
                                                            "values": values})]


def served(uri: str, transformer: dict | None = None) -> list:
    """An InferenceService loading `uri`, its predictor otherwise compliant; with a transformer pod
    running `transformer` (a container) when given."""
    model = {k: v for k, v in POD["containers"][0].items() if k not in ("name", "image")}
    pod = {k: v for k, v in POD.items() if k != "containers"}
    spec = {"predictor": {**pod, "model": {**model, "modelFormat": {"name": "sklearn"}, "storageUri": uri}},
            **({"transformer": {**pod, "containers": [transformer]}} if transformer else {})}
    return [r("kubernetes:serving.kserve.io/v1beta1:InferenceService", {"metadata": {"name": "m", "namespace": "models"},
                                                                        "spec": spec})]


def nodegroup(instance: str, max_size: int) -> Any:
    return r("aws:eks/nodeGroup:NodeGroup", {"instanceTypes": [instance], "scalingConfig": {"desiredSize": 1, "maxSize": max_size}})


VNET = resource("azure-native:network:VirtualNetwork", {"addressSpace": {"addressPrefixes": ["10.50.0.0/16"]}}, name="vnet")
EKS, AKS, GKE, POOL = "aws:eks/cluster:Cluster", "azure-native:containerservice:ManagedCluster", "gcp:container/cluster:Cluster", \
    "gcp:container/nodePool:NodePool"

def lb(ranges: list, annotations: dict | None = None, namespace: str = "traefik") -> Any:
    return r("kubernetes:core/v1:Service", {
        "metadata": {"name": "lb", "namespace": namespace, "labels": {"app.kubernetes.io/name": "traefik"},
                     "annotations": annotations or {}},
        "spec": {"type": "LoadBalancer", "loadBalancerSourceRanges": ranges}})


ROUTE, MIDDLEWARE = "kubernetes:traefik.io/v1alpha1:IngressRoute", "kubernetes:traefik.io/v1alpha1:Middleware"
GUARD = r(MIDDLEWARE, {"metadata": {"name": "sso", "namespace": "n"},
                       "spec": {"forwardAuth": {"address": "http://oauth2-proxy.identity/oauth2/auth"}}}, name="sso")


def route(middlewares: list, annotations: dict | None = None, entry_points: list | None = None) -> Any:
    rule = {"match": "Host(`a.example.com`)", "kind": "Rule", "services": [{"name": "a", "port": 80}],
            "middlewares": [{"name": m} for m in middlewares]}
    return r(ROUTE, {"metadata": {"name": "a", "namespace": "n", "annotations": annotations or {}},
                     "spec": {"entryPoints": entry_points or ["websecure"], "routes": [rule]}}, name="route")


def ui_role(resources: list) -> list:
    grant = role([{"apiGroups": [""], "resources": resources, "verbs": ["get", "list", "watch"]}])
    return [grant, r("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding", {
        "metadata": {"name": "b"}, "roleRef": {"kind": "ClusterRole", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "traefik", "namespace": "traefik"}]}, name="binding")]


WEBHOOKS = "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration"
CERTIFICATE = "kubernetes:cert-manager.io/v1:Certificate"

# The compliant bases: every rule passes on each.
BASES = {
    "deployment": [deployment()],
    "restricted namespace": [namespace(RESTRICTED), DENY, DNS],
    "roles": [role([{"apiGroups": [""], "resources": ["configmaps", "secrets"], "verbs": ["*"]}]),
              role([{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}])],
    "accounts": [account(False)],
    "ingress lb": [lb(["203.0.113.0/24", "198.51.100.0/24"])],
    "internal lb": [lb([], {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"})],
    "routes": [GUARD, route(["sso"]), route([], {"mlops.dev/sign-in": "grafana"}), route([], entry_points=["mirror"])],
    "ui roles": ui_role(["configmaps"]),
    "aws": [r(EKS, EKS_GOOD), r("aws:kms/key:Key", {"enableKeyRotation": True}), r("aws:ec2/launchTemplate:LaunchTemplate", LT_GOOD),
            *rds(RDS_GOOD, protect=True), *bucket_and(BUCKET_GOOD), nodegroup("m6i.large", 4)],
    "azure": [*diagnosed(AKS, AKS_GOOD, ("kube-audit",)), r("azure-native:storage:StorageAccount", STORAGE_GOOD),
              *pg_server({"network": {"publicNetworkAccess": "Disabled"}}), *blob_store(),
              r("azure-native:network:FlowLog", {"enabled": True}, targetResourceId=[VNET]), VNET],
    "served": served("s3://mine/models/m") + served("pvc://models/m"),
    "gcp": [r(GKE, GKE_GOOD), r(POOL, POOL_GOOD), r("gcp:storage/bucket:Bucket", GCS_GOOD), r("gcp:sql/databaseInstance:DatabaseInstance", SQL_GOOD)],
    "release": traefik_with_headers(),
    "admission": [r(WEBHOOKS, {"metadata": {"name": "w"}, "webhooks": [{"name": "a.example", "failurePolicy": "Fail"},
                                                                      {"name": "b.example"}]}),
                  r(CERTIFICATE, {"metadata": {"name": "ca"}, "spec": {"isCA": True, "duration": "43800h"}}),
                  r(CERTIFICATE, {"metadata": {"name": "leaf"}, "spec": {"duration": "876000h"}})],
}


def _dep(edit: Callable[[dict, dict], Any]) -> Callable[[], list]:
    return lambda: [deployment(edit)]


def _one(kind: str, base: dict, path: tuple, value: Any, **extra: Any) -> Callable[[], list]:
    return lambda: [r(kind, patched(base, path, value), **extra)]


def _sql_flags_without(*flags: str) -> Callable[[], list]:
    kept = [f for f in SQL_FLAGS if f["name"] not in flags]
    return _one("gcp:sql/databaseInstance:DatabaseInstance", SQL_GOOD, ("settings", "databaseFlags"), kept)


def _aks(path: tuple, value: Any) -> Callable[[], list]:
    """A cluster with one setting changed, its audit log kept (that rule has its own fixture)."""
    return lambda: diagnosed(AKS, patched(AKS_GOOD, path, value), ("kube-audit",))


def _sc(**changes: Any) -> Callable[[dict, dict], None]:
    return lambda p, c: c["securityContext"].update(changes)


def _unset(key: str) -> Callable[[dict, dict], None]:
    return lambda p, c: c["securityContext"].pop(key)


OWN = {"supply-chain-prod-models-own-store": {"ownStores": ["^s3://mine/"]}}

# (rule, what it breaks, subjects, expected message fragment, rule configuration)
FIXTURES: list[tuple[str, str, Callable[[], list], str, dict]] = [
    ("k8s-metadata-address-closed", "open", lambda: [r("kubernetes:networking.k8s.io/v1:NetworkPolicy", OPEN_TO_METADATA)],
     "lets pods reach the instance-metadata address", {}),
    ("egress-https-allow-listed", "open", lambda: [r("kubernetes:networking.k8s.io/v1:NetworkPolicy", OPEN_HTTPS)], "HTTPS to any internet", {}),
    ("supply-chain-prod-models-own-store", "public bucket", lambda: served("gs://kfserving-examples/models/m"),
     "serves gs://kfserving-examples/models/m, outside the stack's own artifact store", OWN),
    ("azure-aks-audit-logs", "none", lambda: diagnosed(AKS, AKS_GOOD), "keeps no audit log", {}),
    ("azure-aks-audit-logs", "nowhere", lambda: diagnosed(AKS, AKS_GOOD, ("kube-audit",), to_workspace=False), "keeps no audit log", {}),
    ("azure-aks-audit-logs", "reads off", lambda: diagnosed(AKS, AKS_GOOD, ("guard",)), "keeps no audit log", {}),
    ("azure-vnet-flow-logs", "none", lambda: [VNET], "has no flow log", {}),
    ("azure-storage-access-logs", "reads only", lambda: blob_store(("StorageRead",)), "are not logged", {}),
    ("k8s-database-server-verified", "require", _dep(lambda p, c: c.update(env=[{"name": "PGHOST", "value": "db.example.com"},
                                                                          {"name": "PGSSLMODE", "value": "require"}])),
     "PGSSLMODE=require, which checks no server", {}),
    ("k8s-database-server-verified", "unset", _dep(lambda p, c: c.update(env=[{"name": "PGHOST", "value": "db.example.com"}])),
     "no PGSSLMODE (libpq's default, prefer, checks no server)", {}),
    ("k8s-no-privileged-containers", "privileged", _dep(_sc(privileged=True)), "is privileged", {}),
    ("k8s-no-privileged-containers", "transformer", lambda: served("s3://mine/m", {**POD["containers"][0], "securityContext": {
        **POD["containers"][0]["securityContext"], "privileged": True}}), "InferenceService models/m transformer", {}),
    ("k8s-no-host-namespaces", "hostNetwork", _dep(lambda p, c: p.update(hostNetwork=True)), "sets hostNetwork", {}),
    ("k8s-no-host-namespaces", "hostPID", _dep(lambda p, c: p.update(hostPID=True)), "sets hostPID", {}),
    ("k8s-no-host-namespaces", "hostIPC", _dep(lambda p, c: p.update(hostIPC=True)), "sets hostIPC", {}),
    ("k8s-no-host-path-volumes", "hostPath", _dep(lambda p, c: p.update(volumes=[{"name": "h", "hostPath": {"path": "/"}}])),
     "mounts hostPath volume h", {}),
    ("k8s-no-host-ports", "hostPort", _dep(lambda p, c: c.update(ports=[{"containerPort": 8080, "hostPort": 8080}])),
     "binds hostPort 8080", {}),
    ("k8s-no-privilege-escalation", "escalation", _dep(_unset("allowPrivilegeEscalation")), "allowPrivilegeEscalation: false", {}),
    ("k8s-run-as-non-root", "runAsNonRoot unset", _dep(lambda p, c: (c["securityContext"].pop("runAsNonRoot"),
                                                                     p["securityContext"].pop("runAsNonRoot"))), "may run as root", {}),
    ("k8s-run-as-non-root", "runAsUser 0", _dep(_sc(runAsUser=0)), "may run as root (runAsNonRoot", {}),
    ("k8s-drop-all-capabilities", "drop", _dep(_sc(capabilities={"drop": ["NET_RAW"]})), "does not drop ALL", {}),
    ("k8s-seccomp-runtime-default", "seccomp", _dep(lambda p, c: (c["securityContext"].pop("seccompProfile"),
                                                                  p["securityContext"].pop("seccompProfile"))),
     "no RuntimeDefault seccomp profile", {}),
    ("k8s-requests-and-memory-limit", "no request", _dep(lambda p, c: c["resources"]["requests"].pop("cpu")), "has no cpu request", {}),
    ("k8s-requests-and-memory-limit", "no limit", _dep(lambda p, c: c["resources"].pop("limits")), "has no memory limit", {}),
    ("k8s-requests-and-memory-limit", "limit below request",
     _dep(lambda p, c: c["resources"]["requests"].update(memory="64Mi")), "requests 64Mi of memory, above its limit 32Mi", {}),
    ("k8s-pinned-image-tags", "latest", _dep(lambda p, c: c.update(image="registry.example.com/app:latest")), "never latest", {}),
    ("k8s-pinned-image-tags", "untagged", _dep(lambda p, c: c.update(image="registry.example.com/app")), "never latest", {}),
    ("supply-chain-images-pinned", "tag only", _dep(lambda p, c: c.update(image="registry.example.com/app:1.2.3")),
     "is not pinned by digest", {}),
    ("supply-chain-images-pinned", "not a reference", _dep(lambda p, c: c.update(image="Registry.Example/App:1")),
     "is not an image reference", {}),
    ("supply-chain-images-from-mirror", "outside", _dep(lambda p, c: None), "outside the mirror mirror.example/m",
     {"supply-chain-images-from-mirror": {"mirror": "mirror.example/m"}}),
    ("k8s-token-automount-off", "account default", lambda: [account(None)], "mounts its token by default", {}),
    ("k8s-token-automount-off", "pod mounts", _dep(lambda p, c: p.update(automountServiceAccountToken=True)),
     "mounts a token of service account default", {}),
    ("k8s-no-wildcard-rbac", "apiGroups", lambda: [role([{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]}])],
     "grants '*' apiGroups", {}),
    ("k8s-no-wildcard-rbac", "resources", lambda: [role([{"apiGroups": [""], "resources": ["*"], "verbs": ["get"]}])],
     "grants '*' resources", {}),
    ("k8s-no-wildcard-rbac", "escalating verbs", lambda: [role([{"apiGroups": ["rbac.authorization.k8s.io"],
                                                                  "resources": ["clusterrolebindings"], "verbs": ["*"]}])],
     "grants '*' verbs on clusterrolebindings", {}),
    ("k8s-no-wildcard-rbac", "non-resource URLs", lambda: [role([{"nonResourceURLs": ["/metrics"], "verbs": ["*"]}])],
     "grants '*' verbs on non-resource URLs", {}),
    ("k8s-load-balancer-only-for-ingress", "another LB",
     lambda: [lb(["203.0.113.0/24"], namespace="mlflow")], "only the ingress controller may be one", {}),
    ("access-load-balancer-closed", "no ranges", lambda: [lb([])], "open to the internet (no loadBalancerSourceRanges", {}),
    ("access-load-balancer-closed", "split ranges", lambda: [lb(["0.0.0.0/1", "128.0.0.0/1", "10.0.0.0/8"])],
     "source ranges add up to the whole internet", {}),
    ("access-routes-authenticated", "no middleware", lambda: [GUARD, route([])], "route 0 (Host(`a.example.com`)) has no authentication", {}),
    ("access-routes-authenticated", "not forwardAuth",
     lambda: [r(MIDDLEWARE, {"metadata": {"name": "sso", "namespace": "n"}, "spec": {"headers": {}}}, name="sso"), route(["sso"])],
     "has no authentication", {}),
    ("access-routes-authenticated", "another namespace's guard",
     lambda: [GUARD, r(ROUTE, {**route(["sso"]).props, "metadata": {"name": "a", "namespace": "m"}}, name="route")],
     "has no authentication", {}),
    ("access-routes-authenticated", "bare Ingress",
     lambda: [r("kubernetes:networking.k8s.io/v1:Ingress", {"metadata": {"name": "i", "namespace": "n"}})],
     "Ingress n/i has no authentication", {}),
    ("access-nothing-public", "public", lambda: [route([], {"mlops.dev/public": "true"})], "is public", {}),
    ("access-ui-no-cluster-secrets", "reads secrets", lambda: ui_role(["secrets"]),
     "ServiceAccount traefik/traefik reads Secrets cluster-wide", {}),
    ("k8s-namespace-default-deny", "no deny", lambda: [namespace(RESTRICTED), DNS], "has no default-deny NetworkPolicy", {}),
    ("k8s-namespace-default-deny", "no DNS", lambda: [namespace(RESTRICTED), DENY], "does not allow DNS", {}),
    ("k8s-namespace-pod-security-labels", "no level", lambda: [namespace({}), DENY, DNS], "does not enforce a Pod Security level", {}),
    ("aws-eks-endpoint-restricted", "no CIDRs", _one(EKS, EKS_GOOD, ("vpcConfig", "publicAccessCidrs"), []), "no CIDR limit", {}),
    ("aws-eks-endpoint-restricted", "open", _one(EKS, EKS_GOOD, ("vpcConfig", "publicAccessCidrs"), ["0.0.0.0/0"]), "open to the internet (0.0.0.0/0", {}),
    ("aws-eks-secrets-encryption", "no config", _one(EKS, EKS_GOOD, ("encryptionConfig",), {}), "not envelope-encrypted", {}),
    ("aws-eks-no-creator-admin", "bootstrap", _one(EKS, EKS_GOOD, ("accessConfig",), {"authenticationMode": "API"}),
     "the cluster's creator stays cluster admin", {}),
    ("aws-kms-key-rotation", "rotation", lambda: [r("aws:kms/key:Key", {})], "rotation is off", {}),
    ("aws-eks-control-plane-logging", "audit", _one(EKS, EKS_GOOD, ("enabledClusterLogTypes",), ["api", "authenticator"]),
     "log types not enabled: audit", {}),
    ("aws-imdsv2-hop-limit", "IMDSv1", _one("aws:ec2/launchTemplate:LaunchTemplate", LT_GOOD, ("metadataOptions", "httpTokens"), "optional"),
     "IMDSv1 is allowed", {}),
    ("aws-imdsv2-hop-limit", "hop limit", _one("aws:ec2/launchTemplate:LaunchTemplate", LT_GOOD,
                                               ("metadataOptions", "httpPutResponseHopLimit"), 2), "hop limit is not 1", {}),
    ("aws-s3-public-access-block", "one off", lambda: bucket_and({**BUCKET_GOOD, PAB: {**BUCKET_GOOD[PAB], "ignorePublicAcls": False}}),
     "no public access block", {}),
    ("aws-s3-access-logs", "none", lambda: bucket_and({k: v for k, v in BUCKET_GOOD.items() if k != LOGGING}), "are not logged", {}),
    ("gcp-gcs-access-logs", "none", _one("gcp:storage/bucket:Bucket", GCS_GOOD, ("logging",), {}), "are not logged", {}),
    ("aws-s3-encryption", "no sse", lambda: bucket_and({k: v for k, v in BUCKET_GOOD.items() if k != SSE}), "no default server-side", {}),
    ("aws-s3-versioning", "suspended", lambda: bucket_and({**BUCKET_GOOD, VERSIONING: {"versioningConfiguration": {"status": "Suspended"}}}),
     "versioning is not enabled", {}),
    ("aws-vpc-flow-logs", "none", lambda: [r("aws:ec2/vpc:Vpc", {"cidrBlock": "10.40.0.0/16"}, name="vpc")],
     "VPC vpc has no flow log", {}),
    ("gcp-subnet-flow-logs", "none", lambda: [r("gcp:compute/subnetwork:Subnetwork", {"ipCidrRange": "10.60.0.0/20"})],
     "has no flow logs", {}),
    ("gcp-gke-secrets-cmek", "plain", lambda: [r("gcp:container/cluster:Cluster", GKE_GOOD)], "not encrypted with a customer-managed",
     {"gcp-gke-secrets-cmek": {"requireKeys": True}}),
    ("aws-data-cmk", "bucket", lambda: bucket_and(BUCKET_GOOD), "encrypted with an AWS-managed key (no kmsMasterKeyId)",
     {"aws-data-cmk": {"requireKeys": True}}),
    ("aws-data-cmk", "RDS", lambda: rds(RDS_GOOD), "database db is encrypted with the AWS-managed key", {"aws-data-cmk": {"requireKeys": True}}),
    ("gcp-data-cmek", "bucket", lambda: [r("gcp:storage/bucket:Bucket", GCS_GOOD)], "Google-managed keys (no encryption.defaultKmsKeyName)",
     {"gcp-data-cmek": {"requireKeys": True}}),
    ("gcp-data-cmek", "Cloud SQL", lambda: [r("gcp:sql/databaseInstance:DatabaseInstance", SQL_GOOD)],
     "Google-managed key (no encryptionKeyName)", {"gcp-data-cmek": {"requireKeys": True}}),
    ("aws-rds-audit-logs", "not exported", lambda: rds({**RDS_GOOD, "enabledCloudwatchLogsExports": ["upgrade"]}),
     "not exported to CloudWatch Logs", {}),
    ("aws-rds-audit-logs", "parameters", lambda: rds(RDS_GOOD, ("log_connections",)), "does not log connections", {}),
    ("aws-rds-audit-logs", "pgaudit", lambda: rds(RDS_GOOD, audit=[{"name": "pgaudit.log", "value": "ddl,role"}]),
     "does not load pgaudit", {}),
    ("gcp-cloudsql-connection-logging", "pgaudit", _sql_flags_without("cloudsql.enable_pgaudit", "pgaudit.log"), "pgaudit is off", {}),
    ("aws-rds-iam-login", "off", lambda: rds({**RDS_GOOD, "iamDatabaseAuthenticationEnabled": False}), "IAM database authentication is off", {}),
    ("gcp-cloudsql-iam-login", "flag off", _sql_flags_without("cloudsql.iam_authentication"), "cannot log in as its service account", {}),
    ("aws-rds-private-encrypted-backed-up", "public", lambda: rds({**RDS_GOOD, "publiclyAccessible": True}), "publicly accessible", {}),
    ("aws-rds-private-encrypted-backed-up", "unencrypted", lambda: rds({**RDS_GOOD, "storageEncrypted": False}), "not encrypted", {}),
    ("aws-rds-private-encrypted-backed-up", "backups", lambda: rds({**RDS_GOOD, "backupRetentionPeriod": 3}),
     "backups are kept 3 days", {}),
    ("azure-aks-api-restricted", "no ranges", _aks(("apiServerAccessProfile", "authorizedIPRanges"), []), "no authorized IP ranges", {}),
    ("azure-aks-api-restricted", "open", _aks(("apiServerAccessProfile", "authorizedIPRanges"), ["0.0.0.0/1", "128.0.0.0/1"]),
     "authorizes the whole internet", {}),
    ("azure-aks-network-policy", "none", _aks(("networkProfile",), {}), "no network policy engine", {}),
    ("azure-aks-kms-etcd", "off", _aks(("securityProfile",), {}), "not encrypted with a customer-managed key",
     {"azure-aks-kms-etcd": {"requireKeys": True}}),
    ("azure-data-cmk", "Microsoft keys", lambda: [r("azure-native:storage:StorageAccount", STORAGE_GOOD, name="sa")],
     "storage account sa is encrypted with Microsoft-managed keys", {"azure-data-cmk": {"requireKeys": True}}),
    ("azure-data-cmk", "flow-log target", lambda: [
        (account := r("azure-native:storage:StorageAccount", STORAGE_GOOD, name="fl")),
        r("azure-native:network:FlowLog", {"enabled": True}, targetResourceId=[VNET], storageId=[account]), VNET],
     "storage account fl is encrypted with Microsoft-managed keys", {"azure-data-cmk": {"requireKeys": True}}),
    ("azure-data-cmk", "server", lambda: pg_server({"network": {"publicNetworkAccess": "Disabled"}}),
     "server pg is encrypted with a Microsoft-managed key", {"azure-data-cmk": {"requireKeys": True}}),
    ("azure-aks-local-accounts-disabled", "local accounts", _aks(("disableLocalAccounts",), False), "local accounts are enabled", {}),
    ("azure-storage-secure-transport-private", "public blobs", _one("azure-native:storage:StorageAccount", STORAGE_GOOD,
                                                                    ("allowBlobPublicAccess",), True), "public blob access", {}),
    ("azure-storage-secure-transport-private", "old TLS", _one("azure-native:storage:StorageAccount", STORAGE_GOOD,
                                                               ("minimumTlsVersion",), "TLS1_0"), "TLS 1.2 is not the minimum", {}),
    ("azure-storage-secure-transport-private", "plain HTTP", _one("azure-native:storage:StorageAccount", STORAGE_GOOD,
                                                                  ("enableHttpsTrafficOnly",), False), "plain HTTP is accepted", {}),
    ("azure-postgres-not-public", "public", lambda: pg_server({"network": {"publicNetworkAccess": "Enabled"}}),
     "accepts public network access", {}),
    ("azure-postgres-connection-logging", "one parameter", lambda: pg_server(PG_PRIVATE, ("log_connections",)),
     "log_disconnections is not set on", {}),
    ("azure-postgres-connection-logging", "no pgaudit", lambda: pg_server(PG_PRIVATE, audit=AZURE_PGAUDIT[:1] + AZURE_PGAUDIT[2:]),
     "pgaudit is not allow-listed, preloaded and logging", {}),
    ("azure-postgres-connection-logging", "not listed", lambda: pg_server(PG_PRIVATE, audit=AZURE_PGAUDIT[1:]),
     "pgaudit is not allow-listed, preloaded and logging", {}),
    ("azure-postgres-connection-logging", "kept on the server", lambda: pg_server(PG_PRIVATE, shipped=False),
     "its log (PostgreSQLLogs) is not sent to a workspace", {}),
    ("azure-storage-network-restricted", "open", _one("azure-native:storage:StorageAccount", STORAGE_GOOD,
                                                      ("networkRuleSet", "defaultAction"), "Allow"), "admits every network", {}),
    ("azure-prod-data-locked", "no lock", lambda: pg_server({"network": {"publicNetworkAccess": "Disabled"}}),
     "PostgreSQL server pg has no CanNotDelete lock", {"azure-prod-data-locked": {"requireLocks": True}}),
    ("azure-postgres-connection-logging", "set off", lambda: pg_server(PG_PRIVATE, ("log_connections",), off=("log_disconnections",)),
     "log_disconnections is not set on", {}),
    ("azure-postgres-entra-login", "passwords only", lambda: pg_server({**PG_PRIVATE, "authConfig": {"activeDirectoryAuth": "Disabled"}}),
     "Entra ID authentication is off", {}),
    ("gcp-gke-private-nodes", "public nodes", _one(GKE, GKE_GOOD, ("privateClusterConfig", "enablePrivateNodes"), False),
     "nodes have public IPs", {}),
    ("gcp-gke-authorized-networks", "none", _one(GKE, GKE_GOOD, ("masterAuthorizedNetworksConfig", "cidrBlocks"), []),
     "no authorized networks", {}),
    ("gcp-gke-authorized-networks", "open", _one(GKE, GKE_GOOD, ("masterAuthorizedNetworksConfig", "cidrBlocks"), [{"cidrBlock": "0.0.0.0/0"}]),
     "authorizes the whole internet (0.0.0.0/0", {}),
    ("gcp-gke-network-policy", "legacy", _one(GKE, GKE_GOOD, ("datapathProvider",), "LEGACY_DATAPATH"), "NetworkPolicies are not enforced", {}),
    ("gcp-gke-shielded-nodes", "cluster", _one(GKE, GKE_GOOD, ("enableShieldedNodes",), False), "shielded nodes are off", {}),
    ("gcp-gke-shielded-nodes", "pool", _one(POOL, POOL_GOOD, ("nodeConfig", "shieldedInstanceConfig"), {}), "secure boot is off", {}),
    ("gcp-gke-workload-identity", "cluster", _one(GKE, GKE_GOOD, ("workloadIdentityConfig",), {}), "Workload Identity is off", {}),
    ("gcp-gke-workload-identity", "pool", _one(POOL, POOL_GOOD, ("nodeConfig", "workloadMetadataConfig", "mode"), "GCE_METADATA"),
     "node's metadata credentials", {}),
    ("gcp-gcs-private-uniform", "acls", _one("gcp:storage/bucket:Bucket", GCS_GOOD, ("uniformBucketLevelAccess",), False),
     "uniform bucket-level access is off", {}),
    ("gcp-gcs-private-uniform", "public", _one("gcp:storage/bucket:Bucket", GCS_GOOD, ("publicAccessPrevention",), "inherited"),
     "public access prevention is not enforced", {}),
    ("gcp-cloudsql-private-backed-up", "public IP", _one("gcp:sql/databaseInstance:DatabaseInstance", SQL_GOOD,
                                                         ("settings", "ipConfiguration", "ipv4Enabled"), True), "has a public IP", {}),
    ("gcp-cloudsql-connection-logging", "flag off", _sql_flags_without("log_disconnections"), "log_disconnections is not on", {}),
    ("gcp-cloudsql-private-backed-up", "backups", _one("gcp:sql/databaseInstance:DatabaseInstance", SQL_GOOD,
                                                       ("settings", "backupConfiguration", "enabled"), False), "automated backups are off", {}),
    ("reliability-prod-data-protected", "unprotected", lambda: rds(RDS_GOOD), "not protected",
     {"reliability-prod-data-protected": {"requireProtection": True}}),
    ("reliability-prod-database-recoverable", "azure geo", lambda: pg_server({
        "network": {"publicNetworkAccess": "Disabled"}, "backup": {"backupRetentionDays": 14, "geoRedundantBackup": "Disabled"}}, protect=True),
     "not geo-redundant", {"reliability-prod-database-recoverable": {"requireRecovery": True}}),
    ("reliability-prod-database-recoverable", "azure retention", lambda: pg_server({
        "network": {"publicNetworkAccess": "Disabled"}, "backup": {"backupRetentionDays": 3, "geoRedundantBackup": "Enabled"}}, protect=True),
     "kept 3 days", {"reliability-prod-database-recoverable": {"requireRecovery": True}}),
    ("reliability-prod-database-recoverable", "cloud sql pitr", lambda: [r("gcp:sql/databaseInstance:DatabaseInstance", {"settings": {
        "ipConfiguration": {"ipv4Enabled": False}, "backupConfiguration": {"enabled": True, "pointInTimeRecoveryEnabled": False,
                                                                           "backupRetentionSettings": {"retainedBackups": 7}},
        "databaseFlags": SQL_FLAGS}}, protect=True)],
     "point-in-time recovery is off", {"reliability-prod-database-recoverable": {"requireRecovery": True}}),
    ("access-security-headers", "not on the entrypoint", lambda: traefik_with_headers(middlewares=()),
     "runs no headers Middleware", {}),
    ("access-grafana-cookie-secure", "cookie", lambda: [r("kubernetes:helm.sh/v3:Release", {
        "chart": "./.charts/kube-prometheus-stack-88.5.3.tgz", "version": "88.5.3",
        "values": {"grafana": {"grafana.ini": {"security": {"cookie_secure": False}}}}})], "cookie_secure is not true", {}),
    ("reliability-helm-chart-pinned", "no version", lambda: [r("kubernetes:helm.sh/v3:Release", {"chart": "mlflow"})],
     "has no chart version", {}),
    ("reliability-helm-chart-pinned", "a range", lambda: [r("kubernetes:helm.sh/v3:Release", {"chart": "mlflow", "version": "~1.11"})],
     "uses a version range", {}),
    ("cost-node-count-within-limit", "too many", lambda: [nodegroup("m6i.large", 7), nodegroup("m6i.large", 6)],
     "can grow to 13 nodes, above this stack's limit of 10", {}),
    ("cost-instance-type-allowed", "not listed", lambda: [nodegroup("m6i.4xlarge", 2)], "uses m6i.4xlarge, not one of m6i.large",
     {"cost-instance-type-allowed": {"allowedInstanceTypes": ["m6i.large"]}}),
    ("cost-gpu-only-when-enabled", "gpu off", lambda: [nodegroup("g5.xlarge", 2)], "cluster.gpu.enabled is false", {}),
    ("cost-gpu-only-when-enabled", "gpu cap", lambda: [nodegroup("g5.xlarge", 6)], "can grow to 6 nodes, above the limit of 4",
     {"cost-gpu-only-when-enabled": {"gpuEnabled": True}}),
    ("licence-source-available-components", "BSL chart", lambda: [r("kubernetes:helm.sh/v3:Release",
                                                                    {"chart": "seldon-core-operator", "version": "1.18.1"})],
     "is Seldon Core under the Business Source License", {}),
    ("licence-source-available-components", "v1 image", _dep(lambda p, c: c.update(image=f"seldonio/alibi-detect-server:1.18.0{PINNED}")),
     "Business Source License 1.1 from 1.18", {}),
    ("k8s-webhooks-fail-closed", "ignore", lambda: [r(WEBHOOKS, {"metadata": {"name": "w"}, "webhooks": [
        {"name": "a.example", "failurePolicy": "Fail"}, {"name": "b.example", "failurePolicy": "Ignore"}]})],
     "webhook b.example of w fails open (failurePolicy Ignore)", {}),
    ("k8s-ca-lifetime", "ten years", lambda: [r(CERTIFICATE, {"metadata": {"name": "ca"}, "spec": {"isCA": True, "duration": "87600h"}})],
     "CA certificate ca lives 87600h, longer than five years", {}),
    ("k8s-ca-lifetime", "go duration", lambda: [r(CERTIFICATE, {"metadata": {"name": "ca"}, "spec": {
        "isCA": True, "duration": "43801h0m0s"}})], "lives 43801h0m0s", {}),
    ("licence-source-available-components", "v2 image", _dep(lambda p, c: c.update(image=f"seldonio/seldon-scheduler:2.8.0{PINNED}")),
     "is Seldon Core v2", {}),
]


@pytest.mark.parametrize("base", list(BASES))
def test_every_compliant_base_passes_every_rule(base):
    assert every_violation(BASES[base], {}) == {}


@pytest.mark.parametrize("rule, what, subjects, fragment, config", FIXTURES, ids=[f"{f[0]}:{f[1]}" for f in FIXTURES])
def test_each_fixture_breaks_exactly_its_own_check(rule, what, subjects, fragment, config):
    found = every_violation(subjects(), config)
    assert list(found) == [rule], f"{what}: {found}"
    assert len(found[rule]) == 1 and fragment in found[rule][0], found[rule]


def _yields(rule: Any) -> int:
    """How many `yield` statements a rule's check function has (each a check that can fire)."""
    return inspect.getsource(rule.check).count("yield ")


def test_every_check_of_every_rule_has_its_own_fixture():
    fragments: dict[str, set[str]] = {}
    for rule, _, _, fragment, _ in FIXTURES:
        fragments.setdefault(rule, set()).add(fragment)
    for rule in RULES:
        if rule.name in ("k8s-pod-security-admission", "reliability-no-deleted-with-on-load-balancers-and-volumes"):
            continue  # tested in test_pod_security.py, and with the options the engine cannot pass (test_policies.py)
        assert rule.name in fragments, f"{rule.name} has no fixture"
        assert len(fragments[rule.name]) >= _yields(rule) or rule.name in MULTI_CASE, (rule.name, _yields(rule))

# Rules whose one `yield` covers several ways to break them, each with a fixture above.
MULTI_CASE = {"access-routes-authenticated": 4, "k8s-no-host-namespaces": 3, "k8s-run-as-non-root": 2, "k8s-pinned-image-tags": 2, "k8s-no-wildcard-rbac": 4}


def test_rules_with_several_cases_per_check_have_them_all():
    for rule, cases in MULTI_CASE.items():
        assert sum(1 for f in FIXTURES if f[0] == rule) >= cases, rule
