"""A real OpenID Connect issuer on loopback for the sign-in tests: oidc-provider-mock (an Authlib
OpenID Provider built for tests), with users whose claims carry groups.

Its access tokens are made JWTs signed with its own key (RFC 9068 style: iss, sub, aud, exp, and the
user's email and groups), as Dex's, Okta's and Entra ID's are: resource servers (MLflow's OIDC plugin,
oauth2-proxy) validate bearer tokens against the issuer's JWKS. That is Authlib's documented hook
for the access-token format (OAUTH2_ACCESS_TOKEN_GENERATOR); the provider itself is unchanged.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

import flask
import httpx
from werkzeug.serving import make_server

from .servers import free_port

ACCESS_TOKEN_SECONDS = 600


def _jwt_access_token(client: Any, grant_type: str, user: Any, scope: str) -> str:
    from authlib.jose import jwt

    key = flask.g.oidc_provider_mock_storage.jwk
    now = int(time.time())
    claims = {
        "iss": flask.request.host_url.rstrip("/"),
        "sub": user.sub,
        "aud": client.id,
        "client_id": client.id,
        "iat": now,
        "exp": now + ACCESS_TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
        "scope": scope or "",
        **{k: v for k, v in user.claims.items() if k in ("email", "groups", "name", "preferred_username")},
    }
    header = {"alg": "RS256", "typ": "at+jwt", "kid": key.as_dict()["kid"]}
    token: bytes = jwt.encode(header, claims, key.as_dict(is_private=True))
    return token.decode()


@dataclass
class Issuer:
    url: str
    server: Any
    thread: threading.Thread

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"


def start_issuer(users: Mapping[str, Mapping[str, Any]]) -> Issuer:
    """The issuer on a free loopback port; `users`: sub -> claims (email, groups, ...)."""
    import oidc_provider_mock
    from oidc_provider_mock._storage import User  # the package's own user record, as its CLI builds it

    app = flask.Flask("oidc-issuer")
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = _jwt_access_token
    oidc_provider_mock.init_app(app, user_claims=[User(sub=sub, claims=dict(claims)) for sub, claims in users.items()])
    app.secret_key = uuid.uuid4().hex
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Issuer(f"http://127.0.0.1:{port}", server, thread)


def sign_in(app_url: str, user: str, login_path: str = "/login") -> httpx.Client:
    """Sign `user` in to an OIDC client app by the authorization-code flow, over HTTP as a browser
    would: the app's login redirects to the issuer, the issuer's form is submitted for the user, its
    redirect back to the app's callback is followed. Returns the client holding the app's session."""
    client = httpx.Client(follow_redirects=False, timeout=30)
    response = client.get(f"{app_url}{login_path}")
    assert response.status_code in (302, 303, 307), f"{login_path} did not redirect: {response.status_code} {response.text[:300]}"
    authorize = response.headers["location"]
    # The issuer's authorization form: choose the user (the mock's consent screen).
    response = client.post(authorize, data={"sub": user})
    assert response.status_code in (302, 303), f"the issuer refused: {response.status_code} {response.text[:300]}"
    callback = response.headers["location"]
    assert "code=" in urlsplit(callback).query, callback
    client.get(callback)  # the app redeems the code and sets its session cookie
    return client


def token_for(issuer: Issuer, user: str, client_id: str, redirect_uri: str) -> dict[str, Any]:
    """The token response of an authorization-code flow run by a client of our own (no app)."""
    with httpx.Client(follow_redirects=False, timeout=30) as client:
        state = uuid.uuid4().hex
        response = client.post(f"{issuer.url}/oauth2/authorize", params={
            "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "scope": "openid email profile",
            "state": state}, data={"sub": user})
        assert response.status_code in (302, 303), response.text[:300]
        code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
        tokens = client.post(f"{issuer.url}/oauth2/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": client_id, "client_secret": "not-checked"})
        assert tokens.status_code == 200, tokens.text[:300]
        result: dict[str, Any] = tokens.json()
        return result


def stop_issuer(issuer: Optional[Issuer]) -> None:
    if issuer is not None:
        issuer.server.shutdown()


def mlflow_environment(issuer: Issuer, url: str, root: Any, platform: Mapping[str, str]) -> dict[str, str]:
    """The environment of an `mlflow server --app-name oidc-auth` on loopback at `url`: the plugin's
    settings `platform` gives (the rendered release's, or the same defaults), the issuer's addresses,
    a SQLite users database under `root` and generated secrets."""
    import os
    import secrets

    return {
        **os.environ,
        "OIDC_CLIENT_ID": "mlops-platform", "OIDC_AUDIENCE": "mlops-platform", "OIDC_GROUPS_ATTRIBUTE": "groups",
        "OIDC_GROUP_NAME": "mlops-users", "OIDC_ADMIN_GROUP_NAME": "mlops-admins", "OIDC_SCOPE": "openid,email,profile,groups",
        "DEFAULT_MLFLOW_PERMISSION": "NO_PERMISSIONS", "OIDC_PROVISION_ON_BEARER_AUTH": "true",
        **platform,
        "OIDC_DISCOVERY_URL": issuer.discovery_url,
        "OIDC_ISSUER": issuer.url,
        "OIDC_REDIRECT_URI": f"{url}/callback",
        "OIDC_USERS_DB_URI": f"sqlite:///{root}/users.db",
        "OIDC_CLIENT_SECRET": secrets.token_urlsafe(24),
        "SECRET_KEY": secrets.token_hex(32),
        # Plain HTTP on loopback: the session cookie and Authlib's transport check accept it here only.
        "SESSION_COOKIE_SECURE": "false",
        "AUTHLIB_INSECURE_TRANSPORT": "1",
    }
