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

from . import image_source, names
from .addons import cert_manager as cert_manager_module
from .addons import traefik as traefik_module
from .addons.cert_manager import CertManager, CertManagerArgs
from .addons.detectors import Detectors, DetectorsArgs
from .addons.identity import Identity, IdentityArgs
from .addons.identity_values import admin_email
from .addons.kserve import KServe, KServeArgs
from .addons.mlflow import Mlflow, MlflowArgs
from .addons.models import ModelServing, ModelServingArgs
from .addons.monitoring import Monitoring, MonitoringArgs
from .addons.traefik import Traefik, TraefikArgs
from .config import PlatformConfig
from .data.backup_jobs import IN_CLUSTER_CLOUDS, BackupPlan
from .data.outputs import LOGIN_CREDENTIAL, DatabaseSpec
from .deployment import deployment_output
from .egress import https_egress
from .infrastructure import build_infrastructure
from .oidc_clients import build_oidc_client


class MlopsPlatform(pulumi.ComponentResource):
    def __init__(self, name: str, config: PlatformConfig, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:platform:MlopsPlatform", name, None, opts)
        self.config = config
        self._images = image_source.for_stack(config)  # every image's source: the lock, the mirror, mlflow.image
        self.cluster, self.data = build_infrastructure(name, config, self)
        self._name = name
        self._endpoints: dict[str, pulumi.Input[str]] = {}
        # Where MLflow, the models, their detectors and oauth2-proxy may open HTTPS connections.
        self._https = https_egress(config, self.cluster.network)
        # Each addon waits for the cluster (nodes, storage) and then only for what it uses, so that
        # independent installs run in parallel (`platform plan` shows the longest chain):
        # - cert-manager's release (CRDs, webhook): charts that create cert-manager objects;
        # - the issuers: our Certificates; Traefik's release (its CRDs): IngressRoutes and
        #   Middlewares; kube-prometheus-stack's release (its CRDs): ServiceMonitors and rules;
        #   KServe's runtimes: InferenceServices; the data layer: whatever reads or writes it.
        # Traefik need not exist for an Ingress naming its class, nor for a Certificate.
        cert_manager = self._cert_manager()
        traefik = self._traefik(cert_manager)
        identity = self._identity(cert_manager, traefik)
        monitoring = self._monitoring(cert_manager, traefik, identity) if config.monitoring.enabled else None
        kserve = self._kserve(cert_manager) if config.kserve.enabled else None
        mlflow = self._mlflow(cert_manager, traefik, monitoring, identity) if config.mlflow.enabled else None
        # What this deployment runs, exported with it (`platform upgrade` and `up`'s skew check read it).
        releases = [cert_manager.release, traefik.release, *identity.helm_releases,
                    *((monitoring.release,) if monitoring else ()), *((kserve.crds, kserve.controller, kserve.runtimes) if kserve else ()),
                    *((mlflow.release,) if mlflow else ())]
        self.deployment = deployment_output(config.cluster.kubernetes_version, mlflow is not None, releases)
        logger_urls = self._detectors(traefik, monitoring)
        if kserve is not None and config.models:
            self._models(cert_manager, traefik, kserve, monitoring, logger_urls)
        self._outputs(identity, monitoring)

    def _opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _cert_manager(self) -> CertManager:
        tls = self.config.tls
        return CertManager(
            f"{self._name}-cert-manager",
            CertManagerArgs(
                images=self._images,
                provider=self.cluster.provider,
                acme_email=tls.email if tls.issuer == "acme" else None,
                acme_server=tls.acme_server,
                depends_on=self.cluster.ready,
            ),
            self._opts(),
        )

    def _traefik(self, cert_manager: CertManager) -> Traefik:
        traefik = Traefik(
            f"{self._name}-traefik",
            TraefikArgs(
                images=self._images,
                provider=self.cluster.provider,
                domain=self.config.effective_domain,
                exposure=self.cluster.ingress,
                issuer=cert_manager.issuer_name,
                issuers=cert_manager.ready,
                replicas=self.config.traefik.replicas,
                allowed_cidrs=self.config.ingress.allowed_cidrs,
                internal=self.config.ingress.internal,
                depends_on=self.cluster.ready,
            ),
            self._opts(),
        )
        self._endpoints["traefik"] = traefik.url
        return traefik

    def _identity(self, cert_manager: CertManager, traefik: Traefik) -> Identity:
        self.oidc_client = build_oidc_client(self._name, self.config, self.cluster, self)
        identity = Identity(
            f"{self._name}-identity",
            IdentityArgs(
                images=self._images,
                provider=self.cluster.provider,
                cloud=self.config.cloud,
                domain=self.config.effective_domain,
                config=self.config.identity,
                issuer=cert_manager.issuer_name,
                platform_ca=self.config.tls.issuer == "selfSigned",
                https=self._https,
                issuers=cert_manager.ready,
                ingress=(traefik.release,),
                client=self.oidc_client,
                depends_on=self.cluster.ready,
            ),
            self._opts(),
        )
        self._endpoints["sign-in"] = identity.sign_in_url
        self._endpoints["issuer"] = identity.outputs.issuer
        return identity

    def _monitoring(self, cert_manager: CertManager, traefik: Traefik, identity: Identity) -> Monitoring:
        # cert-manager and Traefik are installed before the monitoring CRDs: Monitoring creates
        # their ServiceMonitors.
        config = self.config
        scrape = ((cert_manager_module.METRICS, (cert_manager.release,)), (traefik_module.METRICS, (traefik.release,)))
        monitoring = Monitoring(
            f"{self._name}-monitoring",
            MonitoringArgs(
                images=self._images,
                provider=self.cluster.provider,
                domain=config.effective_domain,
                issuer=cert_manager.issuer_name,
                issuers=cert_manager.ready,
                cert_manager=(cert_manager.release,),  # the chart's admission webhook certificates
                ingress=(traefik.release,),
                storage_class=self.cluster.storage_class,
                identity=identity.outputs,
                grafana_user_role=config.identity.grafana_user_role,
                retention=config.monitoring.retention,
                storage_gb=config.monitoring.storage_gb,
                alertmanager=config.monitoring.alertmanager,
                scrape=scrape,
                models=tuple(m.name for m in config.models),
                depends_on=self.cluster.ready,
            ),
            self._opts(),
        )
        self._endpoints.update(monitoring.urls)
        self._endpoints.update(monitoring.dashboard_urls)
        return monitoring

    def _kserve(self, cert_manager: CertManager) -> KServe:
        return KServe(
            f"{self._name}-kserve",
            # Its chart's webhook certificates come from cert-manager; the ingress class it writes
            # into InferenceService Ingresses need not exist yet.
            KServeArgs(
                images=self._images,
                provider=self.cluster.provider,
                domain=self.config.effective_domain,
                cert_manager=(cert_manager.release,),
                depends_on=self.cluster.ready,
                model_formats=frozenset(m.format for m in self.config.models),
            ),
            self._opts(),
        )

    def _mlflow(self, cert_manager: CertManager, traefik: Traefik, monitoring: Optional[Monitoring], identity: Identity) -> Mlflow:
        mlflow = Mlflow(
            f"{self._name}-mlflow",
            MlflowArgs(
                images=self._images,
                provider=self.cluster.provider,
                domain=self.config.effective_domain,
                issuer=cert_manager.issuer_name,
                issuers=cert_manager.ready,
                data=self.data,
                access=self.data.access[names.MLFLOW.role],
                identity=identity.outputs,
                https=self._https,
                ingress=(traefik.release,),
                replicas=self.config.mlflow.replicas,
                monitoring=monitoring.ready if monitoring is not None else None,
                depends_on=self.cluster.ready,
                # Only the cluster reaches an Azure stack's data: its backups run there, beside MLflow
                # (a local stack's run beside its data, components/data/local.py).
                backup=BackupPlan.from_config(self.config, DatabaseSpec.from_config(self.config).storage_gb)
                if self.config.cloud == "azure" else None,
                # Where a restore replaces the whole instance (AWS, GCP), the schema Job runs again after
                # one of another stack's backup (cli/backup/schema_job.py).
                schema_template=self.config.cloud not in IN_CLUSTER_CLOUDS,
            ),
            self._opts(),
        )
        self._endpoints["mlflow"] = mlflow.url
        return mlflow

    def _detectors(self, traefik: Traefik, monitoring: Optional[Monitoring]) -> dict[str, str]:
        """The watched models' detectors; returns where each model's predictor logs its traffic."""
        watched = tuple(m for m in self.config.models if m.watched)
        if not (self.config.detectors.enabled and watched and monitoring is not None):
            return {}
        detectors = Detectors(
            f"{self._name}-detectors",
            DetectorsArgs(
                images=self._images,
                provider=self.cluster.provider,
                models=watched,
                object_store=self.data.object_store,
                reader=self.data.access[names.DETECTOR.role],
                fitter=self.data.access[names.DETECTOR_FITTER.role],
                https=self._https,
                traefik_internal_service=traefik.internal_service,
                data_ready=self.data.store_ready,
                monitoring=monitoring.ready,
                ingress=(traefik.release,),
                depends_on=self.cluster.ready,
            ),
            self._opts(),
        )
        return detectors.logger_urls

    def _models(self, cert_manager: CertManager, traefik: Traefik, kserve: KServe, monitoring: Optional[Monitoring],
                logger_urls: dict[str, str]) -> None:
        # A predictor logs to its detectors' route when requests come; it need not wait for them.
        models = ModelServing(
            f"{self._name}-models",
            ModelServingArgs(
                provider=self.cluster.provider,
                domain=self.config.effective_domain,
                models=self.config.models,
                object_store=self.data.object_store,
                reader=self.data.access[names.MODEL_READER.role],
                https=self._https,
                logger_urls=logger_urls,
                issuer=cert_manager.issuer_name,
                issuers=cert_manager.ready,
                ingress=(traefik.release,),
                kserve=kserve.ready,
                monitoring=monitoring.ready if monitoring is not None else None,
                depends_on=self.cluster.ready,
            ),
            self._opts(),
        )
        for model, url in models.urls.items():
            self._endpoints[f"model/{model}"] = url

    def _outputs(self, identity: Identity, monitoring: Optional[Monitoring]) -> None:
        # Generated logins, one per break-glass account, kept secret: `platform outputs
        # --show-secrets` prints them on request. Everyone else signs in with the issuer.
        credentials: dict[str, pulumi.Input[str]] = {}
        if identity.admin_password is not None:
            credentials["sign_in_user"] = admin_email(self.config.effective_domain)
            credentials["sign_in_password"] = identity.admin_password
            # The bundled Dex's client: with the admin login, a token by the password grant
            # (`platform token` prints the request).
            credentials["sign_in_client_secret"] = identity.outputs.client_secret
        client = self.oidc_client
        # What scripts need for a token (`platform token` reads it): the issuer and the client.
        self.sign_in: dict[str, pulumi.Input[str]] = {"issuer": identity.outputs.issuer, "clientId": identity.outputs.client_id}
        if client is not None:
            self.sign_in.update({"tokenClientId": client.token_client_id, "tokenScope": client.token_scope,
                                 "tokenEndpoint": client.token_endpoint})
            credentials["token_client_secret"] = client.token_client_secret
        if monitoring is not None:
            credentials["grafana_admin_password"] = monitoring.grafana_password
        if self.config.cloud not in IN_CLUSTER_CLOUDS:
            # MLflow's database login: a restore of another stack's backup sets it back (cli/backup/logins.py).
            credentials[LOGIN_CREDENTIAL] = self.data.database.password
        self.endpoints = self._endpoints
        self.kubeconfig = self.cluster.kubeconfig
        self.credentials = pulumi.Output.secret(credentials)
        # MLflow's artifacts destination (components/addons/mlflow.py) as KServe reads it.
        self.model_store = pulumi.Output.concat(self.data.object_store.uri, "/", names.BUCKET_PREFIX_MLFLOW)
        self.data_stores = self.data.described()
        self.register_outputs({"endpoints": self._endpoints, "kubeconfig": self.cluster.kubeconfig, "credentials": self.credentials,
                               "signIn": self.sign_in, "deployment": self.deployment, "data": self.data_stores})
