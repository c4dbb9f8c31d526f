"""ModelServing: one KServe InferenceService per configured model, in the `models` namespace.

Each predictor runs under the `model-reader` service account (the cloud identity that may read
the object store, or on kind a Secret KServe's storage initializer reads), and, when the model is
watched, logs every request to its detectors (`spec.predictor.logger`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names, network
from ..config import ModelConfig
from ..data.outputs import ObjectStore, WorkloadAccess

MODEL_UID = 1000  # KServe's model server images run as uid 1000
MODEL_PORT = 8080  # KServe model servers
AGENT_PORT = 9081  # KServe's agent (logger) proxy in front of the model server


@dataclass(frozen=True)
class ModelServingArgs:
    provider: k8s.Provider
    domain: str
    models: tuple[ModelConfig, ...]
    object_store: ObjectStore
    reader: WorkloadAccess
    logger_urls: Mapping[str, str] = field(default_factory=dict)
    kserve: tuple[pulumi.Resource, ...] = ()  # its runtimes and webhooks: InferenceServices
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)


def predictor_spec(model: ModelConfig, reader: WorkloadAccess, logger_url: Optional[str]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": names.MODEL_READER.service_account,
        "automountServiceAccountToken": False,
        "minReplicas": model.min_replicas,
        "maxReplicas": model.max_replicas or model.min_replicas,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "model": {
            "modelFormat": {"name": model.format},
            "storageUri": model.storage_uri,
            "resources": kube.resources(model.resources.cpu, model.resources.memory, model.resources.memory_limit),
            # KServe's servers write model caches under their working directory: root stays writable.
            "securityContext": kube.container_security(read_only_root=False, run_as_user=MODEL_UID),
        },
    }
    if reader.pod_labels:
        spec["labels"] = dict(reader.pod_labels)
    if logger_url:
        # Ref: https://kserve.github.io/website/docs/model-serving/predictive-inference/logger
        spec["logger"] = {"mode": "request", "url": logger_url}
    return spec


class ModelServing(pulumi.ComponentResource):
    def __init__(self, name: str, args: ModelServingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:ModelServing", name, None, opts)
        provider = args.provider
        ns = kube.namespace(names.NS_MODELS, f"{name}-ns", self, provider, depends_on=args.depends_on)
        network.namespace_policies(
            name, names.NS_MODELS, self, provider,
            # Traefik reaches the predictor's model server, or KServe's agent when it logs requests.
            ingress=[network.from_namespace(names.NS_TRAEFIK, MODEL_PORT, AGENT_PORT)],
            egress=[
                network.to_namespace(names.NS_TRAEFIK, names.DETECTOR_ENTRYPOINT_PORT),  # request logger
                network.to_anywhere(443),  # storage initializer: public and cloud model stores
                *network.object_store_egress(args.object_store.endpoint),
            ],
            depends_on=ns.ready,
        )
        secrets: list[str] = []
        deps: list[pulumi.Resource] = list(ns.ready)
        if args.reader.static_keys is not None and args.object_store.endpoint:
            # KServe's storage initializer reads S3 credentials from Secrets attached to the
            # predictor's service account, with the endpoint in annotations.
            # Ref: https://kserve.github.io/website/docs/model-serving/storage/providers/s3
            endpoint = args.object_store.endpoint
            deps.append(
                k8s.core.v1.Secret(
                    f"{name}-s3",
                    metadata={
                        "name": "model-reader-s3",
                        "namespace": names.NS_MODELS,
                        "labels": kube.labels("model-reader"),
                        "annotations": {
                            "serving.kserve.io/s3-endpoint": endpoint.split("://", 1)[1],
                            "serving.kserve.io/s3-usehttps": "1" if endpoint.startswith("https") else "0",
                            "serving.kserve.io/s3-region": args.object_store.region or "us-east-1",
                        },
                    },
                    string_data={
                        "AWS_ACCESS_KEY_ID": args.reader.static_keys[0],
                        "AWS_SECRET_ACCESS_KEY": args.reader.static_keys[1],
                    },
                    opts=kube.child(self, provider, ns.ready),
                )
            )
            secrets.append("model-reader-s3")
        if args.reader.identity is not None:
            deps.append(args.reader.identity)
        sa = kube.service_account(
            f"{name}-reader-sa",
            names.MODEL_READER.service_account,
            names.NS_MODELS,
            self,
            provider,
            annotations=args.reader.annotations,
            secrets=secrets,
            depends_on=deps,
        )
        self.services: dict[str, k8s.apiextensions.CustomResource] = {}
        self.urls: dict[str, str] = {}
        for model in args.models:
            self.services[model.name] = k8s.apiextensions.CustomResource(
                f"{name}-{model.name}",
                api_version="serving.kserve.io/v1beta1",
                kind="InferenceService",
                metadata={
                    "name": model.name,
                    "namespace": names.NS_MODELS,
                    "labels": {**kube.labels(model.name, "model"), "mlops.dev/model": model.name},
                    "annotations": {"serving.kserve.io/deploymentMode": "Standard"},
                },
                spec={"predictor": predictor_spec(model, args.reader, args.logger_urls.get(model.name))},
                opts=kube.child(self, provider, [sa, *args.kserve]),
            )
            # KServe's default domain template: {{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }}
            self.urls[model.name] = f"https://{model.name}-{names.NS_MODELS}.{args.domain}"
        self.register_outputs({"urls": self.urls})
