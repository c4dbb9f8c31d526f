"""MlopsPlatform: the cluster, its data layer, then every addon in dependency order.

    cluster -> data (object store, Postgres, identities)
            -> cert-manager (CRDs, CA)            before anything that asks for a certificate
            -> traefik (IngressClass, TLS store)  before anything that is served
            -> monitoring (Prometheus CRDs)       before ServiceMonitors and PrometheusRules
            -> kserve (CRDs, webhooks, runtimes)  before InferenceServices
            -> mlflow, detectors -> models        (a model's logger points at its detectors)

Each cloud module yields the same ClusterOutputs and DataOutputs, so the addons are identical
everywhere. Cloud SDKs are imported only for the cloud in use.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from . import names
from .addons import cert_manager as cert_manager_module
from .addons.cert_manager import CertManager, CertManagerArgs
from .addons.detectors import Detectors, DetectorsArgs
from .addons.kserve import KServe, KServeArgs
from .addons.mlflow import Mlflow, MlflowArgs
from .addons.models import ModelServing, ModelServingArgs
from .addons.monitoring import Monitoring, MonitoringArgs
from .addons.traefik import Traefik, TraefikArgs
from .cluster.outputs import ClusterOutputs
from .config import PlatformConfig
from .data.outputs import DataOutputs


def build_infrastructure(
    name: str, config: PlatformConfig, parent: pulumi.Resource
) -> tuple[ClusterOutputs, DataOutputs]:
    from . import cloud_sdks

    reason = cloud_sdks.missing(config.cloud)
    if reason:  # `pulumi up` run directly: one line from the engine, no traceback
        raise pulumi.RunError(reason)
    opts = pulumi.ResourceOptions(parent=parent)
    if config.cloud == "local":
        from .cluster.kind import KindCluster, KindClusterArgs
        from .data.local import LocalData, LocalDataArgs

        cluster = KindCluster(
            f"{name}-cluster",
            KindClusterArgs(cluster_name=f"mlops-{config.env}", node_count=config.cluster.node_count),
            opts,
        ).outputs
        data = LocalData(f"{name}-data", LocalDataArgs(cluster=cluster), opts).outputs
        return cluster, data
    if config.cloud == "aws":
        from .cluster.eks import EksCluster
        from .data.aws import AwsData

        cluster = EksCluster(f"{name}-cluster", EksCluster.args_from(config), opts).outputs
        return cluster, AwsData(f"{name}-data", AwsData.args_from(config, cluster), opts).outputs
    if config.cloud == "azure":
        from .cluster.aks import AksCluster
        from .data.azure import AzureData

        cluster = AksCluster(f"{name}-cluster", AksCluster.args_from(config), opts).outputs
        return cluster, AzureData(f"{name}-data", AzureData.args_from(config, cluster), opts).outputs
    from .cluster.gke import GkeCluster
    from .data.gcp import GcpData

    cluster = GkeCluster(f"{name}-cluster", GkeCluster.args_from(config), opts).outputs
    return cluster, GcpData(f"{name}-data", GcpData.args_from(config, cluster), opts).outputs


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
        traefik = Traefik(
            f"{name}-traefik",
            TraefikArgs(
                provider=provider,
                domain=domain,
                exposure=cluster.ingress,
                issuer=issuer,
                replicas=config.traefik.replicas,
                depends_on=cert_manager.ready,
            ),
            child,
        )
        endpoints["traefik"] = traefik.url
        served = (traefik.release, *cert_manager.ready)

        monitoring: Optional[Monitoring] = None
        if config.monitoring.enabled:
            monitoring = Monitoring(
                f"{name}-monitoring",
                MonitoringArgs(
                    provider=provider,
                    domain=domain,
                    issuer=issuer,
                    storage_class=cluster.storage_class,
                    ui_password=traefik.ui_password,
                    retention=config.monitoring.retention,
                    storage_gb=config.monitoring.storage_gb,
                    alertmanager=config.monitoring.alertmanager,
                    scrape=(cert_manager_module.METRICS,),
                    depends_on=served,
                ),
                child,
            )
            endpoints.update(monitoring.urls)
        observed = served + (monitoring.ready if monitoring else ())

        kserve: Optional[KServe] = None
        if config.kserve.enabled:
            kserve = KServe(f"{name}-kserve", KServeArgs(provider=provider, domain=domain, depends_on=served), child)

        if config.mlflow.enabled:
            mlflow = Mlflow(
                f"{name}-mlflow",
                MlflowArgs(
                    provider=provider,
                    domain=domain,
                    issuer=issuer,
                    data=data,
                    access=data.access[names.MLFLOW.role],
                    replicas=config.mlflow.replicas,
                    depends_on=observed + data.ready,
                ),
                child,
            )
            endpoints["mlflow"] = mlflow.url

        logger_urls: dict[str, str] = {}
        detectors: Optional[Detectors] = None
        watched = tuple(m for m in config.models if m.watched)
        if config.detectors.enabled and watched:
            detectors = Detectors(
                f"{name}-detectors",
                DetectorsArgs(
                    provider=provider,
                    models=watched,
                    object_store=data.object_store,
                    reader=data.access[names.DETECTOR.role],
                    fitter=data.access[names.DETECTOR_FITTER.role],
                    traefik_internal_service=traefik.internal_service,
                    depends_on=observed + data.ready,
                ),
                child,
            )
            logger_urls = detectors.logger_urls

        if kserve is not None and config.models:
            models = ModelServing(
                f"{name}-models",
                ModelServingArgs(
                    provider=provider,
                    domain=domain,
                    models=config.models,
                    object_store=data.object_store,
                    reader=data.access[names.MODEL_READER.role],
                    logger_urls=logger_urls,
                    depends_on=kserve.ready + (detectors.ready if detectors else ()),
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
        self.register_outputs({"endpoints": endpoints, "kubeconfig": cluster.kubeconfig, "credentials": self.credentials})
