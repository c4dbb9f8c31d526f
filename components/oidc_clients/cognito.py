"""An Amazon Cognito user pool as the stack's issuer (`identity.provider: cognito`, aws stacks).

- The pool: people are created by an administrator only (no self sign-up), e-mail is the user
  name, `name` is required (MLflow's sign-in refuses a person without a display name), passwords
  of 12+ characters of four kinds, TOTP MFA available. A group per adminGroups/userGroups entry:
  the ID and access tokens carry membership in `cognito:groups`. Prod: deletion protection and
  Pulumi `protect`, as for the database (the directory is data).
- The hosted sign-in at `https://<prefix>.auth.<region>.amazoncognito.com` (the prefix a digest of
  stack and domain: unique per user, and free of the words Cognito refuses).
- Two app clients: `sign-in` (authorization code, for oauth2-proxy, Grafana and MLflow) and
  `scripts` (client credentials, scope `mlops-models/invoke` of a resource server). Cognito lets
  no client have both grants. Its access tokens carry no `aud`: the client is in `client_id`, which
  the model-token check reads as the audience too.
Refs: https://docs.aws.amazon.com/cognito/latest/developerguide/cognito-userpools-server-contract-reference.html
https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-access-token.html
"""

from __future__ import annotations

import hashlib
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from ..addons.identity_values import redirect_uris
from .outputs import OidcClient, OidcClientArgs

RESOURCE_SERVER = "mlops-models"
INVOKE_SCOPE = "invoke"
SCRIPTS_SCOPE = f"{RESOURCE_SERVER}/{INVOKE_SCOPE}"  # what the scripts client asks for
TOKEN_MINUTES = 60


def domain_prefix(stack: str, domain: str) -> str:
    """The hosted sign-in's prefix: lower-case letters, digits and hyphens; hex never spells
    'aws', 'amazon' or 'cognito', which Cognito refuses in a prefix."""
    return "mlops-" + hashlib.sha256(f"{stack}\n{domain}".encode()).hexdigest()[:16]


def hosted_endpoint(prefix: str, region: str, path: str) -> str:
    return f"https://{prefix}.auth.{region}.amazoncognito.com/oauth2/{path}"


class CognitoClient(pulumi.ComponentResource):
    def __init__(self, name: str, args: OidcClientArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:oidc:CognitoClient", name, None, opts)
        region = args.network.region
        child = pulumi.ResourceOptions(parent=self, provider=args.network.provider)
        pool = self._pool(name, args, child)
        prefix = domain_prefix(args.prefix, args.domain)
        domain = aws.cognito.UserPoolDomain(f"{name}-domain", domain=prefix, user_pool_id=pool.id, opts=child)
        groups = [aws.cognito.UserGroup(f"{name}-group-{group}", name=group, user_pool_id=pool.id, precedence=rank,
                                        description="mlops-platform: maps to the platform's roles (adminGroups/userGroups)",
                                        opts=child)
                  for rank, group in enumerate(args.groups)]
        sign_in, scripts = self._clients(name, args, pool, child)
        self.outputs = OidcClient(
            issuer=pulumi.Output.concat("https://", pool.endpoint),
            client_id=sign_in.id,
            client_secret=pulumi.Output.secret(sign_in.client_secret),
            authorization_endpoint=hosted_endpoint(prefix, region, "authorize"),
            token_endpoint=hosted_endpoint(prefix, region, "token"),
            userinfo_endpoint=hosted_endpoint(prefix, region, "userInfo"),
            token_client_id=scripts.id,
            token_client_secret=pulumi.Output.secret(scripts.client_secret),
            token_scope=pulumi.Output.from_input(SCRIPTS_SCOPE),
            token_audiences=(scripts.id,),
            audience_claims=("aud", "client_id"),
            resources=(pool, domain, *groups, sign_in, scripts),
        )
        self.register_outputs(self.outputs.registered())

    @staticmethod
    def _pool(name: str, args: OidcClientArgs, child: pulumi.ResourceOptions) -> aws.cognito.UserPool:
        return aws.cognito.UserPool(
            f"{name}-pool",
            name=f"{args.prefix}-users",
            username_attributes=["email"],
            auto_verified_attributes=["email"],
            admin_create_user_config={"allow_admin_create_user_only": True},
            password_policy={"minimum_length": 12, "require_lowercase": True, "require_uppercase": True,
                             "require_numbers": True, "require_symbols": True, "temporary_password_validity_days": 3},
            mfa_configuration="OPTIONAL",
            software_token_mfa_configuration={"enabled": True},
            account_recovery_setting={"recovery_mechanisms": [{"name": "verified_email", "priority": 1}]},
            schemas=[{"name": attribute, "attribute_data_type": "String", "required": True, "mutable": True,
                      "string_attribute_constraints": {"min_length": "1", "max_length": "256"}}
                     for attribute in ("email", "name")],
            deletion_protection="ACTIVE" if args.protect else "INACTIVE",
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=args.protect)),
        )

    @staticmethod
    def _clients(name: str, args: OidcClientArgs, pool: aws.cognito.UserPool,
                 child: pulumi.ResourceOptions) -> tuple[aws.cognito.UserPoolClient, aws.cognito.UserPoolClient]:
        """`sign-in` (authorization code) for the UIs; `scripts` (client credentials) for model calls."""
        # Both: a secret, this pool's people only, no hint whether a user exists, one-hour tokens.
        common: dict[str, Any] = {
            "user_pool_id": pool.id, "generate_secret": True, "allowed_oauth_flows_user_pool_client": True,
            "supported_identity_providers": ["COGNITO"], "explicit_auth_flows": ["ALLOW_REFRESH_TOKEN_AUTH"],
            "prevent_user_existence_errors": "ENABLED", "access_token_validity": TOKEN_MINUTES,
            "token_validity_units": {"access_token": "minutes", "id_token": "minutes", "refresh_token": "days"},
        }
        sign_in = aws.cognito.UserPoolClient(
            f"{name}-sign-in", name=f"{args.prefix}-sign-in", allowed_oauth_flows=["code"],
            allowed_oauth_scopes=["openid", "email", "profile"], callback_urls=redirect_uris(args.domain),
            enable_token_revocation=True, id_token_validity=TOKEN_MINUTES, refresh_token_validity=1, **common, opts=child,
        )
        server = aws.cognito.ResourceServer(
            f"{name}-models", identifier=RESOURCE_SERVER, name="mlops-platform models", user_pool_id=pool.id,
            scopes=[{"scope_name": INVOKE_SCOPE, "scope_description": "Call the platform's model endpoints"}],
            opts=child,
        )
        scripts = aws.cognito.UserPoolClient(
            f"{name}-scripts", name=f"{args.prefix}-scripts", allowed_oauth_flows=["client_credentials"],
            allowed_oauth_scopes=[SCRIPTS_SCOPE], **common,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[server])),
        )
        return sign_in, scripts
