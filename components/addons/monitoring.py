"""Monitoring: kube-prometheus-stack, trimmed for a laptop, watching every namespace.

Prometheus discovers ServiceMonitors, PodMonitors, Probes and PrometheusRules in all namespaces
(the chart's default only selects its own release's objects). Grafana is served at
`grafana.<domain>` with a generated admin password; Prometheus and Alertmanager, which have no
login of their own, sit behind Traefik basic auth.

node-exporter is off: it needs the host's network and PID namespaces and hostPath mounts, which
the restricted Pod Security level of every platform namespace forbids; container CPU and memory
come from the kubelet's cAdvisor endpoint, which the chart still scrapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import k8s as kube
from .. import names, network, versions
from ..requests import WorkloadRequest, from_values
from . import dashboards
from .cert_manager import certificate
from .scrape import ScrapeTarget, service_monitor
from .traefik import auth_resources, basic_auth, ingress_route

GRAFANA_SECRET = "grafana-admin"
# Services the chart creates for release "kube-prometheus-stack" (its fullname).
GRAFANA_SERVICE = f"{names.RELEASE_MONITORING}-grafana"
PROMETHEUS_SERVICE = f"{names.RELEASE_MONITORING}-prometheus"
ALERTMANAGER_SERVICE = f"{names.RELEASE_MONITORING}-alertmanager"
RELOADER = kube.resources("10m", "16Mi", "64Mi")
KUBELET_PORT = 10250
OPERATOR_WEBHOOK_PORT = 10250  # prometheus-operator's admission webhook (chart tls.internalPort)


@dataclass(frozen=True)
class MonitoringArgs:
    provider: k8s.Provider
    domain: str
    issuer: str
    storage_class: str
    ui_password: pulumi.Output[str]
    retention: str = "24h"
    storage_gb: int = 5
    alertmanager: bool = True
    # Metrics of components installed before (or beside) the monitoring CRDs: they ship none of their
    # own. Each with what its ServiceMonitor waits for besides the CRDs (the release of its namespace).
    scrape: tuple[tuple[ScrapeTarget, tuple[pulumi.Resource, ...]], ...] = ()
    issuers: tuple[pulumi.Resource, ...] = ()  # for the UIs' Certificates
    cert_manager: tuple[pulumi.Resource, ...] = ()  # its release: the operator webhook's certificates
    ingress: tuple[pulumi.Resource, ...] = ()  # Traefik's release: its CRDs, for routes and Middlewares
    models: tuple[str, ...] = ()  # the served models, for the dashboards' model selector
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)


def chart_values(args: MonitoringArgs) -> dict[str, Any]:
    off = {"enabled": False}
    return {
        # Control-plane components are not reachable on kind or on managed clusters.
        "kubeControllerManager": off,
        "kubeScheduler": off,
        "kubeEtcd": off,
        "kubeProxy": off,
        "nodeExporter": off,
        # Rules for the components switched off above are not rendered anyway; node-exporter's
        # rules are, and would alert on a target that does not exist.
        "defaultRules": {"rules": {"nodeExporterAlerting": False, "nodeExporterRecording": False}},
        "alertmanager": {
            "enabled": args.alertmanager,
            # Alertmanager never calls the Kubernetes API: no token in its pods or its account.
            "serviceAccount": {"automountServiceAccountToken": False},
            "alertmanagerSpec": {"resources": kube.resources("10m", "32Mi", "128Mi"), "automountServiceAccountToken": False},
        },
        "grafana": {
            # The chart's `helm test` pod runs as root with no resources; it is never needed.
            "testFramework": {"enabled": False},
            # GRAFANA_SECRET holds the chart's default keys, admin-user and admin-password.
            "admin": {"existingSecret": GRAFANA_SECRET},
            # grafana chart 12.11.1 keys (a subchart: its defaults are not in the parent's values).
            "resources": kube.resources("50m", "192Mi", "512Mi"),
            "sidecar": {"resources": kube.resources("10m", "48Mi", "128Mi")},
        },
        "kube-state-metrics": {"resources": kube.resources("10m", "48Mi", "192Mi")},
        "prometheusOperator": {
            "resources": kube.resources("20m", "64Mi", "256Mi"),
            "prometheusConfigReloader": {"resources": RELOADER},
            # The operator's admission webhook certificates come from cert-manager, not a Job.
            "admissionWebhooks": {"certManager": {"enabled": True}},
        },
        "prometheus": {
            "prometheusSpec": {
                # Select monitors and rules from every namespace, not only this release's.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "scrapeConfigSelectorNilUsesHelmValues": False,
                "retention": args.retention,
                "resources": kube.resources("100m", "384Mi", "1Gi"),
                # The claim goes with the StatefulSet (Kubernetes' controller deletes it, not the
                # operator, which a Helm uninstall may remove first), and its volume with it: the
                # storage classes reclaim with Delete. `platform destroy` still drains and waits.
                # Ref: https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#persistentvolumeclaim-retention
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "storageClassName": args.storage_class,
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": f"{args.storage_gb}Gi"}},
                        }
                    }
                },
            }
        },
    }


def chart_requests(values: dict[str, Any]) -> list[WorkloadRequest]:
    reloader = from_values("config-reloader", values, ("prometheusOperator", "prometheusConfigReloader", "resources"))
    out = [
        from_values("prometheus", values, ("prometheus", "prometheusSpec", "resources")),
        reloader,
        from_values("prometheus-operator", values, ("prometheusOperator", "resources")),
        from_values("kube-state-metrics", values, ("kube-state-metrics", "resources")),
        from_values("grafana", values, ("grafana", "resources")),
        # The grafana chart runs two sidecars (dashboards, datasources) with the shared resources.
        from_values("grafana-sidecars", values, ("grafana", "sidecar", "resources"), replicas=2),
    ]
    if values.get("alertmanager", {}).get("enabled", True):
        out += [from_values("alertmanager", values, ("alertmanager", "alertmanagerSpec", "resources")), reloader]
    return out


class Monitoring(pulumi.ComponentResource):
    def __init__(self, name: str, args: MonitoringArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:Monitoring", name, None, opts)
        provider = args.provider
        ns = kube.namespace(names.NS_MONITORING, f"{name}-ns", self, provider, depends_on=args.depends_on)
        network.namespace_policies(
            name, names.NS_MONITORING, self, provider,
            ingress=[network.from_namespace(names.NS_TRAEFIK), network.from_anywhere(OPERATOR_WEBHOOK_PORT)],
            # Scrapes in every namespace, kubelets/cAdvisor on the nodes, and the API.
            egress=[network.to_all_namespaces(), network.to_anywhere(KUBELET_PORT), network.to_kubernetes_api()],
            depends_on=ns.ready,
        )
        grafana_password = random.RandomPassword(
            f"{name}-grafana-password", length=24, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.grafana_password = pulumi.Output.secret(grafana_password.result)
        grafana_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": GRAFANA_SECRET, "namespace": names.NS_MONITORING, "labels": kube.labels("grafana")},
            string_data={"admin-user": "admin", "admin-password": self.grafana_password},
            opts=kube.child(self, provider, ns.ready),
        )
        self.release = kube.helm_release(f"{name}-release", names.RELEASE_MONITORING, versions.KUBE_PROMETHEUS_STACK, ns.name,
                                         self, provider, [*ns.ready, grafana_secret, *args.cert_manager],
                                         values=chart_values(args), timeout=900)
        auth = basic_auth(f"{name}-ui", names.NS_MONITORING, args.ui_password, self, provider, [*ns.ready, *args.ingress])
        hosts = {
            "grafana": (GRAFANA_SERVICE, 80, []),
            "prometheus": (PROMETHEUS_SERVICE, 9090, [auth]),
        }
        if args.alertmanager:
            hosts["alertmanager"] = (ALERTMANAGER_SERVICE, 9093, [auth])
        self.urls: dict[str, str] = {}
        for app, (service, port, auths) in hosts.items():
            host = f"{app}.{args.domain}"
            tls = certificate(
                f"{name}-{app}-cert", names.NS_MONITORING, f"{app}-tls", [host], args.issuer, self, provider,
                [*ns.ready, *args.issuers],
            )
            ingress_route(
                f"{name}-{app}-route",
                app,
                names.NS_MONITORING,
                f"Host(`{host}`)",
                [{"name": service, "port": port}],
                f"{app}-tls",
                auths,
                self,
                provider,
                [self.release, tls, *args.ingress, *[r for a in auths for r in auth_resources(a)]],
            )
            self.urls[app] = f"https://{host}"
        for target, after in args.scrape:
            service_monitor(f"{name}-{target.name}-monitor", target, self, provider, [self.release, *after])
        # Dashboards as code (dashboards.py): Grafana's sidecar loads ConfigMaps with its label.
        self.dashboard_urls: dict[str, str] = {}
        for configmap, dashboard in dashboards.dashboards(args.models).items():
            k8s.core.v1.ConfigMap(
                f"{name}-{configmap}",
                metadata={"name": configmap, "namespace": names.NS_MONITORING,
                          "labels": {**kube.labels("grafana", "dashboard"), dashboards.SIDECAR_LABEL: "1"}},
                data=dashboards.as_configmap_data(dashboard),
                opts=kube.child(self, provider, ns.ready),
            )
            self.dashboard_urls[f"dashboard {dashboard['uid'].removeprefix('mlops-')}"] = (
                f"{self.urls['grafana']}/d/{dashboard['uid']}")
        self.ready: tuple[pulumi.Resource, ...] = (self.release,)
        self.register_outputs({"urls": self.urls, "release": self.release.status})
