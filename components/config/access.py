"""Who may reach the platform, and what it may reach: the edge (`platform:ingress`: which addresses
reach the load balancer, or an internal one), sign-in (`platform:identity`: one OpenID Connect issuer
per stack), and the workloads' HTTPS egress (`platform:egress`: address ranges beyond the stack's own)."""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import StrictBool, StrictStr, field_validator, model_validator

from .. import cidrs
from .base import Model
from .errors import shown_text


class IngressConfig(Model):
    # Source ranges on the load balancer Traefik sits behind; none: any address may connect.
    allowed_cidrs: tuple[StrictStr, ...] = ()
    # The cloud's internal load balancer: reachable from the network (VPC/VNet, peering, VPN) only.
    internal: StrictBool = False

    @field_validator("allowed_cidrs")
    @classmethod
    def _ranges(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cidrs.parse(value)  # ValueError names the first range that is not one
        return value


class EgressConfig(Model):
    # Address ranges MLflow, the models and their detectors may open HTTPS connections to besides the
    # stack's own endpoints (components/egress.py): e.g. an external issuer's, or a model store of
    # another cloud. A NetworkPolicy names addresses, never host names. `0.0.0.0/0` opens HTTPS to all.
    allow: tuple[StrictStr, ...] = ()

    @field_validator("allow")
    @classmethod
    def _ranges(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(network) for network in cidrs.parse(value))  # ValueError names the first that is not one


class SecretValue(Model):
    """A secret from the stack file: `secure` is Pulumi's ciphertext (what an offline plan reads; its
    value is not known there), `decrypted` what the engine hands the program at `up`."""

    secure: Optional[StrictStr] = None
    decrypted: Optional[StrictStr] = None

    @model_validator(mode="after")
    def _one(self) -> "SecretValue":
        if (self.secure is None) == (self.decrypted is None):
            raise ValueError("a secret is set with `pulumi config set --secret`")
        return self


IdentityProvider = Literal["dex", "external", "cognito", "entra"]
_GROUP = re.compile(r"^[^\s,]{1,256}$")  # one group name: groups travel comma-separated in flags


# Ref: https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html
# (cognito:groups); https://learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps (roles)
PROVIDER_GROUPS_CLAIMS = {"cognito": "cognito:groups", "entra": "roles"}
# Where a preset can create the client: the provider's cloud.
PRESET_CLOUDS = {"cognito": "aws", "entra": "azure"}


class Endpoints(Model):
    """An external issuer's endpoints, as its discovery document (<issuer>/.well-known/openid-configuration)
    states them: Grafana's generic_oauth takes them one by one (it reads no discovery document)."""

    authorization: StrictStr
    token: StrictStr
    userinfo: StrictStr

    @field_validator("authorization", "token", "userinfo")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.match(r"^https://[^/?#\s]+(/[^#\s]*)?$", value):
            raise ValueError(f"'{shown_text(value)}' is not an https URL")
        return value


class IdentityConfig(Model):
    # dex: the bundled Dex; external: any OIDC issuer (Okta, Entra ID, Google, Keycloak, Auth0);
    # cognito (aws) and entra (azure): the stack creates the issuer's client itself (components/oidc_clients/).
    # Unset: external when `issuer` is given, else dex (not allowed in prod: say so explicitly).
    provider: Optional[IdentityProvider] = None
    issuer: Optional[StrictStr] = None
    client_id: Optional[StrictStr] = None
    client_secret: Optional[SecretValue] = None
    endpoints: Optional[Endpoints] = None
    # Scopes the sign-ins ask for; default: openid email profile, and groups for Dex.
    scopes: Optional[tuple[StrictStr, ...]] = None
    # Audiences a model call's bearer token may carry besides clientId (client-credentials tokens
    # of some issuers, e.g. Entra ID's api://<app>).
    token_audiences: tuple[StrictStr, ...] = ()
    # Unset: the provider's (cognito:groups for Cognito, roles for Entra ID's app roles, else groups).
    groups_claim: Optional[StrictStr] = None
    admin_groups: tuple[StrictStr, ...] = ("mlops-admins",)
    user_groups: tuple[StrictStr, ...] = ("mlops-users",)
    grafana_user_role: Literal["Viewer", "Editor"] = "Viewer"

    @field_validator("client_secret", mode="before")
    @classmethod
    def _not_plaintext(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("a plain value in the stack file; store it encrypted: "
                             "pulumi config set --secret --path platform:identity.clientSecret <value>")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: Optional[str]) -> Optional[str]:
        # OpenID Connect Discovery 1.0 §2: an https URL with no query or fragment; tokens carry it exactly.
        if value is not None and not re.match(r"^https://[^/?#\s]+(/[^?#\s]*)?$", value):
            raise ValueError(f"'{shown_text(value)}' is not an issuer URL (https://host[/path], as the issuer's "
                             "discovery document states it)")
        return value.rstrip("/") if value else value

    @field_validator("admin_groups", "user_groups")
    @classmethod
    def _groups(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("give at least one group")
        for group in value:
            if not _GROUP.match(group):
                raise ValueError(f"'{shown_text(group)}' is not a group name (no spaces or commas)")
        return value

    @property
    def kind(self) -> IdentityProvider:
        """The provider in effect."""
        if self.provider is not None:
            return self.provider
        return "external" if self.issuer else "dex"

    @property
    def claim(self) -> str:
        """The claim that carries a person's groups."""
        if self.groups_claim is not None:
            return self.groups_claim
        return PROVIDER_GROUPS_CLAIMS.get(self.kind, "groups")

    @property
    def effective_scopes(self) -> tuple[str, ...]:
        if self.scopes is not None:
            return self.scopes
        return ("openid", "email", "profile", "groups") if self.kind == "dex" else ("openid", "email", "profile")

    @property
    def explicit(self) -> bool:
        """Whether the stack file chose the issuer (prod stacks must)."""
        return self.provider is not None or self.issuer is not None
