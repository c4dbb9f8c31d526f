"""The issuers a cloud makes (`identity.provider: cognito` on aws-prod, `entra` on azure-prod, as
shipped), under the Pulumi SDK's mocks: what the directory lets in, which client has which grant,
and that every sign-in (oauth2-proxy, Grafana, MLflow) and the model-token check use exactly what
the cloud made, never the bundled Dex."""

from __future__ import annotations

import jmespath
import pulumi
import pytest

from mlops_platform.components import names
from mlops_platform.components.addons.identity_values import redirect_uris
from mlops_platform.components.oidc_clients import cognito, entra
from mlops_platform.planner import mocks
from mlops_platform.planner.mocks import TENANT_ID


def _one(run, type_token: str, suffix: str = ""):
    matches = [r for r in run.of_type(type_token) if r.name.endswith(suffix)]
    assert len(matches) == 1, f"{len(matches)} {type_token} ending {suffix!r}"
    return matches[0]


def _values(run) -> dict:
    return {r.input("name"): r.input("values") for r in run.helm_releases()}


@pytest.fixture(scope="module")
def aws_prod(planned):
    return planned("aws-prod")


@pytest.fixture(scope="module")
def azure_prod(planned):
    return planned("azure-prod")


# --- Cognito ----------------------------------------------------------------------------------


def test_cognito_pool_admits_only_people_an_admin_creates_and_keeps_them_in_prod(aws_prod):
    pool = _one(aws_prod, "aws:cognito/userPool:UserPool")
    assert pool.input("adminCreateUserConfig") == {"allowAdminCreateUserOnly": True}, "no self sign-up"
    assert pool.input("passwordPolicy", "minimumLength") >= 12
    assert pool.input("deletionProtection") == "ACTIVE" and pool.protect, "the directory is data in prod"
    required = {s["name"] for s in pool.input("schemas") if s["required"]}
    assert {"email", "name"} <= required, "MLflow's sign-in refuses a person without a display name"
    assert pool.input("tags", names.tag_key("aws", "stack")) == "aws-prod"
    groups = {g.input("name") for g in aws_prod.of_type("aws:cognito/userGroup:UserGroup")}
    assert groups == {"mlops-admins", "mlops-users"}


def test_cognito_clients_one_grant_each_callbacks_exactly_the_platforms(aws_prod, stack_config):
    domain = stack_config("aws-prod").effective_domain
    sign_in = _one(aws_prod, "aws:cognito/userPoolClient:UserPoolClient", "-sign-in")
    assert sign_in.input("allowedOauthFlows") == ["code"] and sign_in.input("generateSecret") is True
    assert sign_in.input("callbackUrls") == redirect_uris(domain)
    assert sign_in.input("supportedIdentityProviders") == ["COGNITO"]
    scripts = _one(aws_prod, "aws:cognito/userPoolClient:UserPoolClient", "-scripts")
    assert scripts.input("allowedOauthFlows") == ["client_credentials"] and not scripts.input("callbackUrls")
    server = _one(aws_prod, "aws:cognito/resourceServer:ResourceServer")
    assert scripts.input("allowedOauthScopes") == [f"{server.input('identifier')}/{server.input('scopes')[0]['scopeName']}"]
    prefix = _one(aws_prod, "aws:cognito/userPoolDomain:UserPoolDomain").input("domain")
    assert prefix == cognito.domain_prefix("aws-prod", domain)
    assert not any(word in prefix for word in ("aws", "amazon", "cognito")), "Cognito refuses these in a prefix"


def test_every_sign_in_uses_the_pool_and_models_take_the_scripts_clients_tokens(aws_prod):
    pool_id = _one(aws_prod, "aws:cognito/userPoolDomain:UserPoolDomain").input("userPoolId")
    issuer = f"https://cognito-idp.us-east-1.amazonaws.com/{pool_id}"
    values = _values(aws_prod)
    assert names.RELEASE_DEX not in values, "no Dex where the cloud makes the issuer"
    sso, tokens = values[names.RELEASE_SSO]["extraArgs"], values[names.RELEASE_TOKENS]["extraArgs"]
    assert sso["oidc-issuer-url"] == tokens["oidc-issuer-url"] == issuer
    assert sso["oidc-groups-claim"] == "cognito:groups"
    # A Cognito access token has no aud: its client is in client_id, and the scripts client is the audience.
    scripts_id = _client_id(aws_prod, "-scripts")
    assert tokens["oidc-extra-audience"] == scripts_id and tokens["oidc-audience-claim"].split(",") == ["aud", "client_id"]
    assert "oidc-extra-audience" not in sso, "people sign in to the UIs with the sign-in client only"
    mlflow = values[names.RELEASE_MLFLOW]
    assert mlflow["oidcAuth"]["discoveryUrl"] == f"{issuer}/.well-known/openid-configuration"
    assert mlflow["oidcAuth"]["groupsAttribute"] == "cognito:groups"
    assert mlflow["oidcAuth"]["clientId"] == mlflow["oidcAuth"]["audience"] == _client_id(aws_prod, "-sign-in")
    assert mlflow["extraEnvVars"]["OIDC_ISSUER"] == issuer
    oauth = values[names.RELEASE_MONITORING]["grafana"]["grafana.ini"]["auth.generic_oauth"]
    region_host = f"{cognito.domain_prefix('aws-prod', 'mlops.example.com')}.auth.us-east-1.amazoncognito.com"
    assert oauth["auth_url"] == f"https://{region_host}/oauth2/authorize"
    assert oauth["token_url"] == f"https://{region_host}/oauth2/token"
    assert jmespath.search(oauth["role_attribute_path"], {"cognito:groups": ["mlops-admins"]}) == "Admin"
    assert jmespath.search(oauth["role_attribute_path"], {"groups": ["mlops-admins"]}) is False


def _client_id(run, suffix: str) -> str:
    """The id the mocks gave the client (planner/mocks.py, _cognito_client): an output, in no input of its own."""
    client = _one(run, "aws:cognito/userPoolClient:UserPoolClient", suffix)
    return mocks._digest("cognito-client", client.name)[:26]


# --- Entra ID ---------------------------------------------------------------------------------


def test_entra_app_is_single_tenant_with_a_role_per_group_and_assignment_required(azure_prod, stack_config):
    config = stack_config("azure-prod")
    app = _one(azure_prod, "azuread:index/application:Application")
    assert app.input("signInAudience") == "AzureADMyOrg"
    assert app.input("web", "redirectUris") == redirect_uris(config.effective_domain)
    assert app.input("web", "implicitGrant") == {"accessTokenIssuanceEnabled": False, "idTokenIssuanceEnabled": False}
    assert app.input("api", "requestedAccessTokenVersion") == 2, "v2 tokens: the v2 issuer, audience the client id"
    roles = {r["value"]: r for r in app.input("appRoles")}
    assert set(roles) == {*config.identity.admin_groups, *config.identity.user_groups}
    assert all(r["id"] == entra.role_id("azure-prod", value) for value, r in roles.items()), "stable role ids"
    principal = _one(azure_prod, "azuread:index/servicePrincipal:ServicePrincipal")
    assert principal.input("appRoleAssignmentRequired") is True, "no one else in the tenant signs in"
    provider = _one(azure_prod, "pulumi:providers:azuread")
    assert provider.input("tenantId") == TENANT_ID, "the cluster's tenant"
    for resource in (app, principal, *azure_prod.of_type("azuread:index/applicationPassword:ApplicationPassword")):
        assert resource.provider_urn == provider.urn, "the explicit azuread provider"


def test_entra_sign_ins_read_roles_and_scripts_have_their_own_secret(azure_prod):
    issuer = f"https://login.microsoftonline.com/{TENANT_ID}/v2.0"
    values = _values(azure_prod)
    assert names.RELEASE_DEX not in values
    sso, tokens = values[names.RELEASE_SSO]["extraArgs"], values[names.RELEASE_TOKENS]["extraArgs"]
    assert sso["oidc-issuer-url"] == tokens["oidc-issuer-url"] == issuer and sso["oidc-groups-claim"] == "roles"
    assert "oidc-audience-claim" not in tokens and "oidc-extra-audience" not in tokens, "v2 tokens carry aud"
    oauth = values[names.RELEASE_MONITORING]["grafana"]["grafana.ini"]["auth.generic_oauth"]
    assert oauth["auth_url"] == f"https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/authorize"
    assert jmespath.search(oauth["role_attribute_path"], {"roles": ["mlops-users"]}) == "Viewer"
    passwords = {p.input("displayName") for p in azure_prod.of_type("azuread:index/applicationPassword:ApplicationPassword")}
    assert passwords == {"sign-in", "scripts"}, "rotated one at a time"
    client_secrets = [r for r in azure_prod.kubernetes_objects() if r.input("kind") == "Secret"
                      and r.input("metadata", "namespace") == names.NS_IDENTITY and r.input("stringData", "client-secret")]
    assert client_secrets and all(s.is_secret("stringData") for s in client_secrets)


@pytest.mark.parametrize("stack", ["aws-prod", "azure-prod"])
def test_the_scripts_secret_is_its_own_and_the_stack_outputs_say_how_to_get_a_token(stack, stack_config):
    """What `platform token` reads (signIn) and the scripts' secret among the secret credentials,
    resolved as the engine would export them."""
    from mlops_platform.components.platform import MlopsPlatform
    from mlops_platform.planner.harness import run_program

    seen: dict = {}

    def program():
        platform = MlopsPlatform("mlops", stack_config(stack))
        platform.credentials.apply(lambda values: seen.update(credentials=values))
        pulumi.Output.from_input(platform.sign_in).apply(lambda values: seen.update(sign_in=values))
        platform.oidc_client.client_secret.apply(lambda value: seen.update(ui_secret=value))
        return platform

    run = run_program(program, stack)
    sign_in, credentials = seen["sign_in"], seen["credentials"]
    assert set(sign_in) == {"issuer", "clientId", "tokenClientId", "tokenScope", "tokenEndpoint"}
    assert sign_in["issuer"].startswith("https://") and sign_in["tokenEndpoint"].startswith("https://")
    ui_secret = seen["ui_secret"]
    assert credentials["token_client_secret"] in run.secret_values, "a secret the cloud handed out"
    assert credentials["token_client_secret"] != ui_secret, "the UIs' secret never goes to scripts"
    if stack == "azure-prod":
        assert sign_in["tokenScope"] == f"{sign_in['clientId']}/.default"
    else:
        assert sign_in["tokenScope"] == "mlops-models/invoke" and sign_in["tokenClientId"] != sign_in["clientId"]
