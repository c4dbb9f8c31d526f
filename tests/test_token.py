"""`platform token` against a real OpenID Connect issuer on loopback (oidc-provider-mock): it reads
the issuer's discovery document and says which ways in it offers; client credentials are asked for
only where the issuer offers them, with the secret from the environment, never a flag.

The stack's issuer is an https URL (the config refuses anything else), so the tests point the
command at the loopback issuer through the one function that names it."""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from mlops_platform.components.addons import identity
from support.cli import invoke, one_line_error
from support.oidc import Issuer, start_issuer, stop_issuer
from support.servers import free_port


@pytest.fixture(scope="module")
def oidc_issuer() -> Iterator[Issuer]:
    issuer = start_issuer({"alice": {"email": "alice@example.org", "groups": ["mlops-users"]}})
    yield issuer
    stop_issuer(issuer)


@pytest.fixture()
def at_issuer(project, oidc_issuer, monkeypatch) -> Issuer:
    monkeypatch.setattr(identity, "issuer_url", lambda config, domain: oidc_issuer.url)
    return oidc_issuer


def test_it_reads_the_issuer_and_lists_the_ways_in(at_issuer):
    result = invoke("token", "--cloud", "local", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["issuer"] == at_issuer.url
    assert document["tokenEndpoint"] == f"{at_issuer.url}/oauth2/token"
    assert "authorization_code" in document["grants"] and "client_credentials" not in document["grants"]
    ways = " ".join(document["ways"])
    assert "no client-credentials grant" in ways and "mlflow.127.0.0.1.sslip.io" in ways
    text = invoke("token", "--cloud", "local")
    assert text.exit_code == 0 and text.stdout.startswith(f"issuer: {at_issuer.url} (grants: ")


def test_client_credentials_only_where_offered_and_never_from_a_flag(at_issuer, monkeypatch):
    monkeypatch.delenv("PLATFORM_CLIENT_SECRET", raising=False)
    missing = invoke("token", "--cloud", "local", "--client-id", "ci-bot")
    assert missing.exit_code == 2 and "$PLATFORM_CLIENT_SECRET" in one_line_error(missing)
    monkeypatch.setenv("PLATFORM_CLIENT_SECRET", "s3cret-value")
    refused = invoke("token", "--cloud", "local", "--client-id", "ci-bot")
    assert refused.exit_code == 2
    line = one_line_error(refused)
    assert "offers no client-credentials grant" in line and "authorization_code" in line
    assert "s3cret-value" not in refused.stdout + refused.stderr


def test_an_unreachable_issuer_is_one_line_exit_2(project, monkeypatch):
    closed = free_port()
    monkeypatch.setattr(identity, "issuer_url", lambda config, domain: f"http://127.0.0.1:{closed}")
    result = invoke("token", "--cloud", "local")
    assert result.exit_code == 2
    assert f"127.0.0.1:{closed}/.well-known/openid-configuration is unreachable" in one_line_error(result)


# --- an issuer the cloud made (identity.provider cognito, entra) ---------------------------------


def _deployed_preset(fake, monkeypatch, sign_in: dict) -> None:
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    fake.stacks({"aws-prod": {"outputs": {"signIn": sign_in, "credentials": {"token_client_secret": "s3cret-value"}},
                              "secrets": ["credentials"], "resources": []}})


def test_a_cloud_made_issuer_is_read_from_the_stack_and_its_scripts_client_named(project, state, fake, oidc_issuer,
                                                                                  monkeypatch):
    _deployed_preset(fake, monkeypatch, {
        "issuer": oidc_issuer.url, "clientId": "sign-in-client", "tokenClientId": "scripts-client",
        "tokenScope": "mlops-models/invoke", "tokenEndpoint": f"{oidc_issuer.url}/oauth2/token"})
    result = invoke("token", "--cloud", "aws", "--env", "prod", "--json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    # The issuer, not the stack file's (it names none): the scripts client has the grant even
    # where discovery lists none (Cognito's lists no grant types).
    assert document["issuer"] == oidc_issuer.url and "client_credentials" in document["grants"]
    ways = " ".join(document["ways"])
    assert "scripts-client" in ways and "mlops-models/invoke" in ways and "token_client_secret" in ways
    assert "s3cret-value" not in result.stdout + result.stderr
    # With the client: the request goes to the stack's token endpoint, whose refusal is one line.
    monkeypatch.setenv("PLATFORM_CLIENT_SECRET", "s3cret-value")
    refused = invoke("token", "--cloud", "aws", "--env", "prod", "--client-id", "scripts-client")
    assert refused.exit_code == 2
    line = one_line_error(refused)
    assert "refused client scripts-client" in line and f"{oidc_issuer.url}/oauth2/token answered" in line
    assert "s3cret-value" not in refused.stdout + refused.stderr


def test_a_cloud_made_issuer_before_up_is_one_line_exit_2(project, state, fake, monkeypatch):
    _deployed_preset(fake, monkeypatch, {"issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_x"})
    result = invoke("token", "--cloud", "aws", "--env", "prod")
    assert result.exit_code == 2
    assert "stack aws-prod has no sign-in output yet" in one_line_error(result)
