"""KServe in Standard deployment mode: plain Deployments and Ingresses, no Knative, no Istio.

Three charts in order: kserve-crd (the CRDs), kserve-resources (controller and webhooks, which
validate the ClusterServingRuntimes), kserve-runtime-configs (the model server runtimes).
Ref: https://kserve.github.io/website/docs/admin-guide/kubernetes-deployment
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names, network, versions
from ..image_source import ImageSource
from ..requests import WorkloadRequest, from_values

WEBHOOK_PORT = 9443  # kserve-controller-manager's webhook server


@dataclass(frozen=True)
class KServeArgs:
    provider: k8s.Provider
    domain: str
    cert_manager: tuple[pulumi.Resource, ...] = ()  # its release: the controller chart's webhook certificates
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)
    model_formats: frozenset[str] = frozenset()  # of the stack's models: what enables an aged runtime
    images: ImageSource = ImageSource()  # where each image is pulled from (lock, mirror)


def resources_values(domain: str) -> dict[str, Any]:
    return {
        "kserve": {
            # Predictor pods get no service-account token unless their spec asks for one.
            "security": {"autoMountServiceAccountToken": False},
            "controller": {
                # "Standard" is the v0.20 name of RawDeployment. Ref: kserve v0.20.0 release notes
                "deploymentMode": "Standard",
                "gateway": {
                    "domain": domain,
                    "urlScheme": "https",
                    "disableIstioVirtualHost": True,
                    # ModelServing writes each model's route (an IngressRoute with its certificate and
                    # its token check): KServe's own Ingress would have neither.
                    "disableIngressCreation": True,
                    "ingressGateway": {"className": names.INGRESS_CLASS},
                },
                "resources": kube.resources("50m", "128Mi", "300Mi"),
                "rbacProxy": {"resources": kube.resources("10m", "32Mi", "128Mi")},
            },
            # The storage-initializer init container of every predictor.
            "storage": {"resources": kube.resources("50m", "64Mi", "1Gi")},
        }
    }


# The serving runtimes for the model formats PlatformConfig accepts stay enabled; the others are
# disabled (KServe never picks them; vllmserver's image is `latest`). The multinode Hugging Face
# runtime cannot be disabled on its own: chart v0.20.0 reads its `disabled` from
# `huggingfaceserver` (files/runtimes/clusterservingruntimes-patch.yaml), so it follows that one.
RUNTIMES_USED = ("sklearnserver", "xgbserver", "lgbserver", "tensorflow", "torchserve", "tritonserver",
                 "huggingfaceserver", "huggingfaceserver_multinode", "mlserver")
RUNTIMES_UNUSED = ("autogluonserver", "paddleserver", "pmmlserver", "predictiveserver", "vllmserver")


# Runtimes whose image (the chart's pin) is years old: tensorflow/serving 2.6.2 (2021) and Triton
# 23.05 (May 2023), with the formats KServe would give them (tensorflow: protocol v1; onnx: Triton,
# the only runtime auto-selecting it). Each is enabled only in a stack serving a model of those
# formats, so a stack that does not need one does not carry it (`platform images list`).
AGED_RUNTIMES = {"tensorflow": frozenset({"tensorflow"}), "tritonserver": frozenset({"onnx"})}


def runtime_values(model_formats: frozenset[str] = frozenset()) -> dict[str, Any]:
    runtimes: dict[str, Any] = {"enabled": True}
    aged = {runtime for runtime, formats in AGED_RUNTIMES.items() if not formats & model_formats}
    for runtime in RUNTIMES_USED:
        if runtime in aged:
            runtimes[runtime] = {"disabled": True}
            continue
        # Each runtime's container securityContext merges with the chart's (non-root, no escalation,
        # drop ALL); the seccomp profile keeps a runtime admissible on its own under restricted.
        runtimes[runtime] = {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}
    for runtime in RUNTIMES_UNUSED:
        runtimes[runtime] = {"disabled": True}
    return {"kserve": {"servingruntime": runtimes}}


def chart_requests(values: dict[str, Any]) -> list[WorkloadRequest]:
    return [
        from_values("kserve-controller", values, ("kserve", "controller", "resources")),
        from_values("kserve-rbac-proxy", values, ("kserve", "controller", "rbacProxy", "resources")),
    ]


class KServe(pulumi.ComponentResource):
    def __init__(self, name: str, args: KServeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:KServe", name, None, opts)
        provider = args.provider
        ns = kube.namespace(names.NS_KSERVE, f"{name}-ns", self, provider, depends_on=args.depends_on)
        network.namespace_policies(
            name, names.NS_KSERVE, self, provider,
            ingress=[network.from_anywhere(WEBHOOK_PORT)],
            egress=[network.to_kubernetes_api()],
            depends_on=ns.ready,
        )
        self.crds = kube.helm_release(f"{name}-crd", names.RELEASE_KSERVE_CRD, versions.KSERVE_CRD, ns.name, self, provider,
                                      ns.ready, images=args.images)
        self.controller = kube.helm_release(f"{name}-resources", names.RELEASE_KSERVE, versions.KSERVE_RESOURCES, ns.name, self,
                                            provider, [self.crds, *args.cert_manager], values=resources_values(args.domain),
                                            images=args.images)
        self.runtimes = kube.helm_release(f"{name}-runtimes", names.RELEASE_KSERVE_RUNTIMES, versions.KSERVE_RUNTIME_CONFIGS,
                                          ns.name, self, provider, [self.controller], values=runtime_values(args.model_formats),
                                          images=args.images)
        self.ready: tuple[pulumi.Resource, ...] = (self.runtimes,)
        self.register_outputs({"runtimes": self.runtimes.status})
