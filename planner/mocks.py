"""Realistic mock outputs for the resources and invokes the platform uses.

Under `pulumi.runtime.set_mocks` the real program runs; only the engine and providers are
replaced. These mocks answer as the providers would: computed outputs (endpoints, ARNs, OIDC
issuers, kubeconfigs) appear with plausible values, and outputs the providers mark secret are
returned as secrets. Nothing here touches the network or needs credentials.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any, Callable, Optional

import pulumi
from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

ACCOUNT_ID = "123456789012"
TENANT_ID = "00000000-0000-4000-8000-000000000001"
SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000002"
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n").decode()


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def fake_kubeconfig(server: str, name: str) -> str:
    return (
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: {name}\n  cluster:\n    server: {server}\n    certificate-authority-data: {FAKE_CA}\n"
        f"contexts:\n- name: {name}\n  context:\n    cluster: {name}\n    user: {name}\n"
        f"current-context: {name}\n"
        f"users:\n- name: {name}\n  user:\n    client-certificate-data: {FAKE_CA}\n    client-key-data: {FAKE_CA}\n"
    )


class SecretOutput:
    """A provider output the provider marks secret; the mocks record its value (PlatformMocks.secret_values)."""

    def __init__(self, value: str):
        self.value = value


# What an offline plan shows in place of a CA bundle the program fetches when it runs for real.
BUNDLE_STAND_IN = "-----BEGIN CERTIFICATE-----\nMOCK BUNDLE\n-----END CERTIFICATE-----\n"


class PlatformMocks(Mocks):
    """Answers resource registrations and invokes with provider-shaped outputs."""

    def __init__(self) -> None:
        self._provider_config: dict[str, dict] = {}  # provider id -> its inputs (project, region, ...)
        # Every value handed out as a provider secret output: the plan masks exactly these
        # wherever they reach an input (planner/harness.py).
        self.secret_values: set[str] = set()
        # Every CA bundle address the program asked for (its own fetch is not run offline).
        self.bundles_asked: list[str] = []

    def published_bundle(self, url: str) -> str:
        """The stand-in for a published CA bundle (components/data/db_trust.py bundle_source)."""
        self.bundles_asked.append(url)
        return BUNDLE_STAND_IN

    def _outputs(self, state: dict[str, Any]) -> dict[str, Any]:
        """The state with each SecretOutput a pulumi secret, its value recorded."""
        out = {}
        for key, value in state.items():
            if isinstance(value, SecretOutput):
                if len(value.value) >= 8:
                    self.secret_values.add(value.value)
                value = pulumi.Output.secret(value.value)
            out[key] = value
        return out

    def new_resource(self, args: MockResourceArgs) -> tuple[Optional[str], dict]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        resource_id = f"{name}-id"
        if typ.startswith("pulumi:providers:"):
            self._provider_config[resource_id] = inputs
            return resource_id, inputs
        # Defaults a real provider would apply from its own configuration (e.g. the GCP project).
        provider_config = self._provider_config.get((args.provider or "").rsplit("::", 1)[-1], {})
        if typ.startswith("gcp:") and "project" not in inputs and provider_config.get("project"):
            inputs["project"] = provider_config["project"]
        state: dict[str, Any] = dict(inputs)
        handler = _RESOURCE_OUTPUTS.get(typ)
        if handler is not None:
            resource_id, extra = handler(name, inputs)
            state.update(extra)
        elif typ.startswith("kubernetes:") and not typ.startswith("kubernetes:helm.sh"):
            meta = dict(inputs.get("metadata") or {})
            meta.setdefault("uid", _digest(typ, name)[:32])
            state["metadata"] = meta
            ns = meta.get("namespace")
            resource_id = f"{ns}/{meta.get('name', name)}" if ns else str(meta.get("name", name))
        elif typ.startswith("aws:"):
            state.setdefault("arn", f"arn:aws:{typ.split(':')[1].split('/')[0]}:us-east-1:{ACCOUNT_ID}:{name}")
            state.setdefault("id", resource_id)
        elif typ.startswith("gcp:"):
            state.setdefault("selfLink", f"https://www.googleapis.com/mock/{name}")
            state.setdefault("name", inputs.get("name", name))
        elif typ.startswith("azure-native:"):
            # Azure names a resource by its type-specific name input (containerName, serverName, ...).
            given = next((inputs[k] for k in _AZURE_NAME_INPUTS if inputs.get(k)), name)
            resource_id = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/mock/providers/{typ}/{given}"
            state.setdefault("name", given)
        identity = state.get("identity")
        if typ.startswith("azure-native:") and isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # Azure answers the user-assigned identities it was given as a map of id -> their ids.
            state["identity"] = {**identity, "userAssignedIdentities": {
                i: {"clientId": _uuid(name, "uai-client"), "principalId": _uuid(name, "uai-principal")}
                for i in identity["userAssignedIdentities"]}}
        return resource_id, self._outputs(state)

    def call(self, args: MockCallArgs) -> tuple[dict, list[tuple[str, str]]]:
        handler = _CALL_OUTPUTS.get(args.token)
        return (handler(dict(args.args)) if handler else {}), []


# --- resources --------------------------------------------------------------------------------

_AZURE_NAME_INPUTS = (
    "resourceName",
    "containerName",
    "accountName",
    "serverName",
    "databaseName",
    "virtualNetworkName",
    "subnetName",
    "privateZoneName",
    "virtualNetworkLinkName",
    "agentPoolName",
    "federatedIdentityCredentialResourceName",
    "resourceGroupName",  # last: every resource carries its group's name
)


def _command(name: str, inputs: dict) -> tuple[str, dict]:
    create = str(inputs.get("create", ""))
    stdout = ""
    if "kind get kubeconfig" in create:
        cluster = create.rsplit("--name ", 1)[-1].strip().strip("'")
        stdout = fake_kubeconfig("https://127.0.0.1:6443", f"kind-{cluster}")
    # pulumi-command marks stdout secret only when asked; the kind component asks.
    return name, {"stdout": SecretOutput(stdout) if stdout else "", "stderr": ""}


def _random_secret(name: str, inputs: dict) -> tuple[str, dict]:
    length = int(inputs.get("length", 16))
    value = ("mock" + _digest("random", name))[:length]
    # Ref: pulumi-random marks RandomPassword.result and bcryptHash as secret outputs.
    return name, {"result": SecretOutput(value), "bcryptHash": SecretOutput(f"$2a$10$mock{value}")}


def _random_string(name: str, inputs: dict) -> tuple[str, dict]:
    length = int(inputs.get("length", 16))
    value = _digest("random", name)  # lower-case hex: valid wherever the inputs allow letters and digits
    return name, {"result": (value.upper() if inputs.get("lower") is False else value)[:length]}


def _helm_release(name: str, inputs: dict) -> tuple[str, dict]:
    release = inputs.get("name", name)
    namespace = inputs.get("namespace", "default")
    return f"{namespace}/{release}", {
        "status": {
            "name": release,
            "namespace": namespace,
            "chart": inputs.get("chart"),
            "version": inputs.get("version"),
            "revision": 1,
            "status": "deployed",
        }
    }


def _eks_cluster(name: str, inputs: dict) -> tuple[str, dict]:
    cluster = inputs.get("name", name)
    return cluster, {
        "name": cluster,
        "arn": f"arn:aws:eks:us-east-1:{ACCOUNT_ID}:cluster/{cluster}",
        "endpoint": f"https://{_digest(cluster)[:32].upper()}.gr7.us-east-1.eks.amazonaws.com",
        "certificateAuthority": {"data": FAKE_CA},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.us-east-1.amazonaws.com/id/{_digest(cluster)[:32].upper()}"}]}],
        "vpcConfig": {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": "sg-0mockcluster"},
    }


def _aws_generic(prefix: str) -> Callable[[str, dict], tuple[str, dict]]:
    def handler(name: str, inputs: dict) -> tuple[str, dict]:
        rid = f"{prefix}-{_digest(name)[:17]}"
        return rid, {"id": rid, "arn": f"arn:aws:ec2:us-east-1:{ACCOUNT_ID}:{prefix}/{rid}"}

    return handler


# What a gateway endpoint's prefix list holds is known only once it exists: an offline plan shows two
# of us-east-1's S3 ranges in its place (https://ip-ranges.amazonaws.com/ip-ranges.json, service S3).
S3_PREFIX_LIST_STAND_IN = ("52.216.0.0/15", "54.231.0.0/16")


def _vpc_endpoint(name: str, inputs: dict) -> tuple[str, dict]:
    rid, state = _aws_generic("vpce")(name, inputs)
    gateway = inputs.get("vpcEndpointType") == "Gateway"
    return rid, {**state, "cidrBlocks": list(S3_PREFIX_LIST_STAND_IN) if gateway else []}


def _iam_role(name: str, inputs: dict) -> tuple[str, dict]:
    role = inputs.get("name") or f"{name}-{_digest(name)[:7]}"
    return role, {"name": role, "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{role}"}


def _oidc_provider(name: str, inputs: dict) -> tuple[str, dict]:
    url = str(inputs.get("url", "")).replace("https://", "")
    return name, {"arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{url}"}


def _s3_bucket(name: str, inputs: dict) -> tuple[str, dict]:
    bucket = inputs.get("bucket") or f"{name}-{_digest(name)[:8]}"
    return bucket, {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}"}


def _rds_instance(name: str, inputs: dict) -> tuple[str, dict]:
    ident = inputs.get("identifier") or name
    host = f"{ident}.cmockabc123.us-east-1.rds.amazonaws.com"
    return ident, {"address": host, "endpoint": f"{host}:5432", "port": inputs.get("port", 5432)}


def _kms_key(name: str, inputs: dict) -> tuple[str, dict]:
    key = _digest(name)[:8] + "-0000-4000-8000-" + _digest(name)[:12]
    return key, {"keyId": key, "arn": f"arn:aws:kms:us-east-1:{ACCOUNT_ID}:key/{key}"}


def _aks_cluster(name: str, inputs: dict) -> tuple[str, dict]:
    cluster = inputs.get("resourceName", name)
    group = inputs.get("resourceGroupName", "rg")
    rid = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/{group}/providers/Microsoft.ContainerService/managedClusters/{cluster}"
    return rid, {
        "name": cluster,
        "fqdn": f"{cluster}-mock.hcp.eastus.azmk8s.io",
        "oidcIssuerProfile": {"enabled": True, "issuerURL": f"https://eastus.oic.prod-aks.azure.com/{TENANT_ID}/{_digest(cluster)[:8]}/"},
        "identityProfile": {"kubeletidentity": {"objectId": _uuid(cluster, "kubelet"), "clientId": _uuid(cluster, "kc")}},
    }


def _uuid(*parts: str) -> str:
    d = _digest(*parts)
    return f"{d[:8]}-{d[8:12]}-4{d[13:16]}-8{d[17:20]}-{d[20:32]}"


def azure_identity_ids(name: str) -> tuple[str, str]:
    """The (client id, principal id) the mocks give the user-assigned identity of resource `name`."""
    return _uuid(name, "client"), _uuid(name, "principal")


def _azure_identity(name: str, inputs: dict) -> tuple[str, dict]:
    identity = inputs.get("resourceName", name)
    rid = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{identity}"
    client, principal = azure_identity_ids(name)
    return rid, {"name": identity, "clientId": client, "principalId": principal, "tenantId": TENANT_ID}


def _azure_storage_account(name: str, inputs: dict) -> tuple[str, dict]:
    account = inputs.get("accountName") or f"mlops{_digest(name)[:10]}"
    rid = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{account}"
    return rid, {"name": account, "primaryEndpoints": {"blob": f"https://{account}.blob.core.windows.net/"}}


def _azure_vault(name: str, inputs: dict) -> tuple[str, dict]:
    vault = inputs.get("vaultName") or name
    rid = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/{vault}"
    return rid, {"name": vault, "properties": {**inputs.get("properties", {}), "vaultUri": f"https://{vault}.vault.azure.net/"}}


def _azure_vault_key(name: str, inputs: dict) -> tuple[str, dict]:
    vault, key = inputs.get("vaultName", "vault"), inputs.get("keyName") or name
    rid = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/{vault}/keys/{key}"
    uri = f"https://{vault}.vault.azure.net/keys/{key}"
    return rid, {"name": key, "keyUri": uri, "keyUriWithVersion": f"{uri}/{_digest(name)[:32]}"}


def _azure_postgres(name: str, inputs: dict) -> tuple[str, dict]:
    server = inputs.get("serverName") or name
    rid = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/{server}"
    return rid, {"name": server, "fullyQualifiedDomainName": f"{server}.postgres.database.azure.com"}


def _cognito_pool(name: str, inputs: dict) -> tuple[str, dict]:
    pool = f"us-east-1_{_digest(name)[:9]}"
    return pool, {"endpoint": f"cognito-idp.us-east-1.amazonaws.com/{pool}",
                  "arn": f"arn:aws:cognito-idp:us-east-1:{ACCOUNT_ID}:userpool/{pool}"}


def _cognito_client(name: str, inputs: dict) -> tuple[str, dict]:
    # Ref: pulumi-aws marks UserPoolClient.clientSecret secret.
    client = _digest("cognito-client", name)[:26]
    return client, {"clientSecret": SecretOutput("mock" + _digest("cognito-secret", name)[:48])}


def _entra_application(name: str, inputs: dict) -> tuple[str, dict]:
    object_id = _uuid(name, "object")
    return f"/applications/{object_id}", {"clientId": _uuid(name, "client"), "objectId": object_id}


def _entra_password(name: str, inputs: dict) -> tuple[str, dict]:
    # Ref: pulumi-azuread marks ApplicationPassword.value secret.
    return _uuid(name, "key"), {"value": SecretOutput("mock~" + _digest("entra-secret", name)[:36]), "keyId": _uuid(name, "key")}


def _gke_cluster(name: str, inputs: dict) -> tuple[str, dict]:
    cluster = inputs.get("name", name)
    return cluster, {
        "name": cluster,
        "endpoint": "34.56.78.90",
        "masterAuth": {"clusterCaCertificate": FAKE_CA},
    }


def _gcp_service_account(name: str, inputs: dict) -> tuple[str, dict]:
    account = inputs.get("accountId", name)
    project = inputs.get("project", "mock-project")
    email = f"{account}@{project}.iam.gserviceaccount.com"
    return email, {"email": email, "name": f"projects/{project}/serviceAccounts/{email}", "member": f"serviceAccount:{email}"}


def _session_issuer(arn: str) -> str:
    match = re.match(r"^arn:(aws[a-z-]*):sts::([0-9]{12}):assumed-role/([^/]+)/.+$", arn)
    return f"arn:{match.group(1)}:iam::{match.group(2)}:role/{match.group(3)}" if match else arn


# The project number the mocks answer (getProject), and the agents Google names after it.
PROJECT_NUMBER = "123456789012"
_AGENT_DOMAINS = {"sqladmin.googleapis.com": "gcp-sa-cloud-sql"}  # Ref: https://cloud.google.com/iam/docs/service-agents


def _gcp_service_identity(name: str, inputs: dict) -> tuple[str, dict]:
    domain = _AGENT_DOMAINS.get(inputs.get("service", ""), "gcp-sa-" + inputs.get("service", name).split(".")[0])
    email = f"service-{PROJECT_NUMBER}@{domain}.iam.gserviceaccount.com"
    return f"{name}-id", {"email": email, "member": f"serviceAccount:{email}"}


def _gcs_agent(_args: dict) -> dict:
    email = f"service-{PROJECT_NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
    return {"emailAddress": email, "member": f"serviceAccount:{email}", "project": "mock-project"}


# The block Google allocates for Private Service Access (Cloud SQL's address, below, is in it).
GCP_PEERING_ADDRESS = "10.70.0.0"


def _gcp_global_address(name: str, inputs: dict) -> tuple[str, dict]:
    return f"{name}-id", {"address": GCP_PEERING_ADDRESS} if inputs.get("purpose") == "VPC_PEERING" else {}


def _gcp_sql(name: str, inputs: dict) -> tuple[str, dict]:
    instance = inputs.get("name", name)
    # The instance's CA, as Cloud SQL lists it (its current one; two during a rotation).
    server_ca = {"cert": base64.b64decode(FAKE_CA).decode(), "commonName": "C=US,O=Google\\, Inc,CN=Google Cloud SQL Server CA"}
    return instance, {"privateIpAddress": "10.70.0.3", "connectionName": f"mock-project:us-central1:{instance}",
                      "serverCaCerts": [server_ca]}


_RESOURCE_OUTPUTS = {
    "command:local:Command": _command,
    "random:index/randomPassword:RandomPassword": _random_secret,
    "random:index/randomString:RandomString": _random_string,
    "kubernetes:helm.sh/v3:Release": _helm_release,
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:ec2/vpc:Vpc": _aws_generic("vpc"),
    "aws:ec2/subnet:Subnet": _aws_generic("subnet"),
    "aws:ec2/securityGroup:SecurityGroup": _aws_generic("sg"),
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, inputs: (
        _aws_generic("lt")(name, inputs)[0],
        {**_aws_generic("lt")(name, inputs)[1], "latestVersion": 1, "defaultVersion": 1},
    ),
    "aws:ec2/natGateway:NatGateway": _aws_generic("nat"),
    "aws:ec2/internetGateway:InternetGateway": _aws_generic("igw"),
    "aws:ec2/eip:Eip": _aws_generic("eipalloc"),
    "aws:ec2/routeTable:RouteTable": _aws_generic("rtb"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:kms/key:Key": _kms_key,
    "aws:cognito/userPool:UserPool": _cognito_pool,
    "aws:cognito/userPoolClient:UserPoolClient": _cognito_client,
    "azuread:index/application:Application": _entra_application,
    "azuread:index/applicationPassword:ApplicationPassword": _entra_password,
    "azuread:index/servicePrincipal:ServicePrincipal": lambda name, inputs: (_uuid(name, "sp"), {"objectId": _uuid(name, "sp")}),
    "azure-native:containerservice:ManagedCluster": _aks_cluster,
    "azure-native:managedidentity:UserAssignedIdentity": _azure_identity,
    "azure-native:storage:StorageAccount": _azure_storage_account,
    "azure-native:dbforpostgresql:Server": _azure_postgres,
    "azure-native:keyvault:Vault": _azure_vault,
    "azure-native:keyvault:Key": _azure_vault_key,
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:serviceaccount/account:Account": _gcp_service_account,
    "gcp:sql/databaseInstance:DatabaseInstance": _gcp_sql,
    "gcp:compute/globalAddress:GlobalAddress": _gcp_global_address,
    "gcp:projects/serviceIdentity:ServiceIdentity": _gcp_service_identity,
}


# --- invokes ----------------------------------------------------------------------------------


def _aks_credentials(args: dict) -> dict:
    cluster = args.get("resourceName", "aks")
    config = fake_kubeconfig(f"https://{cluster}-mock.hcp.eastus.azmk8s.io:443", cluster)
    return {"kubeconfigs": [{"name": "clusterUser", "value": base64.b64encode(config.encode()).decode()}]}


_CALL_OUTPUTS: dict[str, Callable[[dict], dict]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda a: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/mock",
        "userId": "AIDAMOCK",
    },
    # An assumed role's session names its role; any other ARN is its own issuer (as IAM answers).
    "aws:iam/getSessionContext:getSessionContext": lambda a: {
        "arn": a["arn"], "issuerArn": _session_issuer(a["arn"]), "issuerId": "AROAMOCK", "issuerName": "mock", "sessionName": "mock"},
    "aws:index/getPartition:getPartition": lambda a: {"partition": "aws", "dnsSuffix": "amazonaws.com"},
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda a: {
        "names": ["us-east-1a", "us-east-1b", "us-east-1c"],
        "zoneIds": ["use1-az1", "use1-az2", "use1-az4"],
    },
    "azure-native:authorization:getClientConfig": lambda a: {
        "clientId": _uuid("client"),
        "objectId": _uuid("object"),
        "subscriptionId": SUBSCRIPTION_ID,
        "tenantId": TENANT_ID,
    },
    "azure-native:containerservice:listManagedClusterUserCredentials": _aks_credentials,
    "gcp:organizations/getProject:getProject": lambda a: {
        "projectId": a.get("projectId", "mock-project"),
        "number": PROJECT_NUMBER,
        "name": a.get("projectId", "mock-project"),
    },
    "gcp:storage/getProjectServiceAccount:getProjectServiceAccount": _gcs_agent,
    "gcp:organizations/getClientConfig:getClientConfig": lambda a: {
        "project": "mock-project",
        "region": "us-central1",
        "accessToken": "mock",
    },
}
