"""Identity: one OpenID Connect issuer per stack, and a sign-in in front of everything it serves.

- The issuer: the stack file's (`identity.issuer`: Okta, Entra ID, Google, Keycloak, Auth0, ...), one
  the cloud creates (`identity.provider: cognito | entra`, components/oidc_clients/), or
  the bundled Dex at `https://dex.<domain>`, with one generated admin user in `adminGroups` (its
  password a stack secret: `platform outputs --show-secrets`) and one client for the stack.
- oauth2-proxy, twice (identity_values.py): `oauth2-proxy` signs people in for the UIs that have no
  OIDC of their own (Prometheus, Alertmanager, the Traefik dashboard), its callback at
  `https://auth.<domain>`; `oauth2-proxy-tokens` checks the bearer token of every model call.
  Traefik reaches them through forwardAuth Middlewares (`sso_middleware`, `token_middleware`),
  one per namespace that routes through them (a Middleware serves its own namespace's routes).
- Grafana and MLflow sign in themselves, with what `IdentityOutputs` carries.

Inside the cluster the issuer is reached by its public name too (tokens carry it exactly): on kind
that name resolves to 127.0.0.1, so the cluster DNS answers it with Traefik's Service instead
(`cluster_dns_rewrite`); on the clouds it resolves to the load balancer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import k8s as kube
from .. import names, network, versions
from ..config.access import IdentityConfig
from ..egress import HttpsEgress
from ..image_source import ImageSource
from ..oidc_clients.outputs import OidcClient
from . import identity_values as chart
from .backend_ports import from_traefik
from .cert_manager import certificate
from .identity_values import under
from .routes import ISSUER_SIGN_IN, ingress_route
from .traefik import WEBSECURE_PORT

CLIENT_ID = "mlops-platform"  # the bundled Dex's client for this stack
SSO_TLS_SECRET = "auth-tls"


@dataclass(frozen=True)
class IdentityArgs:
    provider: k8s.Provider
    cloud: str
    domain: str
    config: IdentityConfig
    issuer: str  # the ClusterIssuer for the issuer's and the sign-in host's certificates
    platform_ca: bool  # hosts are served with the platform's own CA (tls.issuer selfSigned)
    https: HttpsEgress  # where oauth2-proxy may reach the issuer over HTTPS (components/egress.py)
    issuers: tuple[pulumi.Resource, ...] = ()
    ingress: tuple[pulumi.Resource, ...] = ()  # Traefik's release: its CRDs, for routes and Middlewares
    client: Optional[OidcClient] = None  # the cloud-made issuer and client (identity.provider cognito, entra)
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)
    images: ImageSource = ImageSource()  # where each image is pulled from (lock, mirror)


@dataclass(frozen=True)
class IdentityOutputs:
    """What every sign-in needs: the issuer, the stack's client, and the groups that may use it."""

    issuer: pulumi.Input[str]  # an Output where the cloud makes the issuer (a Cognito pool's id)
    client_id: pulumi.Input[str]
    client_secret: pulumi.Output[str]
    groups_claim: str
    admin_groups: tuple[str, ...]
    user_groups: tuple[str, ...]
    scopes: tuple[str, ...]
    authorization_endpoint: pulumi.Input[str]
    token_endpoint: pulumi.Input[str]
    userinfo_endpoint: pulumi.Input[str]
    # The issuer is served with the platform CA, which its clients must then trust.
    platform_ca: bool
    # A model call's token: audiences besides client_id, read from these claims.
    token_audiences: tuple[pulumi.Input[str], ...] = ()
    audience_claims: tuple[str, ...] = ("aud",)
    ready: tuple[pulumi.Resource, ...] = ()

    @property
    def discovery_url(self) -> pulumi.Input[str]:
        return under(self.issuer, "/.well-known/openid-configuration")

    @property
    def allowed_groups(self) -> tuple[str, ...]:
        return (*self.admin_groups, *self.user_groups)


def issuer_url(config: IdentityConfig, domain: str) -> str:
    """The issuer the stack file names or the bundled Dex; a cloud-made issuer is known after `up` only."""
    return config.issuer if config.issuer else f"https://{chart.dex_host(domain)}"


class Identity(pulumi.ComponentResource):
    def __init__(self, name: str, args: IdentityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:Identity", name, None, opts)
        self._args = args
        self._name = name
        self._ns = kube.namespace(names.NS_IDENTITY, f"{name}-ns", self, args.provider, depends_on=args.depends_on)
        self._network_policies()
        bundled = args.config.kind == "dex"
        preset = args.client
        issuer: pulumi.Input[str] = preset.issuer if preset else issuer_url(args.config, args.domain)
        client_id, client_secret = (preset.client_id, preset.client_secret) if preset else self._client(bundled)
        ready: list[pulumi.Resource] = []
        self.admin_password: Optional[pulumi.Output[str]] = None
        # Every Helm release this component installs (the stack's deployment record lists them).
        self.helm_releases: list[pulumi.Resource] = []
        if bundled:
            assert isinstance(issuer, str)
            self.admin_password, dex = self._dex(issuer, client_id, client_secret)
            ready.append(dex)
            self.helm_releases.append(dex)
            if args.cloud == "local":
                ready.append(cluster_dns_rewrite(f"{name}-dns", chart.dex_host(args.domain), self, args.provider))
        if preset is not None:
            endpoints = (preset.authorization_endpoint, preset.token_endpoint, preset.userinfo_endpoint)
        elif args.config.endpoints is not None:
            given = args.config.endpoints
            endpoints = (given.authorization, given.token, given.userinfo)
        else:  # the bundled Dex's
            endpoints = (under(issuer, "/auth"), under(issuer, "/token"), under(issuer, "/userinfo"))
        self.outputs = IdentityOutputs(
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
            groups_claim=args.config.claim,
            admin_groups=args.config.admin_groups,
            user_groups=args.config.user_groups,
            scopes=args.config.effective_scopes,
            authorization_endpoint=endpoints[0],
            token_endpoint=endpoints[1],
            userinfo_endpoint=endpoints[2],
            platform_ca=bundled and args.platform_ca,
            token_audiences=preset.token_audiences if preset else (),
            audience_claims=preset.audience_claims if preset else ("aud",),
            ready=(*ready, *(preset.resources if preset else ())),
        )
        self.releases = self._oauth2_proxies(client_id, client_secret, [*ready])
        self.helm_releases += self.releases.values()
        self.sign_in_url = f"https://{chart.sso_host(args.domain)}"
        self.register_outputs({"issuer": issuer, "sign_in": self.sign_in_url})

    # --- pieces ---------------------------------------------------------------------------

    def _network_policies(self) -> None:
        network.namespace_policies(
            self._name, names.NS_IDENTITY, self, self._args.provider,
            # Traefik serves Dex and the sign-in host, and asks oauth2-proxy on every guarded request.
            ingress=[from_traefik(names.NS_IDENTITY)],
            # oauth2-proxy reaches the issuer: the bundled one through Traefik, another at its ranges (egress.py).
            egress=[network.to_namespace(names.NS_TRAEFIK, WEBSECURE_PORT), *self._args.https.to_issuer()],
            depends_on=self._ns.ready,
        )

    def _client(self, bundled: bool) -> tuple[pulumi.Input[str], pulumi.Output[str]]:
        """The stack's OIDC client: generated for the bundled Dex, the stack file's otherwise."""
        config = self._args.config
        if bundled:
            secret = random.RandomPassword(f"{self._name}-client-secret", length=40, special=False,
                                           opts=pulumi.ResourceOptions(parent=self))
            return CLIENT_ID, pulumi.Output.secret(secret.result)
        assert config.client_id is not None and config.client_secret is not None  # config checks: external has both
        value = config.client_secret.decrypted
        # An offline plan reads the stack file's ciphertext only: the value stands in, as a secret.
        return config.client_id, pulumi.Output.secret(value if value is not None else "<clientSecret from the stack file>")

    def _dex(self, issuer: str, client_id: pulumi.Input[str], client_secret: pulumi.Output[str]) -> tuple[pulumi.Output[str], Any]:
        args, provider = self._args, self._args.provider
        password = random.RandomPassword(f"{self._name}-admin-password", length=24, special=False,
                                         opts=pulumi.ResourceOptions(parent=self))
        config: pulumi.Output[str] = pulumi.Output.all(client_id, client_secret, password.bcrypt_hash).apply(
            lambda parts: json.dumps(chart.dex_config(issuer, args.domain, parts[0], parts[1], parts[2], args.config.admin_groups))
        )
        secret = k8s.core.v1.Secret(
            f"{self._name}-dex-config",
            metadata={"name": chart.DEX_CONFIG_SECRET, "namespace": names.NS_IDENTITY, "labels": kube.labels("dex")},
            # JSON is YAML. A secret: it is made of secrets (the client secret, the password hash).
            string_data={"config.yaml": config},
            opts=kube.child(self, provider, self._ns.ready),
        )
        account = kube.service_account(f"{self._name}-dex-sa", chart.DEX_SERVICE_ACCOUNT, names.NS_IDENTITY, self, provider,
                                       depends_on=self._ns.ready)
        release = kube.helm_release(f"{self._name}-dex", names.RELEASE_DEX, versions.DEX, self._ns.name, self, provider,
                                    [*self._ns.ready, secret, account], values=chart.dex_values(),
                                    images=args.images)
        host = chart.dex_host(args.domain)
        tls = certificate(f"{self._name}-dex-cert", names.NS_IDENTITY, "dex-tls", [host], args.issuer, self, provider,
                          [*self._ns.ready, *args.issuers])
        ingress_route(f"{self._name}-dex-route", "dex", names.NS_IDENTITY, f"Host(`{host}`)",
                      [{"name": chart.DEX_SERVICE, "port": chart.DEX_PORT}], "dex-tls", [], self, provider,
                      [release, tls, *args.ingress], annotations=ISSUER_SIGN_IN)
        return pulumi.Output.secret(password.result), release

    def _oauth2_proxies(self, client_id: pulumi.Input[str], client_secret: pulumi.Output[str],
                        issuer_ready: Sequence[pulumi.Resource]) -> dict[str, Any]:
        args, provider, out = self._args, self._args.provider, self.outputs
        host = chart.sso_host(args.domain)
        tls = certificate(f"{self._name}-sso-cert", names.NS_IDENTITY, SSO_TLS_SECRET, [host], args.issuer, self, provider,
                          [*self._ns.ready, *args.issuers])
        releases: dict[str, Any] = {}
        audiences = tuple(args.config.token_audiences)
        for release in (names.RELEASE_SSO, names.RELEASE_TOKENS):
            cookie = random.RandomPassword(f"{self._name}-{release}-cookie", length=32, special=False,
                                           opts=pulumi.ResourceOptions(parent=self))
            secret = k8s.core.v1.Secret(
                f"{self._name}-{release}-client",
                metadata={"name": chart.CLIENT_SECRETS[release], "namespace": names.NS_IDENTITY, "labels": kube.labels(release)},
                string_data={"client-id": client_id, "client-secret": client_secret, "cookie-secret": cookie.result},
                opts=kube.child(self, provider, self._ns.ready),
            )
            values = chart.oauth2_proxy_values(release, out.issuer, args.domain, out.groups_claim, out.allowed_groups,
                                               out.scopes, audiences, SSO_TLS_SECRET if out.platform_ca else None,
                                               out.token_audiences, out.audience_claims)
            # It reads the issuer's discovery document when it starts: after the issuer (and its certificate).
            releases[release] = kube.helm_release(f"{self._name}-{release}", release, versions.OAUTH2_PROXY, self._ns.name, self,
                                                  provider, [*self._ns.ready, secret, tls, *issuer_ready], values=values,
                                                  images=args.images)
        ingress_route(f"{self._name}-sso-route", "sso", names.NS_IDENTITY, f"Host(`{host}`) && PathPrefix(`/oauth2/`)",
                      [{"name": names.RELEASE_SSO, "port": 80}], SSO_TLS_SECRET, [], self, provider,
                      [releases[names.RELEASE_SSO], tls, *args.ingress], annotations=ISSUER_SIGN_IN)
        return releases


# kind's CoreDNS configuration (kubeadm's default Corefile for the cluster domain cluster.local),
# with one more server block: the issuer's name answered with Traefik's Service, whose certificate
# for that name the clients then see. The `reload` plugin applies a change within a minute.
# Refs: https://github.com/kubernetes/kubernetes/blob/master/cmd/kubeadm/app/phases/addons/dns/manifests.go
# (CoreDNSConfigMap), https://coredns.io/plugins/rewrite/ (name exact ... answer auto)
KUBEADM_COREFILE = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""


def corefile(host: str) -> str:
    target = f"{names.RELEASE_TRAEFIK}.{names.NS_TRAEFIK}.svc.cluster.local"
    return KUBEADM_COREFILE + (
        f"{host}:53 {{\n"
        "    errors\n"
        f"    rewrite name exact {host} {target} answer auto\n"
        "    kubernetes cluster.local\n"
        "}\n"
    )


def cluster_dns_rewrite(resource_name: str, host: str, parent: pulumi.Resource, provider: k8s.Provider) -> Any:
    """On kind: pods resolve `host` to Traefik's Service (the name itself resolves to 127.0.0.1)."""
    return k8s.core.v1.ConfigMapPatch(
        resource_name,
        metadata={"name": "coredns", "namespace": "kube-system",
                  # kubeadm owns the ConfigMap's fields; this takes the Corefile over.
                  "annotations": {"pulumi.com/patchForce": "true"}},
        data={"Corefile": corefile(host)},
        opts=kube.child(parent, provider),
    )
