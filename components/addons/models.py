"""ModelServing: one KServe InferenceService per configured model, in the `models` namespace.

Each predictor runs under the `model-reader` service account (the cloud identity that may read
the object store, or on kind a Secret KServe's storage initializer reads), and, when the model is
watched, logs every request to its detectors (`spec.predictor.logger`). Per model, as the stack
file says: the MLflow format (KServe's MLServer runtime, v2 protocol), KServe's batcher, GPUs
(with the GPU pool's toleration and node selector), and an ART explainer. A promoted model's
registry name and version are kept on the InferenceService as annotations.

Each model is served at `https://<model>-models.<domain>` by a route of this component (KServe's
own Ingress is off): a certificate from the stack's issuer (ACME in prod), and every call checked
for a bearer token the stack's issuer signed (routes.token_middleware), unless the model is
`public: true`.
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
from ..egress import HttpsEgress
from .backend_ports import MODEL_PORT, from_traefik
from .cert_manager import certificate
from .routes import TOKEN_MIDDLEWARE, ingress_route, token_middleware, traefik_reader

MODEL_UID = 1000  # KServe's model server images run as uid 1000
GPU_RESOURCE = "nvidia.com/gpu"
GPU_POOL_SELECTOR = {"mlops.dev/pool": "gpu"}  # components/cluster/*.py label the GPU pool so
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}  # its taint
EXPLAINER_RESOURCES = ("100m", "256Mi", "1Gi")
PREDICTOR_SERVICE_PORT = 80


@dataclass(frozen=True)
class ModelServingArgs:
    provider: k8s.Provider
    domain: str
    models: tuple[ModelConfig, ...]
    object_store: ObjectStore
    reader: WorkloadAccess
    https: HttpsEgress  # where the storage initializer may fetch models over HTTPS (components/egress.py)
    logger_urls: Mapping[str, str] = field(default_factory=dict)
    issuer: str = names.CA_ISSUER  # the ClusterIssuer for the model hosts' certificates
    issuers: tuple[pulumi.Resource, ...] = ()
    ingress: tuple[pulumi.Resource, ...] = ()  # Traefik's release: its CRDs, for routes and Middlewares
    kserve: tuple[pulumi.Resource, ...] = ()  # its runtimes and webhooks: InferenceServices
    # The monitoring CRDs, for the model servers' PodMonitors (only they wait for them); None: not scraped.
    monitoring: Optional[tuple[pulumi.Resource, ...]] = None
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)


def _model_resources(model: ModelConfig) -> dict[str, Any]:
    resources = kube.resources(model.resources.cpu, model.resources.memory, model.resources.memory_limit)
    if model.resources.gpu:
        # Extended resources are requested by their limit; the request must equal it.
        resources["limits"][GPU_RESOURCE] = str(model.resources.gpu)
        resources["requests"][GPU_RESOURCE] = str(model.resources.gpu)
    return resources


def predictor_spec(model: ModelConfig, reader: WorkloadAccess, logger_url: Optional[str]) -> dict[str, Any]:
    server: dict[str, Any] = {
        "modelFormat": {"name": model.format},
        "storageUri": model.storage_uri,
        "resources": _model_resources(model),
        # KServe's servers write model caches under their working directory: root stays writable.
        "securityContext": kube.container_security(read_only_root=False, run_as_user=MODEL_UID),
    }
    if model.protocol == "v2":
        # MLServer (MLflow models) and Triton (ONNX) serve the open inference (v2) protocol only.
        # Ref: https://kserve.github.io/website/docs/model-serving/predictive-inference/frameworks/mlflow
        server["protocolVersion"] = "v2"
    spec: dict[str, Any] = {
        "serviceAccountName": names.MODEL_READER.service_account,
        "automountServiceAccountToken": False,
        "minReplicas": model.min_replicas,
        "maxReplicas": model.max_replicas or model.min_replicas,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "model": server,
    }
    if reader.pod_labels:
        spec["labels"] = dict(reader.pod_labels)
    if logger_url:
        # Ref: https://kserve.github.io/website/docs/model-serving/predictive-inference/logger
        spec["logger"] = {"mode": "request", "url": logger_url}
    if model.batcher is not None:
        spec["batcher"] = {"maxBatchSize": model.batcher.max_batch_size, "maxLatency": model.batcher.max_latency}
    if model.resources.gpu:
        spec["nodeSelector"] = dict(GPU_POOL_SELECTOR)
        spec["tolerations"] = [dict(GPU_TOLERATION)]
    return spec


def explainer_spec(model: ModelConfig) -> Optional[dict[str, Any]]:
    """KServe's ART explainer beside the predictor, or None. It calls the predictor itself; it needs no
    object-store access, so it runs without the reader's identity and without a token."""
    if model.explainer is None:
        return None
    return {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "art": {
            "type": model.explainer.attack,
            **({"config": dict(model.explainer.config)} if model.explainer.config else {}),
            "resources": kube.resources(*EXPLAINER_RESOURCES),
            "securityContext": kube.container_security(read_only_root=False, run_as_user=MODEL_UID),
        },
    }


def isvc_annotations(model: ModelConfig) -> dict[str, str]:
    annotations = {"serving.kserve.io/deploymentMode": "Standard"}
    if model.registry is not None:
        annotations["mlops.dev/registry-model"] = model.registry.name
        annotations["mlops.dev/registry-version"] = str(model.registry.version)
        if model.registry.alias:
            annotations["mlops.dev/registry-alias"] = model.registry.alias
    return annotations


# MLServer and Triton serve their metrics on a port of their own, which the predictor's container
# does not declare; KServe's Python servers on the model port. Ref: MLServer settings (metrics_port,
# 8082); Triton's metrics docs (port 8002, /metrics); kserve python/kserve/kserve/model_server.py
MLSERVER_METRICS_PORT = 8082
METRICS_PORTS = {"mlflow": MLSERVER_METRICS_PORT, "onnx": 8002}


def pod_monitor(resource_name: str, model: ModelConfig, parent: pulumi.Resource, provider: k8s.Provider,
                depends_on: list[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
    """Prometheus scrapes the model's predictor pods: KServe's servers on the declared model port, MLServer
    and Triton on their metrics ports (the address rewritten to it: a port a pod does not declare is not
    discovered)."""
    endpoint: dict[str, Any] = {"portNumber": MODEL_PORT, "path": "/metrics", "interval": "30s"}
    if model.format in METRICS_PORTS:
        endpoint["relabelings"] = [{"sourceLabels": ["__meta_kubernetes_pod_ip"], "targetLabel": "__address__",
                                    "regex": "(.+)", "replacement": f"$1:{METRICS_PORTS[model.format]}", "action": "replace"}]
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="monitoring.coreos.com/v1",
        kind="PodMonitor",
        metadata={"name": f"{model.name}-predictor", "namespace": names.NS_MODELS, "labels": kube.labels(model.name, "metrics")},
        spec={
            # KServe labels the predictor's pods with their InferenceService and component.
            "selector": {"matchLabels": {"serving.kserve.io/inferenceservice": model.name, "component": "predictor"}},
            "podMetricsEndpoints": [endpoint],
        },
        opts=kube.child(parent, provider, depends_on),
    )


class ModelServing(pulumi.ComponentResource):
    def __init__(self, name: str, args: ModelServingArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:ModelServing", name, None, opts)
        provider = args.provider
        ns = kube.namespace(names.NS_MODELS, f"{name}-ns", self, provider, depends_on=args.depends_on)
        network.namespace_policies(
            name, names.NS_MODELS, self, provider,
            # Traefik reaches the predictor's model server, or KServe's agent when it logs requests.
            ingress=[from_traefik(names.NS_MODELS)],
            egress=[
                network.to_namespace(names.NS_TRAEFIK, names.DETECTOR_ENTRYPOINT_PORT),  # request logger
                *args.https.to_model_sources(),  # the storage initializer: the store, and egress.allow
                *network.object_store_egress(args.object_store),
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
        self._args = args
        access = traefik_reader(name, names.NS_MODELS, self, provider, ns.ready)
        self._tokens = token_middleware(f"{name}-token", names.NS_MODELS, self, provider, [*ns.ready, *args.ingress])
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
                    "annotations": isvc_annotations(model),
                },
                spec={"predictor": predictor_spec(model, args.reader, args.logger_urls.get(model.name)),
                      **({"explainer": explainer_spec(model)} if model.explainer is not None else {})},
                opts=kube.child(self, provider, [sa, *args.kserve]),
            )
            if args.monitoring is not None:
                pod_monitor(f"{name}-{model.name}-monitor", model, self, provider, [*ns.ready, *args.monitoring])
            self.urls[model.name] = self._route(name, model, ns, access)
        self.register_outputs({"urls": self.urls})

    def _route(self, name: str, model: ModelConfig, ns: kube.Namespace, access: list[pulumi.Resource]) -> str:
        """The model's host (KServe's domain template, {{ .Name }}-{{ .Namespace }}.{{ .IngressDomain }})
        routed to its predictor's Service, with a certificate and, unless public, the token check."""
        args, provider = self._args, self._args.provider
        host = f"{model.name}-{names.NS_MODELS}.{args.domain}"
        secret = f"{model.name}-tls"
        tls = certificate(f"{name}-{model.name}-cert", names.NS_MODELS, secret, [host], args.issuer, self, provider,
                          [*ns.ready, *args.issuers])
        ingress_route(
            f"{name}-{model.name}-route", model.name, names.NS_MODELS, f"Host(`{host}`)",
            # KServe's predictor Service in Standard mode: <name>-predictor, port 80.
            [{"name": f"{model.name}-predictor", "port": PREDICTOR_SERVICE_PORT}], secret,
            [] if model.public else [TOKEN_MIDDLEWARE], self, provider,
            [self.services[model.name], tls, *access, *([] if model.public else [self._tokens]), *args.ingress],
            annotations={names.PUBLIC_ANNOTATION: "true"} if model.public else None,
        )
        return f"https://{host}"
