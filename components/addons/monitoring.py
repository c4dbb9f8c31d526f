"""Monitoring: kube-prometheus-stack, trimmed for a laptop, watching every namespace.

Prometheus discovers ServiceMonitors, PodMonitors, Probes and PrometheusRules in all namespaces
(the chart's default only selects its own release's objects). Grafana is served at
`grafana.<domain>` and signs people in with the stack's issuer (generic_oauth), its roles from their
groups; its generated admin password is a break-glass login. Prometheus and Alertmanager, which
have no login of their own, sit behind the stack's sign-in (identity.py, oauth2-proxy). Grafana's
sidecars read ConfigMaps in this namespace only, through a Role (not the chart's ClusterRole,
which reads every Secret in the cluster).

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
from ..image_source import ImageSource
from ..requests import WorkloadRequest, from_values
from . import dashboards
from .backend_ports import ALERTMANAGER_PORT, PROMETHEUS_PORT, from_traefik
from .cert_manager import certificate
from .identity import IdentityOutputs
from .identity_values import CA_MOUNT
from .routes import APP_SIGN_IN, SSO_MIDDLEWARE, ingress_route, sso_middleware, traefik_reader
from .scrape import ScrapeTarget, service_monitor
from .scrape_ports import monitoring_egress

GRAFANA_SECRET = "grafana-admin"
GRAFANA_OIDC_SECRET = "grafana-oidc"
GRAFANA_SIDECAR_ROLE = "grafana-sidecar"
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
    identity: IdentityOutputs
    retention: str = "24h"
    storage_gb: int = 5
    alertmanager: bool = True
    grafana_user_role: str = "Viewer"  # what identity.userGroups are in Grafana (admins are Admin)
    # Metrics of components installed before (or beside) the monitoring CRDs: they ship none of their
    # own. Each with what its ServiceMonitor waits for besides the CRDs (the release of its namespace).
    scrape: tuple[tuple[ScrapeTarget, tuple[pulumi.Resource, ...]], ...] = ()
    issuers: tuple[pulumi.Resource, ...] = ()  # for the UIs' Certificates
    cert_manager: tuple[pulumi.Resource, ...] = ()  # its release: the operator webhook's certificates
    ingress: tuple[pulumi.Resource, ...] = ()  # Traefik's release: its CRDs, for routes and Middlewares
    models: tuple[str, ...] = ()  # the served models, for the dashboards' model selector
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)
    images: ImageSource = ImageSource()  # where each image is pulled from (lock, mirror)


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
        "grafana": grafana_values(args),
        "kube-state-metrics": {"resources": kube.resources("10m", "48Mi", "192Mi")},
        "prometheusOperator": {
            "resources": kube.resources("20m", "64Mi", "256Mi"),
            "prometheusConfigReloader": {"resources": RELOADER},
            # The operator's admission webhook certificates come from cert-manager, not a Job.
            # Fail closed: a PrometheusRule the operator's webhook cannot check is refused, not let
            # through unvalidated (the chart's default is Ignore).
            "admissionWebhooks": {"certManager": {"enabled": True}, "failurePolicy": "Fail"},
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


def grafana_values(args: MonitoringArgs) -> dict[str, Any]:
    """The grafana subchart (12.11.1) keys: sign-in with the stack's issuer, least-privilege sidecars."""
    identity = args.identity
    admins, users = identity.admin_groups, identity.user_groups
    # JMESPath over the userinfo claims: admins are Admin, users get the configured role, anyone
    # else is refused (role_attribute_strict). Ref: Grafana docs, generic-oauth "Configure role mapping"
    # The claim is a quoted identifier (names such as cognito:groups), an absent one an empty list.
    groups = '("{}" || `[]`)'.format(identity.groups_claim.replace('"', '\\"'))
    role = " || ".join(
        [*(f"contains({groups}, '{g}') && 'Admin'" for g in admins),
         *(f"contains({groups}, '{g}') && '{args.grafana_user_role}'" for g in users)]
    )
    values: dict[str, Any] = {
        # The chart's `helm test` pod runs as root with no resources; it is never needed.
        "testFramework": {"enabled": False},
        # GRAFANA_SECRET holds the chart's default keys, admin-user and admin-password: break-glass.
        "admin": {"existingSecret": GRAFANA_SECRET},
        "resources": kube.resources("50m", "192Mi", "512Mi"),
        # Dashboards and datasources from ConfigMaps of this namespace only; a Role we write
        # (GRAFANA_SIDECAR_ROLE: ConfigMaps, not Secrets) instead of the chart's ClusterRole.
        "rbac": {"namespaced": True, "useExistingRole": GRAFANA_SIDECAR_ROLE},
        "sidecar": {
            "resources": kube.resources("10m", "48Mi", "128Mi"),
            "dashboards": {"searchNamespace": None, "resource": "configmap"},
            "datasources": {"resource": "configmap"},
        },
        "grafana.ini": {
            "server": {"root_url": f"https://grafana.{args.domain}"},
            # The session cookie only over HTTPS (every route is TLS), and not sent cross-site.
            # Ref: https://grafana.com/docs/grafana/latest/setup-grafana/configure-grafana/#security
            "security": {"cookie_secure": True, "cookie_samesite": "lax"},
            "auth": {"oauth_auto_login": True},
            "auth.generic_oauth": {
                "enabled": True,
                "name": "SSO",
                "client_id": identity.client_id,
                "scopes": " ".join(identity.scopes),
                "auth_url": identity.authorization_endpoint,
                "token_url": identity.token_endpoint,
                "api_url": identity.userinfo_endpoint,
                "use_pkce": True,
                "role_attribute_path": role,
                "role_attribute_strict": True,
                "allow_sign_up": True,
                **({"tls_client_ca": f"{CA_MOUNT}/ca.crt"} if identity.platform_ca else {}),
            },
        },
        # The client secret reaches Grafana as an environment override, never as a value.
        # Ref: Grafana docs, "Override configuration with environment variables"
        "envValueFrom": {"GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET": {
            "secretKeyRef": {"name": GRAFANA_OIDC_SECRET, "key": "client-secret"}}},
    }
    if identity.platform_ca:
        values["extraSecretMounts"] = [{"name": "platform-ca", "secretName": "grafana-tls", "mountPath": CA_MOUNT,
                                        "readOnly": True, "items": [{"key": "ca.crt", "path": "ca.crt"}]}]
    return values


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
        self._name, self._args = name, args
        provider = args.provider
        ns = kube.namespace(names.NS_MONITORING, f"{name}-ns", self, provider, depends_on=args.depends_on)
        self._ns = ns
        network.namespace_policies(
            name, names.NS_MONITORING, self, provider,
            ingress=[from_traefik(names.NS_MONITORING), network.from_anywhere(OPERATOR_WEBHOOK_PORT)],
            # The scraped pods' ports in their namespaces (scrape_ports.py), kubelets/cAdvisor on the
            # nodes, the API, and Grafana's sign-in at the issuer (the bundled one is in-cluster, an
            # external one on the internet).
            egress=[*monitoring_egress(), network.to_anywhere(KUBELET_PORT), network.to_kubernetes_api(),
                    network.to_anywhere(443)],
            depends_on=ns.ready,
        )
        grafana = self._grafana_secrets()
        certificates = self._certificates()
        # Grafana trusts the platform CA through its own certificate's Secret (ca.crt), so that comes
        # first. It needs no issuer to start (it reads the issuer at each sign-in), so it does not wait
        # for the bundled one.
        mounted = [certificates["grafana"]] if args.identity.platform_ca else []
        self.release = kube.helm_release(f"{name}-release", names.RELEASE_MONITORING, versions.KUBE_PROMETHEUS_STACK, ns.name,
                                         self, provider, [*ns.ready, *grafana, *mounted, *args.cert_manager],
                                         values=chart_values(args), timeout=900, images=args.images)
        self.urls = self._routes(certificates)
        for target, after in args.scrape:
            service_monitor(f"{name}-{target.name}-monitor", target, self, provider, [self.release, *after])
        self.dashboard_urls = self._dashboards()
        self.ready: tuple[pulumi.Resource, ...] = (self.release,)
        self.register_outputs({"urls": self.urls, "release": self.release.status})

    def _grafana_secrets(self) -> list[pulumi.Resource]:
        """The break-glass admin login, the OIDC client secret, and the sidecars' Role."""
        name, provider, ns = self._name, self._args.provider, self._ns
        grafana_password = random.RandomPassword(
            f"{name}-grafana-password", length=24, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.grafana_password = pulumi.Output.secret(grafana_password.result)
        admin = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata={"name": GRAFANA_SECRET, "namespace": names.NS_MONITORING, "labels": kube.labels("grafana")},
            string_data={"admin-user": "admin", "admin-password": self.grafana_password},
            opts=kube.child(self, provider, ns.ready),
        )
        oidc = k8s.core.v1.Secret(
            f"{name}-grafana-oidc",
            metadata={"name": GRAFANA_OIDC_SECRET, "namespace": names.NS_MONITORING, "labels": kube.labels("grafana")},
            string_data={"client-secret": self._args.identity.client_secret},
            opts=kube.child(self, provider, ns.ready),
        )
        role = k8s.rbac.v1.Role(
            f"{name}-grafana-sidecar",
            metadata={"name": GRAFANA_SIDECAR_ROLE, "namespace": names.NS_MONITORING, "labels": kube.labels("grafana", "rbac")},
            rules=[{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "watch", "list"]}],
            opts=kube.child(self, provider, ns.ready),
        )
        return [admin, oidc, role]

    def _hosts(self) -> dict[str, tuple[str, int, list[str]]]:
        """app -> (Service, port, middlewares)."""
        hosts: dict[str, tuple[str, int, list[str]]] = {
            "grafana": (GRAFANA_SERVICE, 80, []),
            "prometheus": (PROMETHEUS_SERVICE, PROMETHEUS_PORT, [SSO_MIDDLEWARE]),
        }
        if self._args.alertmanager:
            hosts["alertmanager"] = (ALERTMANAGER_SERVICE, ALERTMANAGER_PORT, [SSO_MIDDLEWARE])
        return hosts

    def _certificates(self) -> dict[str, pulumi.Resource]:
        args = self._args
        return {
            app: certificate(f"{self._name}-{app}-cert", names.NS_MONITORING, f"{app}-tls", [f"{app}.{args.domain}"],
                             args.issuer, self, args.provider, [*self._ns.ready, *args.issuers])
            for app in self._hosts()
        }

    def _routes(self, certificates: dict[str, pulumi.Resource]) -> dict[str, str]:
        """Grafana signs people in itself; Prometheus and Alertmanager behind the stack's sign-in."""
        name, args, provider, ns = self._name, self._args, self._args.provider, self._ns
        access = traefik_reader(name, names.NS_MONITORING, self, provider, ns.ready)
        sso = sso_middleware(f"{name}-sso", names.NS_MONITORING, self, provider, [*ns.ready, *args.ingress])
        urls: dict[str, str] = {}
        for app, (service, port, middlewares) in self._hosts().items():
            host, tls = f"{app}.{args.domain}", certificates[app]
            ingress_route(
                f"{name}-{app}-route", app, names.NS_MONITORING, f"Host(`{host}`)", [{"name": service, "port": port}],
                f"{app}-tls", middlewares, self, provider, [self.release, tls, sso, *access, *args.ingress],
                annotations=None if middlewares else APP_SIGN_IN,
            )
            urls[app] = f"https://{host}"
        return urls

    def _dashboards(self) -> dict[str, str]:
        """Dashboards as code (dashboards.py): Grafana's sidecar loads ConfigMaps with its label."""
        urls: dict[str, str] = {}
        for configmap, dashboard in dashboards.dashboards(self._args.models).items():
            k8s.core.v1.ConfigMap(
                f"{self._name}-{configmap}",
                metadata={"name": configmap, "namespace": names.NS_MONITORING,
                          "labels": {**kube.labels("grafana", "dashboard"), dashboards.SIDECAR_LABEL: "1"}},
                data=dashboards.as_configmap_data(dashboard),
                opts=kube.child(self, self._args.provider, self._ns.ready),
            )
            urls[f"dashboard {dashboard['uid'].removeprefix('mlops-')}"] = f"{self.urls['grafana']}/d/{dashboard['uid']}"
        return urls
