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
