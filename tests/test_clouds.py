"""EKS, AKS and GKE stacks under mocks: each security property is the contract, asserted one by one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

from mlops_platform.components import names, versions
from mlops_platform.components.config import PlatformConfig, read_stack_values
from mlops_platform.planner.harness import ProgramRun, plan_platform, run_program
from support import ROOT, SHIPPED_STACKS, STACKS

CLOUD_STACKS = [s for s in SHIPPED_STACKS if not s.startswith("local-")]


def of(run: ProgramRun, type_token: str) -> list:
    return run.of_type(type_token)


def one(run: ProgramRun, type_token: str, name_suffix: str = ""):
    matches = [r for r in run.of_type(type_token) if r.name.endswith(name_suffix)]
    assert len(matches) == 1, f"{len(matches)} {type_token} ending {name_suffix!r}"
    return matches[0]


def variant(stack: str, **changes: Any) -> PlatformConfig:
    """A shipped stack's config with some top-level keys replaced."""
    values = read_stack_values(STACKS / f"Pulumi.{stack}.yaml")
    values.update(changes)
    return PlatformConfig.from_values(values, f"{stack} (variant)", stack)


def kubeconfig_of(config: PlatformConfig) -> dict:
    """The kubeconfig the platform builds, read back from inside the program run."""
    captured: list[str] = []

    def program():
        from mlops_platform.components.platform import MlopsPlatform

        platform = MlopsPlatform("mlops", config)
        platform.kubeconfig.apply(captured.append)
        return platform

    run_program(program, config.stack_name)
    return yaml.safe_load(captured[0])


def release_values(run: ProgramRun, release: str) -> dict:
    return next(r for r in run.helm_releases() if r.input("name") == release).input("values")


def k8s_object(run: ProgramRun, kind: str, name: str, namespace: str | None = None):
    return next(
        r for r in run.kubernetes_objects()
        if r.input("kind") == kind and r.input("metadata", "name") == name
        and (namespace is None or r.input("metadata", "namespace") == namespace)
    )


# --- every cloud ------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_same_addons_as_local(stack, planned, stack_config):
    local = {(r.input("name"), r.input("chart"), r.input("version")) for r in planned("local-dev").helm_releases()}
    cloud = {(r.input("name"), r.input("chart"), r.input("version")) for r in planned(stack).helm_releases()}
    # Where the cloud makes the issuer (identity.provider cognito, entra) there is no Dex; nothing else differs.
    assert cloud == {r for r in local if stack_config(stack).identity.kind == "dex" or r[1] != versions.DEX.staged}


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_lists_cluster_pools_database_store_and_identities(stack, planned):
    run = planned(stack)
    types = {r.type for r in run.resources}
    expected = {
        "aws": {"aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:rds/instance:Instance",
                "aws:s3/bucket:Bucket", "aws:iam/role:Role", "aws:iam/openIdConnectProvider:OpenIdConnectProvider"},
        "azure": {"azure-native:containerservice:ManagedCluster", "azure-native:dbforpostgresql:Server",
                  "azure-native:storage:StorageAccount", "azure-native:storage:BlobContainer",
                  "azure-native:managedidentity:UserAssignedIdentity", "azure-native:managedidentity:FederatedIdentityCredential"},
        "gcp": {"gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool", "gcp:sql/databaseInstance:DatabaseInstance",
                "gcp:storage/bucket:Bucket", "gcp:serviceaccount/account:Account", "gcp:serviceaccount/iAMMember:IAMMember"},
    }[stack.split("-")[0]]
    assert expected <= types, expected - types


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_every_cloud_resource_uses_the_stacks_explicit_provider(stack, planned):
    run = planned(stack)
    providers = {r.urn for r in run.resources if r.is_provider}
    for record in run.resources:
        if record.custom and not record.is_provider and not record.type.startswith("random:"):
            assert record.provider_urn in providers, f"{record.name} uses a default provider"


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_traefik_sits_behind_a_load_balancer_the_stack_owns(stack, planned):
    run = planned(stack)
    values = release_values(run, names.RELEASE_TRAEFIK)
    assert values["service"]["spec"]["type"] == "ClusterIP"
    lb = k8s_object(run, "Service", "traefik-lb", names.NS_TRAEFIK)
    assert lb.input("spec", "type") == "LoadBalancer"
    assert lb.input("spec", "selector") == {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": "traefik"}
    assert values["instanceLabelOverride"] == "traefik"
    assert not lb.deleted_with, "a load balancer must be deleted (and awaited) before its cluster"


@pytest.mark.parametrize("cloud, annotation", [
    ("aws", {"service.beta.kubernetes.io/aws-load-balancer-internal": "true"}),
    ("azure", {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}),
    ("gcp", {"networking.gke.io/load-balancer-type": "Internal"}),
])
def test_the_edge_is_the_stacks_ranges_or_the_clouds_internal_load_balancer(cloud, annotation, planned):
    from mlops_platform.planner.harness import plan_platform
    from mlops_platform.policies.offline import evaluate

    shipped = k8s_object(planned(f"{cloud}-prod"), "Service", "traefik-lb", names.NS_TRAEFIK)
    assert shipped.input("spec", "loadBalancerSourceRanges") == ["203.0.113.0/24"]
    assert not set(annotation) & set(shipped.input("metadata", "annotations") or {}), "internet-facing, with ranges"
    config = variant(f"{cloud}-prod", ingress={"internal": True})
    run = plan_platform(config)
    lb = k8s_object(run, "Service", "traefik-lb", names.NS_TRAEFIK)
    assert annotation.items() <= (lb.input("metadata", "annotations") or {}).items()
    assert not lb.input("spec", "loadBalancerSourceRanges")
    _, violations = evaluate(run, config)
    assert [v.to_json() for v in violations] == [], "an internal load balancer is a closed edge"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_no_deleted_with_on_load_balancers_or_volumes(stack, planned):
    for record in planned(stack).kubernetes_objects():
        if record.input("kind") in ("Service", "PersistentVolumeClaim"):
            assert not record.deleted_with, record.name


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_data_is_protected_in_prod_only(stack, planned):
    run = planned(stack)
    stateful = {
        "aws": ("aws:rds/instance:Instance", "aws:s3/bucket:Bucket"),
        "azure": ("azure-native:dbforpostgresql:Server", "azure-native:storage:StorageAccount"),
        "gcp": ("gcp:sql/databaseInstance:DatabaseInstance", "gcp:storage/bucket:Bucket"),
    }[stack.split("-")[0]]
    prod = stack.endswith("-prod")
    for type_token in stateful:
        for record in of(run, type_token):
            assert record.protect is prod, f"{record.name}: protect={record.protect}"


@pytest.mark.parametrize("stack", CLOUD_STACKS)
def test_kubeconfig_is_built_from_cluster_outputs_with_the_exec_plugin(stack, planned):
    config = variant(stack)
    document = kubeconfig_of(config)
    user = document["users"][0]["user"]
    assert "token" not in user and "client-key-data" not in user, "no static credentials"
    command = user["exec"]["command"]
    cloud = stack.split("-")[0]
    assert command == {"aws": "aws", "azure": "kubelogin", "gcp": "gke-gcloud-auth-plugin"}[cloud]
    if cloud == "aws":
        assert user["exec"]["args"][:4] == ["--region", "us-east-1", "eks", "get-token"]
    if cloud == "azure":
        assert user["exec"]["args"][:3] == ["get-token", "--login", "azurecli"]
    server = document["clusters"][0]["cluster"]["server"]
    assert server.startswith("https://") and "127.0.0.1" not in server
    provider = one(planned(stack), "pulumi:providers:kubernetes")
    assert provider.is_secret("kubeconfig")
    cluster_type = {"aws": "aws:eks/cluster:Cluster", "azure": "azure-native:containerservice:ManagedCluster",
                    "gcp": "gcp:container/cluster:Cluster"}[cloud]
    cluster = one(planned(stack), cluster_type)
    assert cluster.urn in provider.property_dependencies["kubeconfig"] or cluster.urn in provider.dependencies


def test_plan_needs_no_cloud_credentials(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_", "ARM_", "GOOGLE_", "CLOUDSDK_", "KUBECONFIG"))}
    env.update({"HOME": str(tmp_path), "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin"})
    env.pop("XDG_CACHE_HOME", None)  # renders cached under the empty HOME: every chart renders here

    def plan(stack: str) -> tuple[str, Any]:
        cloud, stack_env = stack.split("-", 1)
        return stack, subprocess.run(
            [sys.executable, "-c", "from mlops_platform.cli.app import main; main()", "plan", "--cloud", cloud,
             "--env", stack_env, "--json"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )

    # One stack per cloud (one plan per core), its prod one: it uses every SDK of its cloud.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for stack, result in pool.map(plan, [s for s in CLOUD_STACKS if s.endswith("-prod")]):
            assert result.returncode == 0, (stack, result.stderr[-2000:])
            assert json.loads(result.stdout)["stack"] == stack


# --- AWS ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_dev(planned) -> ProgramRun:
    return planned("aws-dev")


@pytest.fixture(scope="module")
def aws_prod(planned) -> ProgramRun:
    return planned("aws-prod")


def test_aws_vpc_spans_two_azs_with_tagged_public_and_private_subnets(aws_dev, aws_prod):
    for run, zones, nats in ((aws_dev, 2, 1), (aws_prod, 3, 3)):
        subnets = of(run, "aws:ec2/subnet:Subnet")
        public = [s for s in subnets if s.input("tags", "kubernetes.io/role/elb") == "1"]
        private = [s for s in subnets if s.input("tags", "kubernetes.io/role/internal-elb") == "1"]
        assert len(public) == len(private) == zones
        assert len({s.input("availabilityZone") for s in private}) == zones
        assert all(s.input("mapPublicIpOnLaunch") is False for s in public)
        assert len(of(run, "aws:ec2/natGateway:NatGateway")) == nats


def test_aws_eks_control_plane(aws_dev, aws_prod):
    for run, prod in ((aws_dev, False), (aws_prod, True)):
        eks = one(run, "aws:eks/cluster:Cluster")
        key = one(run, "aws:kms/key:Key", "-secrets-key")
        assert key.input("enableKeyRotation") is True
        assert eks.input("encryptionConfig", "resources") == ["secrets"]
        assert key.urn in eks.property_dependencies["encryptionConfig"]
        assert set(eks.input("enabledClusterLogTypes")) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
        assert eks.input("accessConfig", "authenticationMode") == "API"
        vpc = eks.input("vpcConfig")
        assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"] and "0.0.0.0/0" not in vpc["publicAccessCidrs"]
        assert vpc["endpointPrivateAccess"] is True
        private_ids = {s.urn for s in of(run, "aws:ec2/subnet:Subnet") if s.input("tags", "kubernetes.io/role/internal-elb")}
        assert set(eks.property_dependencies["vpcConfig"]) & private_ids == private_ids
        assert eks.input("upgradePolicy") == {"supportType": "STANDARD"}
        assert eks.input("deletionProtection") is prod
        logs = one(run, "aws:cloudwatch/logGroup:LogGroup", "-control-plane-logs")
        assert logs.input("name") == f"/aws/eks/{eks.input('name')}/cluster" and logs.input("retentionInDays") > 0


def test_aws_private_endpoint_drops_public_access():
    run = plan_platform(variant("aws-dev", cluster={"privateEndpoint": True, "nodeCount": 2}))
    vpc = one(run, "aws:eks/cluster:Cluster").input("vpcConfig")
    assert vpc["endpointPublicAccess"] is False and not vpc.get("publicAccessCidrs")


def test_aws_nodes_private_imdsv2_encrypted(aws_dev):
    template = one(aws_dev, "aws:ec2/launchTemplate:LaunchTemplate")
    meta = template.input("metadataOptions")
    assert meta["httpTokens"] == "required" and meta["httpPutResponseHopLimit"] == 1
    ebs = template.input("blockDeviceMappings")[0]["ebs"]
    assert ebs["encrypted"] == "true" and ebs["volumeType"] == "gp3"
    group = one(aws_dev, "aws:eks/nodeGroup:NodeGroup", "-nodes")
    private = {s.urn for s in of(aws_dev, "aws:ec2/subnet:Subnet") if s.input("tags", "kubernetes.io/role/internal-elb")}
    assert set(group.property_dependencies["subnetIds"]) == private
    assert template.urn in group.property_dependencies["launchTemplate"]
    assert group.input("launchTemplate", "version") == "1"
    assert group.input("taints") == []
    assert not [g for g in of(aws_dev, "aws:eks/nodeGroup:NodeGroup") if "gpu" in g.name]


def test_aws_gpu_pool_is_tainted_and_only_when_enabled():
    run = plan_platform(variant("aws-dev", cluster={"nodeCount": 2, "apiAllowedCidrs": ["203.0.113.0/24"],
                                                    "gpu": {"enabled": True, "nodeCount": 1}}))
    gpu = one(run, "aws:eks/nodeGroup:NodeGroup", "-gpu-nodes")
    assert gpu.input("taints") == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu.input("amiType") == "AL2023_x86_64_NVIDIA" and gpu.input("instanceTypes") == ["g4dn.xlarge"]
    assert gpu.input("scalingConfig", "minSize") == 0


def test_aws_ebs_csi_and_default_gp3_class(aws_dev):
    addon = one(aws_dev, "aws:eks/addon:Addon")
    assert addon.input("addonName") == "aws-ebs-csi-driver"
    role = next(r for r in of(aws_dev, "aws:iam/role:Role") if r.name.endswith("ebs-csi-role"))
    assert role.urn in addon.property_dependencies["serviceAccountRoleArn"]
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in role.input("assumeRolePolicy")
    sc = k8s_object(aws_dev, "StorageClass", "gp3")
    assert sc.input("metadata", "annotations") == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc.input("provisioner") == "ebs.csi.aws.com" and sc.input("parameters", "encrypted") == "true"
    assert sc.input("reclaimPolicy") == "Delete"
    prom = release_values(aws_dev, names.RELEASE_MONITORING)["prometheus"]["prometheusSpec"]
    assert prom["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp3"


def test_aws_irsa_roles_bound_to_the_right_service_accounts(aws_dev):
    roles = {r.name: r for r in of(aws_dev, "aws:iam/role:Role")}
    policies = {r.name: r for r in of(aws_dev, "aws:iam/rolePolicy:RolePolicy")}
    expectations = {
        "mlflow": ("mlflow:mlflow", True),
        "model-reader": ("models:model-reader", False),
        "detector": ("detectors:detector", False),
        "detector-fitter": ("detectors:detector-fitter", True),
    }
    for role_name, (subject, writes) in expectations.items():
        trust = json.loads(roles[f"mlops-data-{role_name}-role"].input("assumeRolePolicy"))
        condition = trust["Statement"][0]["Condition"]["StringEquals"]
        assert [v for k, v in condition.items() if k.endswith(":sub")] == [f"system:serviceaccount:{subject}"]
        assert [v for k, v in condition.items() if k.endswith(":aud")] == ["sts.amazonaws.com"]
        actions = json.loads(policies[f"mlops-data-{role_name}-s3"].input("policy"))["Statement"][0]["Action"]
        assert ("s3:PutObject" in actions) is writes
    mlflow = release_values(aws_dev, names.RELEASE_MLFLOW)
    assert mlflow["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    assert "existingSecret" not in mlflow["artifactRoot"]["s3"], "IRSA, not static keys"
    reader = k8s_object(aws_dev, "ServiceAccount", "model-reader")
    assert reader.input("metadata", "annotations", "eks.amazonaws.com/role-arn").startswith("arn:aws:iam::")


def test_aws_bucket_and_database(aws_dev, aws_prod):
    for run, prod in ((aws_dev, False), (aws_prod, True)):
        block = one(run, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "-artifacts-public-access")
        assert all(block.input(k) is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        sse = one(run, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "-artifacts-encryption")
        assert sse.input("rules")[0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] in ("AES256", "aws:kms")
        assert one(run, "aws:s3/bucketVersioning:BucketVersioning", "-artifacts-versioning").input("versioningConfiguration", "status") == "Enabled"
        assert one(run, "aws:s3/bucket:Bucket", "-artifacts").input("forceDestroy") is (not prod)
        db = one(run, "aws:rds/instance:Instance")
        assert db.input("publiclyAccessible") is False and db.input("storageEncrypted") is True
        assert db.input("backupRetentionPeriod") >= 7
        assert db.input("deletionProtection") is prod and db.input("skipFinalSnapshot") is (not prod)
        assert db.is_secret("password")
        sg = one(run, "aws:ec2/securityGroup:SecurityGroup", "db-sg")
        assert not sg.input("ingress"), "rules are their own resources, so the group needs nothing from the cluster"
        rule = one(run, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "db-from-cluster")
        assert rule.input("fromPort") == rule.input("toPort") == 5432 and rule.input("ipProtocol") == "tcp"
        assert rule.input("cidrIpv4") is None and rule.input("referencedSecurityGroupId")


def test_aws_traefik_uses_an_nlb(aws_dev):
    lb = k8s_object(aws_dev, "Service", "traefik-lb")
    assert lb.input("metadata", "annotations", "service.beta.kubernetes.io/aws-load-balancer-type") == "nlb"


# --- Azure ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def azure_dev(planned) -> ProgramRun:
    return planned("azure-dev")


def test_azure_aks_identity_and_network(azure_dev):
    aks = one(azure_dev, "azure-native:containerservice:ManagedCluster")
    assert aks.input("oidcIssuerProfile", "enabled") is True
    assert aks.input("securityProfile", "workloadIdentity", "enabled") is True
    aad = aks.input("aadProfile")
    assert aad["managed"] is True and aad["enableAzureRBAC"] is True
    assert aks.input("disableLocalAccounts") is True
    assert aks.input("networkProfile", "networkPolicy") == "cilium"
    assert aks.input("apiServerAccessProfile", "authorizedIPRanges") == ["203.0.113.0/24"]
    pools = aks.input("agentPoolProfiles")
    assert [p["name"] for p in pools] == ["system"] and pools[0]["mode"] == "System"
    assert pools[0]["enableNodePublicIP"] is False
    assert not of(azure_dev, "azure-native:containerservice:AgentPool")


def test_azure_gpu_pool_is_a_separate_agent_pool():
    run = plan_platform(variant("azure-dev", cluster={"nodeCount": 2, "apiAllowedCidrs": ["203.0.113.0/24"],
                                                      "gpu": {"enabled": True}}))
    pool = one(run, "azure-native:containerservice:AgentPool")
    assert pool.input("nodeTaints") == ["nvidia.com/gpu=true:NoSchedule"]
    assert pool.input("vmSize") == "Standard_NC4as_T4_v3" and pool.input("mode") == "User"
    assert len(one(run, "azure-native:containerservice:ManagedCluster").input("agentPoolProfiles")) == 1


def test_azure_storage_and_postgres(azure_dev):
    account = one(azure_dev, "azure-native:storage:StorageAccount", "-storage")
    assert account.input("allowBlobPublicAccess") is False
    assert account.input("minimumTlsVersion") == "TLS1_2"
    assert account.input("enableHttpsTrafficOnly") is True
    assert account.input("allowSharedKeyAccess") is False
    assert one(azure_dev, "azure-native:storage:BlobContainer").input("publicAccess") == "None"
    server = one(azure_dev, "azure-native:dbforpostgresql:Server")
    network = server.input("network")
    assert network["publicNetworkAccess"] == "Disabled" and network["delegatedSubnetResourceId"]
    assert server.input("backup", "backupRetentionDays") >= 7
    assert server.input("version") == "17"


def test_azure_identities_federated_to_the_right_service_accounts(azure_dev):
    aks = one(azure_dev, "azure-native:containerservice:ManagedCluster")
    creds = {r.input("subject"): r for r in of(azure_dev, "azure-native:managedidentity:FederatedIdentityCredential")}
    assert set(creds) == {
        "system:serviceaccount:mlflow:mlflow",
        "system:serviceaccount:models:model-reader",
        "system:serviceaccount:detectors:detector",
        "system:serviceaccount:detectors:detector-fitter",
        # The schema Job's, the database server's Entra admin (no object-store access).
        "system:serviceaccount:mlflow:mlflow-db-admin",
    }
    for credential in creds.values():
        assert credential.input("audiences") == ["api://AzureADTokenExchange"]
        assert aks.urn in credential.property_dependencies["issuer"]
    grants = of(azure_dev, "azure-native:authorization:RoleAssignment")
    contributor = [g for g in grants if g.input("roleDefinitionId", default="").endswith("ba92f5b4-2d11-453d-a403-e96b0029c9fe")]
    reader = [g for g in grants if g.input("roleDefinitionId", default="").endswith("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1")]
    assert len(contributor) == 2 and len(reader) == 2
    mlflow = release_values(azure_dev, names.RELEASE_MLFLOW)
    assert "azure.workload.identity/client-id" in mlflow["serviceAccount"]["annotations"]
    assert mlflow["extraPodLabels"] == {"azure.workload.identity/use": "true"}
    assert mlflow["artifactRoot"]["defaultArtifactsDestination"].startswith("wasbs://mlops-artifacts@")
    isvc = k8s_object(azure_dev, "InferenceService", "iris")
    assert isvc.input("spec", "predictor", "labels") == {"azure.workload.identity/use": "true"}
    # The detectors' pods, the fit Job's among them, opt in to the token projection too.
    fit = next(r for r in of(azure_dev, "kubernetes:batch/v1:Job") if r.name.endswith("-iris-fit"))
    fit_labels = fit.input("spec", "template", "metadata", "labels")
    assert fit_labels["azure.workload.identity/use"] == "true" and fit_labels["mlops.dev/model"] == "iris"
    assert fit.input("spec", "template", "spec", "serviceAccountName") == names.DETECTOR_FITTER.service_account
    drift = next(r for r in of(azure_dev, "kubernetes:apps/v1:Deployment") if r.name.endswith("-iris-drift"))
    assert drift.input("spec", "template", "metadata", "labels")["azure.workload.identity/use"] == "true"


# --- GCP --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcp_dev(planned) -> ProgramRun:
    return planned("gcp-dev")


def test_gcp_gke_cluster(gcp_dev, planned):
    for run, prod in ((gcp_dev, False), (planned("gcp-prod"), True)):
        gke = one(run, "gcp:container/cluster:Cluster")
        assert gke.input("removeDefaultNodePool") is True
        assert gke.input("privateClusterConfig", "enablePrivateNodes") is True
        assert gke.input("masterAuthorizedNetworksConfig", "cidrBlocks")[0]["cidrBlock"] == "203.0.113.0/24"
        assert gke.input("datapathProvider") == "ADVANCED_DATAPATH"  # Dataplane V2 enforces NetworkPolicy
        assert gke.input("enableShieldedNodes") is True
        assert gke.input("releaseChannel", "channel") == "REGULAR"
        assert gke.input("workloadIdentityConfig", "workloadPool") == "my-mlops-project.svc.id.goog"
        assert gke.input("deletionProtection") is prod


def test_gcp_node_pool_uses_metadata_server_and_its_own_account(gcp_dev):
    pool = one(gcp_dev, "gcp:container/nodePool:NodePool")
    node = pool.input("nodeConfig")
    assert node["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    account = one(gcp_dev, "gcp:serviceaccount/account:Account", "nodes-sa")
    assert node["serviceAccount"] == f"{account.input('accountId')}@my-mlops-project.iam.gserviceaccount.com"
    assert "compute@developer" not in node["serviceAccount"]
    assert node["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert pool.input("nodeCount") == 2  # one zone in the dev stack: the total lands in it


def test_gcp_bucket_and_cloud_sql(gcp_dev):
    bucket = one(gcp_dev, "gcp:storage/bucket:Bucket", "-artifacts")
    assert bucket.input("uniformBucketLevelAccess") is True
    assert bucket.input("publicAccessPrevention") == "enforced"
    assert bucket.input("versioning") == {"enabled": True}
    sql = one(gcp_dev, "gcp:sql/databaseInstance:DatabaseInstance")
    settings = sql.input("settings")
    assert settings["ipConfiguration"]["ipv4Enabled"] is False and settings["ipConfiguration"]["privateNetwork"]
    assert settings["backupConfiguration"]["enabled"] is True
    assert settings["backupConfiguration"]["backupRetentionSettings"]["retainedBackups"] >= 7
    assert settings["edition"] == "ENTERPRISE"
    assert sql.input("deletionProtection") is False


def test_gcp_workload_identity_bindings(gcp_dev):
    members = {r.input("member") for r in of(gcp_dev, "gcp:serviceaccount/iAMMember:IAMMember")}
    assert "serviceAccount:my-mlops-project.svc.id.goog[mlflow/mlflow]" in members
    assert "serviceAccount:my-mlops-project.svc.id.goog[models/model-reader]" in members
    roles = {r.name: r.input("role") for r in of(gcp_dev, "gcp:storage/bucketIAMMember:BucketIAMMember")}
    assert roles["mlops-data-mlflow-bucket"] == "roles/storage.objectAdmin"
    assert roles["mlops-data-model-reader-bucket"] == "roles/storage.objectViewer"
    reader = k8s_object(gcp_dev, "ServiceAccount", "model-reader")
    assert reader.input("metadata", "annotations", "iam.gke.io/gcp-service-account").endswith(".iam.gserviceaccount.com")
    job = next(r for r in gcp_dev.kubernetes_objects() if r.input("kind") == "Job" and r.input("metadata", "name").startswith("iris-fit"))
    upload = job.input("spec", "template", "spec", "containers")[0]
    assert upload["image"].startswith("gcr.io/google.com/cloudsdktool/google-cloud-cli:")
    assert "gcloud storage cp" in upload["args"][0]
