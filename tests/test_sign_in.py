"""Sign-in against real services on loopback: an OpenID Connect issuer (oidc-provider-mock, built on
Authlib) and a real `mlflow server` with the pinned mlflow-oidc-auth plugin, configured with exactly
the environment the platform's MLflow release gives its container (the chart rendered with our
values), only the addresses moved to loopback and the secrets generated here.

What it proves: a user in the stack's user group signs in through the authorization-code flow and
uses the REST API; the issuer's access token works as a bearer token; no token or a forged one gets
401; a user outside the groups gets 403; a user sees only what is granted (NO_PERMISSIONS by default),
and an admin-group member sees everything.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from typing import Any, Iterator

import pytest

from mlops_platform.components import names, versions
from mlops_platform.planner import chart_render, charts
from support.oidc import Issuer, mlflow_environment, sign_in, start_issuer, stop_issuer, token_for
from support.servers import free_port, http, wait_until_serving

USERS = {
    "alice": {"email": "alice@example.org", "groups": ["mlops-users"], "name": "Alice"},
    "bob": {"email": "bob@example.org", "groups": ["mlops-users"], "name": "Bob"},
    "root": {"email": "root@example.org", "groups": ["mlops-admins"], "name": "Root"},
    "ops": {"email": "ops@example.org", "groups": ["mlops-admins"], "name": "Ops"},
    "mallory": {"email": "mallory@example.org", "groups": ["contractors"], "name": "Mallory"},
}
SEARCH = "/api/2.0/mlflow/experiments/search"
# Set by the platform but meaningless here: in-cluster addresses, Secret references, the artifact store.
MOVED = {"OIDC_DISCOVERY_URL", "OIDC_ISSUER", "OIDC_REDIRECT_URI", "OIDC_USERS_DB_URI", "SESSION_COOKIE_SECURE",
         "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "MLFLOW_S3_ENDPOINT_URL", "AWS_DEFAULT_REGION", "MLFLOW_VERSION"}


def platform_environment(run: Any, view: Any, charts_dir: Any) -> tuple[dict[str, str], list[str]]:
    """The plain environment variables and the server arguments of the MLflow container, as the
    local stack's release renders them."""
    release = next(r for r in run.helm_releases() if r.input("name") == names.RELEASE_MLFLOW)
    chart = charts.by_reference(release.input("chart"))
    rendered = chart_render.render(charts.archive_path(chart, charts_dir), release.input("values"), names.RELEASE_MLFLOW,
                                   names.NS_MLFLOW, "v1.33.0", next(r.api_versions for r in view.releases if r.release == "mlflow"))
    pod = next(o for o in rendered if o.kind == "Deployment").manifest["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c["name"] == "mlflow")
    plain = {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}
    return plain, container["args"]


@pytest.fixture(scope="module")
def oidc_issuer() -> Iterator[Issuer]:
    issuer = start_issuer(USERS)
    yield issuer
    stop_issuer(issuer)


@pytest.fixture(scope="module")
def mlflow_oidc(oidc_issuer, local_run, local_view, charts_dir, tmp_path_factory) -> Iterator[dict[str, str]]:
    root = tmp_path_factory.mktemp("mlflow-oidc")
    plain, args = platform_environment(local_run, local_view, charts_dir)
    assert "--app-name=oidc-auth" in args, args
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = mlflow_environment(oidc_issuer, url, root, {k: v for k, v in plain.items() if k not in MOVED})
    log = root / "server.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--app-name", "oidc-auth",
         "--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--workers", "1"],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=root,
    )
    try:
        wait_until_serving(f"{url}/health", process, log, "mlflow server (oidc-auth)", timeout=120)
        yield {"url": url, "client_id": plain["OIDC_CLIENT_ID"]}
    finally:
        process.terminate()
        process.wait(timeout=30)


def _bearer(issuer: Issuer, server: dict[str, str], user: str) -> dict[str, str]:
    token = token_for(issuer, user, server["client_id"], f"{server['url']}/callback")["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_the_plugin_is_the_version_the_image_carries():
    assert importlib.metadata.version("mlflow-oidc-auth") == versions.MLFLOW_OIDC_AUTH_VERSION
    assert importlib.metadata.version("mlflow") == versions.MLFLOW_IMAGE.tag


def test_the_platform_configures_groups_and_no_default_permission(local_run, local_view, charts_dir):
    plain, _ = platform_environment(local_run, local_view, charts_dir)
    assert plain["OIDC_GROUP_NAME"] == "mlops-users" and plain["OIDC_ADMIN_GROUP_NAME"] == "mlops-admins"
    assert plain["DEFAULT_MLFLOW_PERMISSION"] == "NO_PERMISSIONS"
    assert plain["SESSION_COOKIE_SECURE"] == "true"
    assert plain["OIDC_AUDIENCE"] == plain["OIDC_CLIENT_ID"] == "mlops-platform"
    assert plain["OIDC_PROVISION_ON_BEARER_AUTH"] == "true" and "OIDC_TRUST_BEARER_GROUP_CLAIMS" not in plain


def test_a_user_in_the_group_signs_in_and_uses_the_api(mlflow_oidc):
    url = mlflow_oidc["url"]
    browser = sign_in(url, "alice")
    try:
        created = browser.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "alice-session"})
        assert created.status_code == 200, created.text[:300]
        listed = browser.get(f"{url}{SEARCH}", params={"max_results": 10})
        assert listed.status_code == 200, listed.text[:300]
        assert "alice-session" in {e["name"] for e in listed.json()["experiments"]}
    finally:
        browser.close()


def test_the_issuers_access_token_is_a_bearer_token(oidc_issuer, mlflow_oidc):
    """Bob never signed in through a browser: a script's first call makes his account (the platform
    sets OIDC_PROVISION_ON_BEARER_AUTH), so what he creates is his."""
    url = mlflow_oidc["url"]
    headers = _bearer(oidc_issuer, mlflow_oidc, "bob")
    assert http.get(f"{url}{SEARCH}", params={"max_results": 10}, headers=headers).status_code == 200
    created = http.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "bob-bearer"}, headers=headers)
    assert created.status_code == 200, created.text[:300]
    got = http.get(f"{url}/api/2.0/mlflow/experiments/get", params=created.json(), headers=headers)
    assert got.status_code == 200 and got.json()["experiment"]["name"] == "bob-bearer"


def test_no_token_or_a_forged_one_is_refused(oidc_issuer, mlflow_oidc):
    url = mlflow_oidc["url"]
    assert http.get(f"{url}{SEARCH}").status_code == 401
    assert http.get(f"{url}{SEARCH}", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    # A real token, its payload edited (its signature no longer matches the issuer's key).
    token = _bearer(oidc_issuer, mlflow_oidc, "mallory")["Authorization"].split()[1]
    header, payload, signature = token.split(".")
    forged = ".".join([header, payload[:-4] + ("AAAA" if not payload.endswith("AAAA") else "BBBB"), signature])
    assert http.get(f"{url}{SEARCH}", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_a_user_outside_the_groups_gets_403(oidc_issuer, mlflow_oidc):
    url = mlflow_oidc["url"]
    alice = _bearer(oidc_issuer, mlflow_oidc, "alice")
    experiment = http.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "alice-only"}, headers=alice).json()
    headers = _bearer(oidc_issuer, mlflow_oidc, "mallory")
    get = f"{url}/api/2.0/mlflow/experiments/get"
    assert http.get(get, params=experiment, headers=headers).status_code == 403
    assert http.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "m"}, headers=headers).status_code == 403
    # Search answers, with nothing in it she may see.
    assert http.get(f"{url}{SEARCH}", params={"max_results": 100}, headers=headers).json().get("experiments", []) == []
    browser = sign_in(url, "mallory")  # the browser sign-in gives no session either
    try:
        assert browser.get(get, params=experiment).status_code in (401, 403)
    finally:
        browser.close()


def test_users_see_what_is_granted_and_admins_everything(oidc_issuer, mlflow_oidc):
    url = mlflow_oidc["url"]
    alice, bob, ops = (_bearer(oidc_issuer, mlflow_oidc, u) for u in ("alice", "bob", "ops"))
    created = http.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "alice-private"}, headers=alice)
    assert created.status_code == 200, created.text[:300]
    experiment = {"experiment_id": created.json()["experiment_id"]}
    get = f"{url}/api/2.0/mlflow/experiments/get"
    assert http.get(get, params=experiment, headers=alice).status_code == 200
    assert http.get(get, params=experiment, headers=bob).status_code == 403, "NO_PERMISSIONS unless granted"
    # Admin comes from signing in (the plugin never confers it from a bearer token's claims alone).
    assert http.get(get, params=experiment, headers=ops).status_code == 403
    browser = sign_in(url, "root")
    try:
        assert browser.get(get, params=experiment).status_code == 200, "the admin group sees all"
    finally:
        browser.close()


def test_an_mlflow_access_token_made_after_sign_in_serves_scripts(mlflow_oidc):
    """The way in for scripts where the issuer offers no client credentials (the bundled Dex): sign
    in, make an access token (the plugin's user page calls this endpoint), use it as the password."""
    url = mlflow_oidc["url"]
    browser = sign_in(url, "alice")
    try:
        made = browser.patch(f"{url}/api/2.0/mlflow/users/access-token", json={})
        assert made.status_code == 200, made.text[:300]
        token = made.json()["token"]
    finally:
        browser.close()
    login = ("alice@example.org", token)
    page = {"max_results": 10}
    listed = http.get(f"{url}{SEARCH}", params=page, auth=login)
    assert listed.status_code == 200, listed.text[:300]
    assert http.get(f"{url}{SEARCH}", params=page, auth=("alice@example.org", token[:-2] + "xx")).status_code == 401
