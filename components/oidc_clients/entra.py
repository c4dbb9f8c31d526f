"""A Microsoft Entra ID app registration as the stack's client (`identity.provider: entra`, azure stacks).

- The app: single tenant, the sign-in callbacks of oauth2-proxy, Grafana and MLflow, v2 access
  tokens (issuer `https://login.microsoftonline.com/<tenant>/v2.0`, audience the app's client id),
  and an app role per adminGroups/userGroups entry. Tokens carry the roles a person (or a group,
  with Entra ID P1) is assigned in `roles`: the groups claim of this preset. Its service principal
  requires an assignment, so no one else in the tenant can sign in at all.
- Two client secrets: `sign-in` for the UIs and `scripts` for client-credentials tokens (scope
  `<client id>/.default`); each is rotated on its own (README: Sign-in).
Refs: https://learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps
https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference (v2 tokens)
"""

from __future__ import annotations

import uuid
from typing import Optional

import pulumi
import pulumi_azuread as azuread

from ..addons.identity_values import redirect_uris
from .outputs import OidcClient, OidcClientArgs

LOGIN = "https://login.microsoftonline.com"
USERINFO = "https://graph.microsoft.com/oidc/userinfo"
# App role ids are GUIDs the app keeps for a role's life: derived from the stack and the role.
ROLE_NAMESPACE = uuid.UUID("5b0c5d4e-8f8a-4c1e-9a55-6d1f3a0e2b7c")


def _login(tenant: pulumi.Input[str], path: str) -> pulumi.Output[str]:
    """A URL of the tenant's sign-in service."""
    return pulumi.Output.concat(LOGIN, "/", tenant, path)


def role_id(stack: str, role: str) -> str:
    return str(uuid.uuid5(ROLE_NAMESPACE, f"{stack}/{role}"))


class EntraClient(pulumi.ComponentResource):
    def __init__(self, name: str, args: OidcClientArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:oidc:EntraClient", name, None, opts)
        tenant = args.network.tenant_id
        provider = azuread.Provider(f"{name}-azuread", tenant_id=tenant, opts=pulumi.ResourceOptions(parent=self))
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        tags = [f"{key}={value}" for key, value in sorted(args.tags.items())]
        app = azuread.Application(
            f"{name}-app",
            display_name=f"mlops-platform {args.prefix}",
            sign_in_audience="AzureADMyOrg",
            prevent_duplicate_names=True,
            web={"redirect_uris": redirect_uris(args.domain),
                 "implicit_grant": {"access_token_issuance_enabled": False, "id_token_issuance_enabled": False}},
            api={"requested_access_token_version": 2},
            app_roles=[{"id": role_id(args.prefix, role), "value": role, "display_name": role, "enabled": True,
                        "allowed_member_types": ["User", "Application"],
                        "description": "mlops-platform: maps to the platform's roles (adminGroups/userGroups)"}
                       for role in args.groups],
            # email in the ID token (MLflow and Grafana name people by it).
            optional_claims={"id_tokens": [{"name": "email"}]},
            tags=tags,
            opts=child,
        )
        principal = azuread.ServicePrincipal(f"{name}-principal", client_id=app.client_id, app_role_assignment_required=True,
                                             tags=tags, opts=child)
        passwords = {purpose: azuread.ApplicationPassword(f"{name}-{purpose}", application_id=app.id, display_name=purpose,
                                                          opts=child)
                     for purpose in ("sign-in", "scripts")}
        self.outputs = OidcClient(
            issuer=_login(tenant, "/v2.0"),
            client_id=app.client_id,
            client_secret=pulumi.Output.secret(passwords["sign-in"].value),
            authorization_endpoint=_login(tenant, "/oauth2/v2.0/authorize"),
            token_endpoint=_login(tenant, "/oauth2/v2.0/token"),
            userinfo_endpoint=USERINFO,
            token_client_id=app.client_id,
            token_client_secret=pulumi.Output.secret(passwords["scripts"].value),
            token_scope=pulumi.Output.concat(app.client_id, "/.default"),
            resources=(app, principal, *passwords.values()),
        )
        self.register_outputs(self.outputs.registered())
