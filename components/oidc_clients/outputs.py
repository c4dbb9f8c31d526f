"""The contract of a cloud-made OIDC client (oidc_clients/cognito.py, entra.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pulumi


@dataclass(frozen=True)
class OidcClientArgs:
    network: Any  # the cluster's cloud network (AwsNetwork, AzureNetwork): its provider, region, tenant
    domain: str  # the platform's domain: the sign-in callbacks are on its hosts
    prefix: str  # the stack's name: the cloud names of the pool, app and clients begin with it
    groups: tuple[str, ...]  # adminGroups and userGroups: what the groups claim carries
    tags: Mapping[str, str] = field(default_factory=dict)
    protect: bool = False  # prod: the user directory is data, like the database


@dataclass(frozen=True)
class OidcClient:
    """What Identity takes in place of the stack file's issuer and client."""

    issuer: pulumi.Output[str]
    client_id: pulumi.Output[str]
    client_secret: pulumi.Output[str]  # a secret
    authorization_endpoint: pulumi.Input[str]
    token_endpoint: pulumi.Input[str]
    userinfo_endpoint: pulumi.Input[str]
    # Scripts and services: a client of their own, its secret, and the scope their
    # client-credentials request names (`platform token` prints them).
    token_client_id: pulumi.Output[str]
    token_client_secret: pulumi.Output[str]  # a secret
    token_scope: pulumi.Output[str]
    # A model call's token passes with these audiences too, read from these claims (oauth2-proxy
    # --oidc-extra-audience, --oidc-audience-claim).
    token_audiences: tuple[pulumi.Input[str], ...] = ()
    audience_claims: tuple[str, ...] = ("aud",)
    resources: tuple[pulumi.Resource, ...] = ()

    def registered(self) -> dict[str, Any]:
        return {"issuer": self.issuer, "client_id": self.client_id, "token_client_id": self.token_client_id,
                "token_scope": self.token_scope}
