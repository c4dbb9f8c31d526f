"""Detectors: a drift and an outlier detector for every watched model, fed by its traffic.

Licence: the detectors run `seldonio/alibi-detect-server:1.17.1` (alibi-detect 0.11.4), the last
Apache-2.0 release line. Seldon Core from 1.18 and alibi-detect from 0.11.5 are under the Business
Source License 1.1 and need a commercial licence for production use; do not bump past these pins
without one (the policy pack's licence rule checks this).

Per model:
1. A Job fits the detectors with the detector image's own alibi-detect on the model's reference
   data (`scripts/fit_detectors.py`), then uploads them to the object store under
   `detectors/<model>/<version>/`. `<version>` is a digest of everything that shapes the
   artifacts (reference, parameters, image, script), so a change writes a new version and
   re-runs the Job instead of overwriting what running detectors read.
2. Two Deployments (drift, outlier) whose init container fetches exactly that version with
   KServe's storage-initializer (the same downloader, credentials and identity model KServe uses
   for models), each with a Service, a ServiceMonitor on `/v1/metrics` and a PrometheusRule.
   They start only after the Job has succeeded (explicit dependency).
3. A Traefik route on the cluster-internal `detectors` entrypoint that mirrors every logged
   request to both detectors; the model's InferenceService `spec.predictor.logger.url` points
   at it (`logger_url`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources as package_files
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names, network, versions
from ..config import ModelConfig
from ..data.outputs import ObjectStore, WorkloadAccess
from ..egress import HttpsEgress
from ..image_source import ImageSource
from . import dashboards
from .backend_ports import from_traefik
from .detector_pods import (
    DETECTOR_PORT,
    DETECTOR_UID,
    SCRIPT_CONFIGMAP,
    SCRIPT_NAME,
    detector_container,
    fetch_container,
    fit_container,
    upload_container,
)
from .routes import ingress_route, traefik_reader
from .scrape import ScrapeTarget, service_monitor


def fit_script() -> str:
    return package_files.files(__package__).joinpath("scripts", SCRIPT_NAME).read_text(encoding="utf-8")


@dataclass(frozen=True)
class DetectorsArgs:
    provider: k8s.Provider
    models: tuple[ModelConfig, ...]
    object_store: ObjectStore
    reader: WorkloadAccess
    fitter: WorkloadAccess
    https: HttpsEgress  # where they may reach the store over HTTPS (components/egress.py)
    traefik_internal_service: str
    data_ready: tuple[pulumi.Resource, ...] = ()  # the object store the fit Job writes to
    monitoring: tuple[pulumi.Resource, ...] = ()  # the monitoring CRDs: ServiceMonitors, PrometheusRules
    ingress: tuple[pulumi.Resource, ...] = ()  # Traefik's CRDs: the fan-out route
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)
    images: ImageSource = ImageSource()  # where each image is pulled from (lock, mirror)


def enabled_kinds(model: ModelConfig) -> list[str]:
    return [kind for kind, on in (("drift", model.drift.enabled), ("outlier", model.outlier.enabled)) if on]


def artifact_version(model: ModelConfig, script: str) -> str:
    """A digest of everything that shapes the fitted artifacts."""
    material = {
        "model": model.name,
        "reference": model.reference_data,
        "drift": model.drift.model_dump(),
        "outlier": model.outlier.model_dump(),
        "image": versions.ALIBI_DETECT_SERVER.ref,
        "script": hashlib.sha256(script.encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]


def artifact_path(model: ModelConfig, version: str) -> str:
    return f"{names.BUCKET_PREFIX_DETECTORS}/{model.name}/{version}"


def logger_url(traefik_internal_service: str, model: ModelConfig) -> str:
    """Where a model's request logger posts: the fan-out route for its detectors."""
    return f"http://{traefik_internal_service}:{names.DETECTOR_ENTRYPOINT_PORT}/{model.name}/"


class Detectors(pulumi.ComponentResource):
    def __init__(self, name: str, args: DetectorsArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:Detectors", name, None, opts)
        provider = args.provider
        self._args = args
        ns = kube.namespace(names.NS_DETECTORS, f"{name}-ns", self, provider, depends_on=args.depends_on)
        network.namespace_policies(
            name, names.NS_DETECTORS, self, provider,
            ingress=[from_traefik(names.NS_DETECTORS)],  # the mirrored request logs
            egress=[*network.object_store_egress(args.object_store), *args.https.to_store()],
            depends_on=ns.ready,
        )
        # Traefik serves the fan-out routes of this namespace (on its cluster-internal entrypoint).
        traefik_reader(name, names.NS_DETECTORS, self, provider, ns.ready)
        script = fit_script()
        script_map = k8s.core.v1.ConfigMap(
            f"{name}-script",
            metadata={"name": SCRIPT_CONFIGMAP, "namespace": names.NS_DETECTORS, "labels": kube.labels("detectors", "fit")},
            data={SCRIPT_NAME: script},
            opts=kube.child(self, provider, ns.ready),
        )
        reader_sa, reader_secret = self._identity(name, names.DETECTOR, args.reader, ns)
        fitter_sa, fitter_secret = self._identity(name, names.DETECTOR_FITTER, args.fitter, ns)

        self.logger_urls: dict[str, str] = {}
        self.artifacts: dict[str, dict[str, pulumi.Output[str]]] = {}
        self.jobs: dict[str, k8s.batch.v1.Job] = {}
        self.deployments: dict[str, dict[str, k8s.apps.v1.Deployment]] = {}
        for model in args.models:
            kinds = enabled_kinds(model)
            if not kinds:
                continue
            version = artifact_version(model, script)
            base_uri = pulumi.Output.concat(args.object_store.uri, "/", artifact_path(model, version))
            self.artifacts[model.name] = {kind: pulumi.Output.concat(base_uri, "/", kind) for kind in kinds}
            job = self._fit_job(name, model, kinds, version, base_uri, script_map, fitter_sa, fitter_secret)
            self.jobs[model.name] = job
            services: dict[str, k8s.core.v1.Service] = {}
            self.deployments[model.name] = {}
            for kind in kinds:
                deployment, service = self._detector(name, model, kind, version, job, reader_sa, reader_secret)
                self.deployments[model.name][kind] = deployment
                services[kind] = service
            self._alerts(name, model, kinds, ns)
            self._fan_out(name, model, kinds, services)
            self.logger_urls[model.name] = logger_url(args.traefik_internal_service, model)
        self.register_outputs({"logger_urls": self.logger_urls, "artifacts": self.artifacts})

    # --- pieces ---------------------------------------------------------------------------

    def _identity(
        self, name: str, workload: names.Workload, access: WorkloadAccess, ns: kube.Namespace
    ) -> tuple[k8s.core.v1.ServiceAccount, Optional[k8s.core.v1.Secret]]:
        provider = self._args.provider
        secret = None
        if access.static_keys is not None:
            secret = k8s.core.v1.Secret(
                f"{name}-{workload.role}-keys",
                metadata={
                    "name": f"{workload.service_account}-s3",
                    "namespace": workload.namespace,
                    "labels": kube.labels(workload.service_account),
                },
                string_data={"AWS_ACCESS_KEY_ID": access.static_keys[0], "AWS_SECRET_ACCESS_KEY": access.static_keys[1]},
                opts=kube.child(self, provider, ns.ready),
            )
        deps: list[pulumi.Resource] = ns.ready + ([access.identity] if access.identity is not None else [])
        sa = kube.service_account(
            f"{name}-{workload.role}-sa",
            workload.service_account,
            workload.namespace,
            self,
            provider,
            annotations=access.annotations,
            depends_on=deps,
        )
        return sa, secret

    def _store_env(self, secret: Optional[k8s.core.v1.Secret]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        env = [{"name": "HOME", "value": "/tmp"}, *self._args.object_store.env()]
        env_from = [{"secretRef": {"name": secret.metadata.name}}] if secret is not None else []
        return env, env_from

    def _pod_labels(self, model: ModelConfig, component: str, access: WorkloadAccess) -> dict[str, str]:
        return {**kube.labels(f"{model.name}-{component}", component), "mlops.dev/model": model.name, **access.pod_labels}

    def _fit_job(
        self,
        name: str,
        model: ModelConfig,
        kinds: list[str],
        version: str,
        destination: pulumi.Output[str],
        script_map: k8s.core.v1.ConfigMap,
        sa: k8s.core.v1.ServiceAccount,
        secret: Optional[k8s.core.v1.Secret],
    ) -> k8s.batch.v1.Job:
        args = self._args
        env, env_from = self._store_env(secret)
        reference = model.reference_data or ""
        init: list[dict[str, Any]] = []
        if "://" in reference:
            # The reference sample lives in an object store: fetch it like KServe fetches models.
            init.append(fetch_container("fetch-reference", reference, "/work/reference", ("work", "/work"), env, env_from,
                                        args.images))
            reference = f"/work/reference/{reference.rsplit('/', 1)[-1]}"
        init.append(fit_container(model, kinds, reference, args.images))
        pod = kube.job_pod(
            DETECTOR_UID,
            [upload_container(args.object_store, destination, env, env_from, args.images)],
            fs_group=DETECTOR_UID,
            restart_policy="Never",
            service_account=names.DETECTOR_FITTER.service_account,
            init_containers=init,
            volumes=[
                kube.empty_dir("work", "256Mi"),
                kube.empty_dir("tmp", "256Mi"),
                {"name": "script", "configMap": {"name": SCRIPT_CONFIGMAP}},
            ],
        )
        metadata = {
            "name": f"{model.name}-fit-{version[:8]}",
            "namespace": names.NS_DETECTORS,
            "labels": kube.labels(f"{model.name}-fit", "detector-fit"),
            "annotations": {"mlops.dev/artifacts": "detectors written to the object store by this Job"},
        }
        return kube.job(
            f"{name}-{model.name}-fit", metadata, pod, self, args.provider,
            [script_map, sa, *([secret] if secret else []), *args.data_ready],
            backoff_limit=3, pod_labels=self._pod_labels(model, "detector-fit", args.fitter),
        )

    def _detector(
        self,
        name: str,
        model: ModelConfig,
        kind: str,
        version: str,
        job: k8s.batch.v1.Job,
        sa: k8s.core.v1.ServiceAccount,
        secret: Optional[k8s.core.v1.Secret],
    ) -> tuple[k8s.apps.v1.Deployment, k8s.core.v1.Service]:
        args = self._args
        app = f"{model.name}-{kind}"
        env, env_from = self._store_env(secret)
        selector = {**kube.selector(app, "detector"), "mlops.dev/model": model.name}
        pod_labels = {**self._pod_labels(model, "detector", args.reader), **kube.labels(app, "detector")}
        source = self.artifacts[model.name][kind]
        fetch = fetch_container("fetch-detector", source, "/mnt/detector", ("detector", "/mnt/detector"), env, env_from, args.images)
        deployment = k8s.apps.v1.Deployment(
            f"{name}-{app}",
            metadata={
                "name": app,
                "namespace": names.NS_DETECTORS,
                "labels": kube.labels(app, "detector"),
                "annotations": {"mlops.dev/artifact-version": version},
            },
            spec={
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": pod_labels, "annotations": {"mlops.dev/artifact-version": version}},
                    "spec": {
                        "serviceAccountName": names.DETECTOR.service_account,
                        "automountServiceAccountToken": False,
                        "securityContext": kube.pod_security(DETECTOR_UID, fs_group=DETECTOR_UID),
                        "initContainers": [fetch],
                        "containers": [detector_container(model, kind, app, args.images)],
                        "volumes": [kube.empty_dir("detector", "256Mi"), kube.empty_dir("tmp", "512Mi")],
                    },
                },
            },
            # The artifacts must exist before the init container fetches them.
            opts=kube.child(self, args.provider, [job, sa, *([secret] if secret else [])]),
        )
        service = k8s.core.v1.Service(
            f"{name}-{app}-svc",
            metadata={
                "name": app,
                "namespace": names.NS_DETECTORS,
                "labels": {**kube.labels(app, "detector"), "mlops.dev/detector": kind},
            },
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [{"name": "http", "port": DETECTOR_PORT, "targetPort": "http"}],
            },
            opts=kube.child(self, args.provider, [deployment]),
        )
        target = ScrapeTarget(app, names.NS_DETECTORS, {**kube.selector(app, "detector"), "mlops.dev/detector": kind},
                              "http", "/v1/metrics")
        service_monitor(f"{name}-{app}-monitor", target, self, args.provider, [service, *args.monitoring])
        return deployment, service

    def _alerts(
        self, name: str, model: ModelConfig, kinds: list[str], ns: kube.Namespace
    ) -> k8s.apiextensions.CustomResource:
        selector = f'namespace="{names.NS_DETECTORS}"'
        rules: list[dict[str, Any]] = []
        if "drift" in kinds:
            rules.append(
                {
                    "alert": "ModelDriftDetected",
                    # Ref: seldon-core components/alibi-detect-server/adserver/cd_model.py (is_drift gauge)
                    "expr": f'max(seldon_metric_drift_is_drift{{{selector},service="{model.name}-drift"}}) > 0',
                    "for": "1m",
                    "labels": {"severity": "warning", "model": model.name},
                    "annotations": {
                        "summary": f"Input drift detected for model {model.name}",
                        "description": (
                            f"The KS drift detector for {model.name} flagged its last batch of "
                            f"{model.drift.batch_size} requests as drifted (p < {model.drift.p_value})."
                        ),
                    },
                }
            )
        if "outlier" in kinds:
            rules.append(
                {
                    "alert": "ModelOutlierRateHigh",
                    "expr": f"{dashboards.outlier_fraction(model.name, '15m', DETECTOR_PORT)} > 0.2",
                    "for": "5m",
                    "labels": {"severity": "warning", "model": model.name},
                    "annotations": {"summary": f"More than 20% of requests to {model.name} are outliers"},
                }
            )
        rules.append(
            {
                "alert": "ModelDetectorDown",
                "expr": f'up{{{selector},service=~"{model.name}-(drift|outlier)"}} == 0',
                "for": "5m",
                "labels": {"severity": "warning", "model": model.name},
                "annotations": {"summary": f"A detector of model {model.name} is not being scraped"},
            }
        )
        return k8s.apiextensions.CustomResource(
            f"{name}-{model.name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={
                "name": f"{model.name}-detectors",
                "namespace": names.NS_DETECTORS,
                "labels": kube.labels(f"{model.name}-detectors", "alerts"),
            },
            spec={"groups": [{"name": f"{model.name}-detectors", "rules": rules}]},
            opts=kube.child(self, self._args.provider, [*ns.ready, *self._args.monitoring]),
        )

    def _fan_out(
        self, name: str, model: ModelConfig, kinds: list[str], services: dict[str, k8s.core.v1.Service]
    ) -> k8s.apiextensions.CustomResource:
        provider = self._args.provider
        strip = k8s.apiextensions.CustomResource(
            f"{name}-{model.name}-strip",
            api_version="traefik.io/v1alpha1",
            kind="Middleware",
            metadata={"name": f"{model.name}-strip", "namespace": names.NS_DETECTORS, "labels": kube.labels(model.name, "fan-out")},
            spec={"stripPrefix": {"prefixes": [f"/{model.name}"]}},
            opts=kube.child(self, provider, [*services.values(), *self._args.ingress]),
        )
        target: dict[str, Any]
        deps: list[pulumi.Resource] = [strip, *services.values()]
        if len(kinds) == 2:
            # Ref: https://doc.traefik.io/traefik/reference/routing-configuration/kubernetes/crd/http/traefikservice/
            fan = k8s.apiextensions.CustomResource(
                f"{name}-{model.name}-mirror",
                api_version="traefik.io/v1alpha1",
                kind="TraefikService",
                metadata={"name": f"{model.name}-detectors", "namespace": names.NS_DETECTORS, "labels": kube.labels(model.name, "fan-out")},
                spec={
                    "mirroring": {
                        "name": f"{model.name}-drift",
                        "port": DETECTOR_PORT,
                        "mirrors": [{"name": f"{model.name}-outlier", "port": DETECTOR_PORT, "percent": 100}],
                    }
                },
                opts=kube.child(self, provider, [*services.values(), *self._args.ingress]),
            )
            deps.append(fan)
            target = {"name": f"{model.name}-detectors", "kind": "TraefikService"}
        else:
            target = {"name": f"{model.name}-{kinds[0]}", "port": DETECTOR_PORT}
        # Cluster-internal (the detector entrypoint), so no TLS and no sign-in.
        return ingress_route(
            f"{name}-{model.name}-route", f"{model.name}-detectors", names.NS_DETECTORS, f"PathPrefix(`/{model.name}/`)",
            [target], None, [f"{model.name}-strip"], self, provider, deps, entry_points=[names.DETECTOR_ENTRYPOINT],
            labels=kube.labels(model.name, "fan-out"),
        )
