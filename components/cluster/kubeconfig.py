"""Kubeconfigs built from a cluster's own outputs, authenticating with the cloud's exec plugin.

Never the ambient kube context: the server and CA come from the cluster resource, the token from
the standard plugin (`aws eks get-token`, `kubelogin`, `gke-gcloud-auth-plugin`) at the moment the
Kubernetes provider needs it, so no long-lived credential is stored in state.
Ref: https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins
"""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi
import yaml

EXEC_API = "client.authentication.k8s.io/v1beta1"
# The Entra ID application of the AKS AAD server (the same for every managed-AAD cluster).
# Ref: https://azure.github.io/kubelogin/concepts/aks.html
AKS_SERVER_APP_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"


def exec_kubeconfig(
    name: str,
    server: str,
    ca_data: str,
    command: str,
    args: Sequence[str],
    install_hint: str,
    provide_cluster_info: bool = False,
    env: Optional[dict[str, str]] = None,
) -> str:
    user: dict = {
        "exec": {
            "apiVersion": EXEC_API,
            "command": command,
            "args": list(args),
            "interactiveMode": "Never",
            "installHint": install_hint,
            "provideClusterInfo": provide_cluster_info,
        }
    }
    if env:
        user["exec"]["env"] = [{"name": k, "value": v} for k, v in env.items()]
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": user}],
    }
    return yaml.safe_dump(document, sort_keys=False)


def eks(name: pulumi.Input[str], endpoint: pulumi.Input[str], ca_data: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    return pulumi.Output.all(name, endpoint, ca_data).apply(
        lambda v: exec_kubeconfig(
            v[0],
            v[1],
            v[2],
            "aws",
            ["--region", region, "eks", "get-token", "--cluster-name", v[0], "--output", "json"],
            "Install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html",
        )
    )


def aks(name: pulumi.Input[str], server: pulumi.Input[str], ca_data: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.all(name, server, ca_data).apply(
        lambda v: exec_kubeconfig(
            v[0],
            v[1],
            v[2],
            "kubelogin",
            ["get-token", "--login", "azurecli", "--server-id", AKS_SERVER_APP_ID],
            "Install kubelogin: https://azure.github.io/kubelogin/install.html (az aks install-cli)",
        )
    )


def gke(name: pulumi.Input[str], endpoint: pulumi.Input[str], ca_data: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.all(name, endpoint, ca_data).apply(
        lambda v: exec_kubeconfig(
            v[0],
            f"https://{v[1]}",
            v[2],
            "gke-gcloud-auth-plugin",
            [],
            "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
            provide_cluster_info=True,
        )
    )


def server_and_ca(kubeconfig_text: str) -> tuple[str, str]:
    """The API server URL and CA of the first cluster in a kubeconfig (for AKS credentials)."""
    document = yaml.safe_load(kubeconfig_text)
    cluster = document["clusters"][0]["cluster"]
    return cluster["server"], cluster["certificate-authority-data"]
