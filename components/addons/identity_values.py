"""The identity layer's charts as values: the bundled Dex, and oauth2-proxy's two releases.

Secrets never travel in Helm values: Dex reads its whole configuration (client secret, the admin's
bcrypt hash) from a Secret this component writes, oauth2-proxy its client and cookie secrets from
another (the charts' `configSecret` / `config.existingSecret`).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pulumi

from .. import k8s as kube
from .. import names, versions
from ..requests import WorkloadRequest, from_values
from .backend_ports import DEX_PORT

DEX_SERVICE = names.RELEASE_DEX  # the chart's fullname for release "dex"
DEX_CONFIG_SECRET = "dex-config"
DEX_SERVICE_ACCOUNT = "dex"
# The charts' existingSecret keys: client-id, client-secret, cookie-secret.
CLIENT_SECRETS = {names.RELEASE_SSO: "sso-client", names.RELEASE_TOKENS: "tokens-client"}
CA_MOUNT = "/etc/platform-ca"  # the platform CA's ca.crt, where the issuer is served with it
PROXY_UID = 2000  # the oauth2-proxy chart's default runAsUser
DEX_UID = 1001  # Dex's image user (distroless nonroot is 65532; the chart sets none: we do)


def sso_host(domain: str) -> str:
    """oauth2-proxy's own host: the sign-in callback, shared by every UI it guards."""
    return f"auth.{domain}"


def dex_host(domain: str) -> str:
    return f"dex.{domain}"


def redirect_uris(domain: str) -> list[str]:
    """Every callback the stack's OIDC client must allow: oauth2-proxy, Grafana and MLflow.
    Refs: oauth2-proxy --redirect-url; Grafana /login/generic_oauth; mlflow-oidc-auth /callback."""
    return [f"https://{sso_host(domain)}/oauth2/callback", f"https://grafana.{domain}/login/generic_oauth",
            f"https://mlflow.{domain}/callback"]


def dex_config(issuer: str, domain: str, client_id: str, client_secret: str, admin_hash: str,
               admin_groups: Sequence[str]) -> dict[str, Any]:
    """Dex's config.yaml. In-memory storage: the static client and admin are its whole state, and
    Dex then needs no Kubernetes API access (no CRDs, no cluster-scoped role). A restart signs
    everyone out (new signing keys). Ref: https://dexidp.io/docs/configuration/"""
    return {
        "issuer": issuer,
        "storage": {"type": "memory"},
        "web": {"http": f"0.0.0.0:{DEX_PORT}"},
        # No consent screen for the platform's own client; only the code flow for browsers, and
        # the password grant for the break-glass admin's scripts (Dex has no client credentials).
        # Ref: https://dexidp.io/docs/connectors/local/ (passwordConnector: local)
        "oauth2": {"skipApprovalScreen": True, "responseTypes": ["code"], "passwordConnector": "local"},
        "enablePasswordDB": True,
        "staticPasswords": [{
            "email": admin_email(domain),
            "hash": admin_hash,
            "username": "admin",
            "userID": "mlops-platform-admin",
            "groups": list(admin_groups),
        }],
        "staticClients": [{"id": client_id, "name": "mlops-platform", "secret": client_secret,
                           "redirectURIs": redirect_uris(domain)}],
    }


def admin_email(domain: str) -> str:
    return f"admin@{domain}"


def dex_values() -> dict[str, Any]:
    return {
        # The chart's repository (ghcr.io/dexidp/dex) at DEX_IMAGE's tag; test_components checks they agree.
        "image": {"tag": versions.DEX_IMAGE.tag},  # its digest and a mirror: chart_images.py
        "configSecret": {"create": False, "name": DEX_CONFIG_SECRET},
        # Our account, whose token is not mounted (the chart's would be; Dex never calls the API).
        "serviceAccount": {"create": False, "name": DEX_SERVICE_ACCOUNT},
        # In-memory storage: no Role on dex.coreos.com, no ClusterRole to create its CRDs.
        "rbac": {"create": False},
        "podSecurityContext": kube.pod_security(DEX_UID),
        "securityContext": kube.container_security(),
        "resources": kube.resources("10m", "32Mi", "128Mi"),
    }


def oauth2_proxy_values(release: str, issuer: pulumi.Input[str], domain: str, groups_claim: str, allowed_groups: Sequence[str],
                        scopes: Sequence[str], token_audiences: Sequence[str], ca_secret: Optional[str],
                        extra_audiences: Sequence[pulumi.Input[str]] = (),
                        audience_claims: Sequence[str] = ("aud",)) -> dict[str, Any]:
    """oauth2-proxy as Traefik's forwardAuth.

    RELEASE_SSO signs people in for the UIs without OIDC of their own: Traefik asks it at `/` (its
    upstream answers 202) and passes on its answer, a redirect to the issuer when there is no
    session; the callback is on the SSO host, the cookie on the parent domain, so one sign-in covers
    every UI. Ref: https://oauth2-proxy.github.io/oauth2-proxy/configuration/integrations/traefik

    RELEASE_TOKENS checks model calls at `/oauth2/auth` (202 or 401, never a redirect): a bearer JWT
    signed by the issuer for one of `token_audiences` (--skip-jwt-bearer-tokens,
    --extra-jwt-issuers), with no group condition, so client-credentials tokens pass. A cloud-made
    issuer adds `extra_audiences` read from `audience_claims` (a Cognito access token has no `aud`;
    its client is in `client_id`): --oidc-extra-audience and --oidc-audience-claim, string slices,
    comma-separated (oauth2-proxy pkg/apis/options/legacy_options.go, v7.15).

    `ca_secret`: a TLS Secret of the namespace whose ca.crt is the CA the issuer is served with (the
    platform's own), or None for an issuer with a publicly trusted certificate.
    Ref: https://oauth2-proxy.github.io/oauth2-proxy/configuration/overview (command line options)
    """
    args: dict[str, Any] = {
        "provider": "oidc",
        "oidc-issuer-url": issuer,
        "oidc-groups-claim": groups_claim,
        "scope": " ".join(scopes),
        "email-domain": "*",
        "reverse-proxy": "true",
        "skip-jwt-bearer-tokens": "true",
        "cookie-secure": "true",
        "cookie-samesite": "lax",
    }
    if release == names.RELEASE_SSO:
        args.update({
            "redirect-url": f"https://{sso_host(domain)}/oauth2/callback",
            "cookie-domain": f".{domain}",
            "whitelist-domain": f".{domain}",
            "skip-provider-button": "true",
            "set-xauthrequest": "true",
            "allowed-group": ",".join(allowed_groups),
        })
    else:
        # Tokens for clientId pass the provider's own verifier; these add other audiences.
        if token_audiences:
            args["extra-jwt-issuers"] = _joined([under(issuer, f"={audience}") for audience in token_audiences])
        if extra_audiences:
            args["oidc-extra-audience"] = _joined(list(extra_audiences))
        if tuple(audience_claims) != ("aud",):
            args["oidc-audience-claim"] = ",".join(audience_claims)
    values: dict[str, Any] = {
        "config": {
            "existingSecret": CLIENT_SECRETS[release],
            "cookieName": f"_mlops_{release.replace('-', '_')}",
            "upstreams": ["static://202"],
        },
        "extraArgs": args,
        # It never calls the Kubernetes API. (With one replica the chart renders no disruption budget.)
        "serviceAccount": {"automountServiceAccountToken": False},
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": kube.resources("10m", "32Mi", "128Mi"),
    }
    if ca_secret is not None:
        # The issuer is served with the platform's own CA: trust it (and only it) for the provider.
        values["extraArgs"]["provider-ca-file"] = f"{CA_MOUNT}/ca.crt"
        values["extraVolumes"] = [{"name": "platform-ca", "secret": {"secretName": ca_secret, "items": [
            {"key": "ca.crt", "path": "ca.crt"}]}}]
        values["extraVolumeMounts"] = [{"name": "platform-ca", "mountPath": CA_MOUNT, "readOnly": True}]
    return values


def under(base: pulumi.Input[str], path: str) -> pulumi.Input[str]:
    """`base` + `path`, a plain string while `base` is one (the render shows it as it is)."""
    return base + path if isinstance(base, str) else pulumi.Output.concat(base, path)


def _joined(parts: Sequence[pulumi.Input[str]]) -> pulumi.Input[str]:
    if all(isinstance(part, str) for part in parts):
        return ",".join(str(part) for part in parts)
    return pulumi.Output.all(*parts).apply(lambda values: ",".join(values))


def chart_requests_dex(values: Mapping[str, Any]) -> list[WorkloadRequest]:
    return [from_values("dex", dict(values), ("resources",))]


def chart_requests_oauth2_proxy(values: Mapping[str, Any]) -> list[WorkloadRequest]:
    return [from_values("oauth2-proxy", dict(values), ("resources",))]
