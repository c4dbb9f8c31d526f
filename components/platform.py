"""MlopsPlatform: the cluster, its data layer, then every addon, each waiting only for what it uses.

    cluster -> data (object store, Postgres, identities)       -> mlflow, the detectors' fit Job
            -> cert-manager release (CRDs, webhook)            -> kube-prometheus-stack, kserve releases
                          -> issuers                           -> every Certificate
            -> traefik release (CRDs, IngressClass)            -> IngressRoutes, Middlewares
            -> kube-prometheus-stack release (monitoring CRDs) -> ServiceMonitors, PrometheusRules
            -> kserve (CRDs, webhooks, runtimes)               -> InferenceServices

Independent installs run in parallel: the first deploy lasts as long as the longest of these chains
(`platform plan` prints it). Required edges are tested in tests/test_critical_path.py.

Each cloud module yields the same ClusterOutputs and DataOutputs, so the addons are identical
everywhere. Cloud SDKs are imported only for the cloud in use.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from . import names
from .addons import cert_manager as cert_manager_module
from .addons import traefik as traefik_module
from .addons.cert_manager import CertManager, CertManagerArgs
from .addons.detectors import Detectors, DetectorsArgs
from .addons.kserve import KServe, KServeArgs
from .addons.mlflow import Mlflow, MlflowArgs
from .addons.models import ModelServing, ModelServingArgs
from .addons.monitoring import Monitoring, MonitoringArgs
from .addons.traefik import Traefik, TraefikArgs
from .config import PlatformConfig
from .infrastructure import build_infrastructure


class MlopsPlatform(pulumi.ComponentResource):
    def __init__(self, name: str, config: PlatformConfig, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:platform:MlopsPlatform", name, None, opts)
        self.config = config
        cluster, data = build_infrastructure(name, config, self)
        self.cluster, self.data = cluster, data
        provider = cluster.provider
        domain = config.effective_domain
        child = pulumi.ResourceOptions(parent=self)
        endpoints: dict[str, pulumi.Input[str]] = {}

        # Each addon waits for the cluster (nodes, storage) and then only for what it uses, so that
        # independent installs run in parallel (`platform plan` shows the longest chain):
        # - cert-manager's release (CRDs, webhook): charts that create cert-manager objects;
        # - the issuers: our Certificates; Traefik's release (its CRDs): IngressRoutes and
        #   Middlewares; kube-prometheus-stack's release (its CRDs): ServiceMonitors and rules;
        #   KServe's runtimes: InferenceServices; the data layer: whatever reads or writes it.
        # Traefik need not exist for an Ingress naming its class, nor for a Certificate.
        cert_manager = CertManager(
            f"{name}-cert-manager",
            CertManagerArgs(
                provider=provider,
                acme_email=config.tls.email if config.tls.issuer == "acme" else None,
                acme_server=config.tls.acme_server,
                depends_on=cluster.ready,
            ),
            child,
        )
        issuer = cert_manager.issuer_name
        issuers, cert_manager_release = cert_manager.ready, (cert_manager.release,)
        traefik = Traefik(
            f"{name}-traefik",
            TraefikArgs(
                provider=provider,
                domain=domain,
                exposure=cluster.ingress,
                issuer=issuer,
                issuers=issuers,
                replicas=config.traefik.replicas,
                depends_on=cluster.ready,
            ),
            child,
        )
        endpoints["traefik"] = traefik.url
        ingress = (traefik.release,)

        monitoring: Optional[Monitoring] = None
        if config.monitoring.enabled:
            # cert-manager and Traefik are installed before the monitoring CRDs: Monitoring creates
            # their ServiceMonitors.
            scrape = ((cert_manager_module.METRICS, cert_manager_release), (traefik_module.METRICS, ingress))
            monitoring = Monitoring(
                f"{name}-monitoring",
                MonitoringArgs(
                    provider=provider,
                    domain=domain,
                    issuer=issuer,
                    issuers=issuers,
                    cert_manager=cert_manager_release,  # the chart's admission webhook certificates
                    ingress=ingress,
                    storage_class=cluster.storage_class,
                    ui_password=traefik.ui_password,
                    retention=config.monitoring.retention,
                    storage_gb=config.monitoring.storage_gb,
                    alertmanager=config.monitoring.alertmanager,
                    scrape=scrape,
                    models=tuple(m.name for m in config.models),
                    depends_on=cluster.ready,
                ),
                child,
            )
            endpoints.update(monitoring.urls)
            endpoints.update(monitoring.dashboard_urls)

        kserve: Optional[KServe] = None
        if config.kserve.enabled:
            kserve = KServe(
                f"{name}-kserve",
                # Its chart's webhook certificates come from cert-manager; the ingress class it
                # writes into InferenceService Ingresses need not exist yet.
                KServeArgs(provider=provider, domain=domain, cert_manager=cert_manager_release, depends_on=cluster.ready),
                child,
            )

        if config.mlflow.enabled:
            mlflow = Mlflow(
                f"{name}-mlflow",
                MlflowArgs(
                    provider=provider,
                    domain=domain,
                    issuer=issuer,
                    issuers=issuers,
                    data=data,
                    access=data.access[names.MLFLOW.role],
                    replicas=config.mlflow.replicas,
                    monitoring=monitoring.ready if monitoring is not None else None,
                    depends_on=cluster.ready,
                ),
                child,
            )
            endpoints["mlflow"] = mlflow.url

        logger_urls: dict[str, str] = {}
        watched = tuple(m for m in config.models if m.watched)
        if config.detectors.enabled and watched and monitoring is not None:
            detectors = Detectors(
                f"{name}-detectors",
                DetectorsArgs(
                    provider=provider,
                    models=watched,
                    object_store=data.object_store,
                    reader=data.access[names.DETECTOR.role],
                    fitter=data.access[names.DETECTOR_FITTER.role],
                    traefik_internal_service=traefik.internal_service,
                    data_ready=data.store_ready,
                    monitoring=monitoring.ready,
                    ingress=ingress,
                    depends_on=cluster.ready,
                ),
                child,
            )
            logger_urls = detectors.logger_urls

        if kserve is not None and config.models:
            # A predictor logs to its detectors' route when requests come; it need not wait for them.
            models = ModelServing(
                f"{name}-models",
                ModelServingArgs(
                    provider=provider,
                    domain=domain,
                    models=config.models,
                    object_store=data.object_store,
                    reader=data.access[names.MODEL_READER.role],
                    logger_urls=logger_urls,
                    kserve=kserve.ready,
                    monitoring=monitoring.ready if monitoring is not None else None,
                    depends_on=cluster.ready,
                ),
                child,
            )
            for model, url in models.urls.items():
                endpoints[f"model/{model}"] = url

        # Generated logins, kept secret: `platform outputs --show-secrets` prints them on request.
        credentials: dict[str, pulumi.Input[str]] = {"ui_user": traefik.ui_user, "ui_password": traefik.ui_password}
        if monitoring is not None:
            credentials["grafana_admin_password"] = monitoring.grafana_password
        if config.mlflow.enabled:
            credentials["mlflow_admin_password"] = mlflow.admin_password
        self.endpoints = endpoints
        self.kubeconfig = cluster.kubeconfig
        self.credentials = pulumi.Output.secret(credentials)
        # MLflow's artifacts destination (components/addons/mlflow.py) as KServe reads it.
        self.model_store = pulumi.Output.concat(data.object_store.uri, "/", names.BUCKET_PREFIX_MLFLOW)
        self.register_outputs({"endpoints": endpoints, "kubeconfig": cluster.kubeconfig, "credentials": self.credentials})
