"""CertManager: the chart with its CRDs, a platform CA, and (by config) a Let's Encrypt issuer.

Locally every host is signed by a self-signed CA (`mlops-ca`); on a cloud with a domain and an
e-mail, an ACME ClusterIssuer solves HTTP-01 through Traefik.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names, network, versions
from ..image_source import ImageSource
from ..requests import WorkloadRequest, from_values
from .scrape import ScrapeTarget

WEBHOOK_PORT = 10250  # cert-manager-webhook's secure port (chart default)
# The controller's metrics Service, which the chart creates by default (prometheus.enabled).
METRICS = ScrapeTarget(
    "cert-manager",
    names.NS_CERT_MANAGER,
    {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/instance": names.RELEASE_CERT_MANAGER,
     "app.kubernetes.io/component": "controller"},
    "http-metrics",
)
ACME_SERVERS = {
    # Ref: https://letsencrypt.org/docs/acme-protocol-updates/ and https://letsencrypt.org/docs/staging-environment/
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}


@dataclass(frozen=True)
class CertManagerArgs:
    provider: k8s.Provider
    acme_email: Optional[str] = None
    acme_server: str = "production"
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)
    images: ImageSource = ImageSource()  # where each image is pulled from (lock, mirror)


def chart_values() -> dict[str, Any]:
    small = kube.resources("10m", "32Mi", "128Mi")
    return {
        "crds": {"enabled": True, "keep": False},  # removed with the release: nothing left behind
        # Secrets of Certificates are owned by them, so deleting a Certificate removes its key.
        "enableCertificateOwnerRef": True,
        "resources": kube.resources("10m", "64Mi", "256Mi"),
        "webhook": {"resources": small},
        "cainjector": {"resources": kube.resources("10m", "64Mi", "256Mi")},
        "startupapicheck": {"resources": small},
    }


def chart_requests(values: dict[str, Any]) -> list[WorkloadRequest]:
    return [
        from_values("cert-manager", values, ("resources",)),
        from_values("cert-manager-webhook", values, ("webhook", "resources")),
        from_values("cert-manager-cainjector", values, ("cainjector", "resources")),
    ]

# The root CA's lifetime and renewal (issue: production-grade; a CA lives five years at most).
CA_DURATION = "43800h"
CA_RENEW_BEFORE = "8760h"


class CertManager(pulumi.ComponentResource):
    def __init__(self, name: str, args: CertManagerArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:CertManager", name, None, opts)
        provider = args.provider
        ns = kube.namespace(names.NS_CERT_MANAGER, f"{name}-ns", self, provider, depends_on=args.depends_on)
        network.namespace_policies(
            name, names.NS_CERT_MANAGER, self, provider,
            ingress=[network.from_anywhere(WEBHOOK_PORT)],  # the API server calls the webhook
            # The API, ACME directories (443) and HTTP-01 self-checks (80).
            egress=[network.to_kubernetes_api(), network.to_anywhere(80)],
            depends_on=ns.ready,
        )
        # Waits for the webhook: issuers created right after would otherwise be rejected.
        self.release = kube.helm_release(f"{name}-release", names.RELEASE_CERT_MANAGER, versions.CERT_MANAGER, ns.name, self,
                                         provider, ns.ready, values=chart_values(), images=args.images)
        bootstrap = k8s.apiextensions.CustomResource(
            f"{name}-selfsigned",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": "mlops-selfsigned-bootstrap", "labels": kube.labels("cert-manager", "issuer")},
            spec={"selfSigned": {}},
            opts=kube.child(self, provider, [self.release]),
        )
        root_ca = k8s.apiextensions.CustomResource(
            f"{name}-root-ca",
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata={
                "name": "mlops-root-ca",
                "namespace": names.NS_CERT_MANAGER,
                "labels": kube.labels("cert-manager", "ca"),
            },
            spec={
                "isCA": True,
                "commonName": "mlops-platform root CA",
                "secretName": "mlops-root-ca",
                # Five years at most, renewed by cert-manager a year before it ends (README: Sign-in and the
                # edge, "The platform's CA"): the issuer then signs with the new key, and each leaf is re-issued
                # within its own 90 days. Ref: https://cert-manager.io/docs/usage/certificate/#renewal
                "duration": CA_DURATION,
                "renewBefore": CA_RENEW_BEFORE,
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": "mlops-selfsigned-bootstrap", "kind": "ClusterIssuer", "group": "cert-manager.io"},
            },
            opts=kube.child(self, provider, [bootstrap]),
        )
        self.ca_issuer = k8s.apiextensions.CustomResource(
            f"{name}-ca-issuer",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": names.CA_ISSUER, "labels": kube.labels("cert-manager", "issuer")},
            spec={"ca": {"secretName": "mlops-root-ca"}},
            opts=kube.child(self, provider, [root_ca]),
        )
        self.issuer_name = names.CA_ISSUER
        issuers: list[pulumi.Resource] = [self.ca_issuer]
        if args.acme_email:
            self.acme_issuer = k8s.apiextensions.CustomResource(
                f"{name}-acme-issuer",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata={"name": names.ACME_ISSUER, "labels": kube.labels("cert-manager", "issuer")},
                spec={
                    "acme": {
                        "email": args.acme_email,
                        "server": ACME_SERVERS[args.acme_server],
                        "privateKeySecretRef": {"name": "letsencrypt-account-key"},
                        # The class as the kubernetes.io/ingress.class annotation: Traefik reads no
                        # IngressClass (traefik.py). Ref: https://cert-manager.io/docs/configuration/acme/http01/
                        "solvers": [{"http01": {"ingress": {"class": names.INGRESS_CLASS}}}],
                    }
                },
                opts=kube.child(self, provider, [self.release]),
            )
            self.issuer_name = names.ACME_ISSUER
            issuers.append(self.acme_issuer)
        self.ready: tuple[pulumi.Resource, ...] = tuple(issuers)
        self.register_outputs({"issuer": self.issuer_name, "release": self.release.status})


def certificate(
    resource_name: str,
    namespace: pulumi.Input[str],
    secret_name: str,
    hosts: Sequence[str],
    issuer: str,
    parent: pulumi.Resource,
    provider: k8s.Provider,
    depends_on: Sequence[pulumi.Resource] = (),
) -> k8s.apiextensions.CustomResource:
    """A cert-manager Certificate for `hosts`, written to `secret_name` in `namespace`."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="cert-manager.io/v1",
        kind="Certificate",
        metadata={"name": secret_name, "namespace": namespace, "labels": kube.labels(secret_name, "certificate")},
        spec={
            "secretName": secret_name,
            "dnsNames": list(hosts),
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        },
        opts=kube.child(parent, provider, depends_on),
    )
