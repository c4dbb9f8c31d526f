"""`platform token`: how to get a token for the stack's issuer, and one where it can be got here.

A model route takes a bearer token from the stack's issuer (oauth2-proxy checks its signature,
issuer and audience); MLflow takes the same, or a personal access token made after signing in to
its UI. For scripts and services the usual grant is client credentials (RFC 6749 section 4.4): with
`--client-id` and the secret in $PLATFORM_CLIENT_SECRET (never a flag: flags land in shell history),
and an issuer that offers that grant (its discovery document says), the token is printed to stdout.
Otherwise the command prints what the issuer offers and the ways in. The bundled Dex 2.45 has no
client-credentials grant: people sign in, and MLflow's access tokens serve scripts.
Where the cloud made the issuer (identity.provider cognito, entra), it is known after `up` only: the
command reads it, the scripts client and its scope from the stack's `signIn` output.
Ref: https://openid.net/specs/openid-connect-discovery-1_0.html (grant_types_supported)
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Optional

import typer

from .common import BackendOption, Cloud, CloudOption, EnvOption, JsonOption, PassphraseFileOption

SECRET_VARIABLE = "PLATFORM_CLIENT_SECRET"
TIMEOUT = 15


def register(app: typer.Typer) -> None:
    app.command("token", short_help="How to get a token for the stack's issuer, or get one.")(token)


def _fetch(url: str, context: Optional[ssl.SSLContext], data: Optional[bytes] = None) -> dict[str, Any]:
    """A JSON document over HTTPS; ValueError with one line when it cannot be had."""
    request = urllib.request.Request(url, data=data, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:  # noqa: S310 - an https URL from the config
            body = response.read(1_000_000)
    except urllib.error.HTTPError as err:
        detail = err.read(300).decode("utf-8", "replace").replace("\n", " ")
        raise ValueError(f"{url} answered {err.code}: {detail[:200]}") from None
    except (urllib.error.URLError, OSError) as err:
        raise ValueError(f"{url} is unreachable: {getattr(err, 'reason', err)}") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise ValueError(f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return document


def _client_credentials(endpoint: str, client_id: str, secret: str, scopes: str, context: Optional[ssl.SSLContext]) -> dict[str, Any]:
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                                   "scope": scopes}).encode()
    answer = _fetch(endpoint, context, form)
    if not isinstance(answer.get("access_token"), str):
        raise ValueError(f"{endpoint} answered no access_token")
    return answer


def _ways(config: Any, issuer: str, grants: list[str], client_id: str, deployed: Optional[dict[str, str]]) -> list[str]:
    mlflow = f"https://mlflow.{config.effective_domain}"
    lines = [
        f"issuer: {issuer} (grants: {', '.join(grants) or 'none listed'})",
        f"MLflow: sign in at {mlflow}, make an access token in its user page (or PATCH "
        f"{mlflow}/api/2.0/mlflow/users/access-token with your session), then export MLFLOW_TRACKING_USERNAME=<your "
        "e-mail> MLFLOW_TRACKING_PASSWORD=<the token>; or export MLFLOW_TRACKING_TOKEN=<an access token from the issuer>",
    ]
    if config.identity.kind == "dex":
        lines.append(f"the bundled Dex's admin, by the password grant (its login from platform outputs --cloud "
                     f"{config.cloud} --env {config.env} --show-secrets): curl -s {issuer}/token -d grant_type=password "
                     "-d username=$SIGN_IN_USER -d password=$SIGN_IN_PASSWORD -d client_id=" + client_id +
                     " -d client_secret=$SIGN_IN_CLIENT_SECRET -d 'scope=openid email profile groups'"
                     + (" --insecure" if config.cloud == "local" else "") + " (access_token in the answer)")
    if deployed is not None:
        lines.append(f"models and scripts: the stack's scripts client {deployed['tokenClientId']} (scope "
                     f"{deployed['tokenScope']}): {SECRET_VARIABLE}=<credentials.token_client_secret of platform outputs "
                     f"--cloud {config.cloud} --env {config.env} --show-secrets> platform token --cloud {config.cloud} "
                     f"--env {config.env} --client-id {deployed['tokenClientId']}")
    elif "client_credentials" in grants:
        lines.append(f"models and scripts: a client of the issuer whose tokens carry audience {client_id}: "
                     f"{SECRET_VARIABLE}=<its secret> platform token --cloud {config.cloud} --env {config.env} "
                     "--client-id <its id>")
    else:
        lines.append("models and scripts: this issuer offers no client-credentials grant; call models with an access "
                     f"token of a signed-in user (audience {client_id}), or plug in an issuer that offers it (README: Sign-in)")
    return lines


def _deployed_sign_in(config: Any, backend: Optional[str], passphrase_file: Optional[Path]) -> dict[str, str]:
    """The stack's `signIn` output: the cloud-made issuer, its clients and the scripts' scope."""
    from ..errors import EXIT_USAGE, fail
    from ..opening import open_engine
    from ..running import run_operation

    engine = open_engine(config, backend, passphrase_file, create=False)
    output = run_operation(config, engine.outputs).get("signIn")
    value = getattr(output, "value", None)
    needed = ("issuer", "clientId", "tokenClientId", "tokenScope", "tokenEndpoint")
    if not isinstance(value, dict) or any(not isinstance(value.get(key), str) for key in needed):
        fail(f"stack {config.stack_name} has no sign-in output yet: its issuer ({config.identity.kind}) is made by `up`",
             f"platform up --cloud {config.cloud} --env {config.env}", EXIT_USAGE)
    return {key: str(value[key]) for key in needed}


def token(
    cloud: Cloud = CloudOption,
    env: str = EnvOption,
    client_id: Optional[str] = typer.Option(None, "--client-id", help=f"Get a token by client credentials (secret in ${SECRET_VARIABLE})."),
    json_output: bool = JsonOption,
    backend: Optional[str] = BackendOption,
    passphrase_file: Optional[Path] = PassphraseFileOption,
) -> None:
    """Print how to get a token for the stack's issuer; with --client-id, get one by client credentials."""
    from mlops_platform.components.addons.identity import CLIENT_ID, issuer_url
    from mlops_platform.components.config.access import PRESET_CLOUDS

    from .. import display
    from ..errors import EXIT_USAGE, fail
    from ..project import load_config, own_ca_only

    config = load_config(cloud, env)
    identity = config.identity
    secret = os.environ.get(SECRET_VARIABLE, "")
    if client_id is not None and not secret.strip():
        fail(f"--client-id {client_id[:60]} needs the client's secret in ${SECRET_VARIABLE}", "it is never taken as a flag",
             EXIT_USAGE)
    deployed = _deployed_sign_in(config, backend, passphrase_file) if identity.kind in PRESET_CLOUDS else None
    issuer = deployed["issuer"] if deployed else issuer_url(identity, config.effective_domain)
    audience = deployed["clientId"] if deployed else (identity.client_id or CLIENT_ID)
    context = ssl._create_unverified_context() if own_ca_only(config) else None
    display.progress(f"Reading {issuer}/.well-known/openid-configuration ...")
    try:
        discovery = _fetch(f"{issuer.rstrip('/')}/.well-known/openid-configuration", context)
    except ValueError as err:
        fail(f"the stack's issuer: {err}", "is the stack up, and is its issuer reachable from here (VPN)?", EXIT_USAGE)
    grants = [str(g) for g in discovery.get("grant_types_supported") or ["authorization_code", "implicit"]]
    if deployed is not None and "client_credentials" not in grants:
        grants.append("client_credentials")  # the stack made a scripts client with that grant (Cognito lists none)
    endpoint = deployed["tokenEndpoint"] if deployed else str(discovery.get("token_endpoint") or "")
    if client_id is None:
        lines = _ways(config, issuer, grants, audience, deployed)
        if json_output:
            display.print_json({"stack": config.stack_name, "issuer": issuer, "tokenEndpoint": endpoint, "grants": grants,
                                "ways": lines[1:]})
        else:
            print("\n".join(lines))
        return
    if "client_credentials" not in grants:
        fail(f"the issuer {issuer} offers no client-credentials grant (it offers: {', '.join(grants)[:120]})",
             f"platform token --cloud {config.cloud} --env {config.env} lists the ways in", EXIT_USAGE)
    scope = deployed["tokenScope"] if deployed else " ".join(identity.effective_scopes)
    try:
        answer = _client_credentials(endpoint, client_id, secret.strip(), scope, context)
    except ValueError as err:
        fail(f"the issuer refused client {client_id[:60]}: {err}", "check the client id, its secret and its grants", EXIT_USAGE)
    if json_output:
        display.print_json({"access_token": answer["access_token"], "expires_in": answer.get("expires_in"),
                            "token_type": answer.get("token_type", "Bearer")})
    else:
        print(answer["access_token"])
