"""KindCluster: a local Kubernetes cluster in Docker, driven by the kind CLI.

The host's 127.0.0.1:80 and :443 are mapped onto NodePorts of the node labelled
`ingress-ready=true`, where Traefik's Service listens. No pod needs a hostPort, so the traefik
namespace enforces the restricted Pod Security level like every other namespace.
Ref: https://kind.sigs.k8s.io/docs/user/configuration/#extra-port-mappings
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_command as command
import yaml

from .. import image_source, names, versions
from .outputs import ClusterOutputs, IngressExposure, kubernetes_provider

HTTP_NODE_PORT = 30080
API_SERVER = "https://127.0.0.1"  # kind publishes the API server on a random port of this address
HTTPS_NODE_PORT = 30443
INGRESS_LABEL = "ingress-ready"


@dataclass(frozen=True)
class KindClusterArgs:
    cluster_name: str
    node_count: int = 1  # the control plane counts as the first node
    node_image: str = versions.KIND_NODE_IMAGE.ref


def kind_config(args: KindClusterArgs) -> str:
    """The kind cluster configuration (kind.x-k8s.io/v1alpha4)."""
    control_plane = {
        "role": "control-plane",
        "image": args.node_image,
        "kubeadmConfigPatches": [
            "kind: InitConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n"
            f"    node-labels: \"{INGRESS_LABEL}=true\"\n"
        ],
        "extraPortMappings": [
            {"containerPort": HTTP_NODE_PORT, "hostPort": 80, "listenAddress": "127.0.0.1", "protocol": "TCP"},
            {"containerPort": HTTPS_NODE_PORT, "hostPort": 443, "listenAddress": "127.0.0.1", "protocol": "TCP"},
        ],
    }
    workers = [{"role": "worker", "image": args.node_image} for _ in range(args.node_count - 1)]
    return yaml.safe_dump(
        {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "nodes": [control_plane, *workers]},
        sort_keys=False,
    )


class KindCluster(pulumi.ComponentResource):
    outputs: ClusterOutputs

    @staticmethod
    def args_from(config: Any) -> KindClusterArgs:  # config: PlatformConfig
        return KindClusterArgs(cluster_name=names.cluster_name(config.env), node_count=config.cluster.node_count,
                               node_image=image_source.for_stack(config).ref(versions.KIND_NODE_IMAGE))

    def __init__(self, name: str, args: KindClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:cluster:KindCluster", name, None, opts)
        cluster = shlex.quote(args.cluster_name)
        config = kind_config(args)
        # Idempotent: a cluster left behind by an interrupted run is reused, not re-created.
        # kind's own progress goes to stderr; stdout carries only the kubeconfig.
        create = (
            f"if ! kind get clusters 2>/dev/null | grep -qx {cluster}; then "
            f"kind create cluster --name {cluster} --config - --wait 180s >&2; fi; "
            f"kind get kubeconfig --name {cluster}"
        )
        self.cluster = command.local.Command(
            f"{name}-kind",
            create=create,
            delete=f"kind delete cluster --name {cluster}",
            stdin=config,
            triggers=[config],
            # The kubeconfig carries a client key: keep it a secret in state and in outputs.
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["stdout"]),
        )
        kubeconfig = pulumi.Output.secret(self.cluster.stdout)
        # A kind cluster deleted out of band must not block `destroy`.
        self.provider = kubernetes_provider(f"{name}-k8s", kubeconfig, self, [self.cluster], delete_unreachable=True)
        node_selector = {INGRESS_LABEL: "true"}
        tolerations = (
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
        )
        self.outputs = ClusterOutputs(
            cloud="local",
            name=pulumi.Output.from_input(args.cluster_name),
            endpoint=pulumi.Output.from_input(API_SERVER),
            kubeconfig=kubeconfig,
            provider=self.provider,
            storage_class="standard",  # kind's local-path provisioner
            ingress=IngressExposure(
                service_type="NodePort",
                node_ports=(HTTP_NODE_PORT, HTTPS_NODE_PORT),
                node_selector=node_selector,
                tolerations=tolerations,
            ),
            node_count=args.node_count,
            ready=(self.cluster,),
        )
        self.register_outputs(self.outputs.registered())
