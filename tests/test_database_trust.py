"""The managed database is verified, not just encrypted: each cloud's libpq mode and CA certificates
reach every container that connects (components/data/db_trust.py, components/addons/database_ca.py),
the program's bundle fetch takes only a verified bundle (components/data/ca_bundle.py), and libpq, on a
real PostgreSQL with TLS on loopback, accepts the server under those settings and refuses an impostor."""

from __future__ import annotations

import hashlib
import http.server
import os
import ssl
import subprocess
import threading

import pytest

from mlops_platform.components import names
from mlops_platform.components.addons import database_ca
from mlops_platform.components.config import PlatformConfig, read_stack_values
from mlops_platform.components.data import ca_bundle, db_trust
from mlops_platform.planner.harness import plan_platform
from mlops_platform.planner.mocks import BUNDLE_STAND_IN
from support import SHIPPED_STACKS, STACKS
from support.rendered import of
from support.tls import make_ca, write_pki

MODES = {"aws": "verify-full", "azure": "verify-full", "gcp": "verify-ca", "local": "disable"}
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


# --- what the cluster receives ---------------------------------------------------------------

def _pods(view):
    for manifest in of(view, "Deployment") + of(view, "Job") + of(view, "CronJob"):
        spec = manifest["spec"]
        template = spec["jobTemplate"]["spec"]["template"] if manifest["kind"] == "CronJob" else spec["template"]
        yield manifest, template["spec"]


def _env(container, secret_keys):
    env = {e["name"]: e.get("value") for e in container.get("env") or []}
    for source in container.get("envFrom") or []:
        if (source.get("secretRef") or {}).get("name") == "mlflow-postgres-env":
            env.update({key: "(from the Secret)" for key in secret_keys if key not in env})
    return env


def _connects(container, manifest, secret_keys):
    """Whether a container talks to the tracking database: libpq's variables, or the MLflow server."""
    env = _env(container, secret_keys)
    return "PGHOST" in env or (manifest["metadata"]["name"] == names.RELEASE_MLFLOW and container["name"] == "mlflow")


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_database_client_verifies_the_server(stack, viewed):
    cloud = stack.split("-")[0]
    view = viewed(stack)
    [pg_env] = [s for s in of(view, "Secret") if s["metadata"]["name"] == "mlflow-postgres-env"]
    secret_keys = set(pg_env.get("stringData") or pg_env.get("data") or {})
    assert secret_keys == ({"PGSSLMODE"} if cloud == "local" else {"PGSSLMODE", "PGSSLROOTCERT"})
    clients = 0
    for manifest, pod in _pods(view):
        inits = pod.get("initContainers") or []
        volumes = {v["name"]: v for v in pod.get("volumes") or []}
        for container in [*inits, *pod["containers"]]:
            if not _connects(container, manifest, secret_keys):
                continue
            clients += 1
            where = f"{manifest['metadata']['name']}/{container['name']}"
            env = _env(container, secret_keys)
            if cloud == "local":
                assert "PGSSLROOTCERT" not in env and env.get("PGSSLMODE") in ("disable", "(from the Secret)"), where
                continue
            assert env.get("PGSSLMODE") in (MODES[cloud], "(from the Secret)"), where
            assert env.get("PGSSLROOTCERT") in (db_trust.CA_FILE, "(from the Secret)"), where
            [mount] = [m for m in container.get("volumeMounts") or [] if m["mountPath"] == db_trust.CA_DIR]
            volume = volumes[mount["name"]]
            assert volume.get("configMap", {}).get("name") == database_ca.CONFIGMAP, where
    # The server, the schema Job's three steps: none may be missed by the walk above.
    assert clients >= (2 if cloud == "local" else 4), clients
    modes = {e["value"] for _, pod in _pods(view) for c in [*(pod.get("initContainers") or []), *pod["containers"]]
             for e in c.get("env") or [] if e["name"] == "PGSSLMODE"}
    assert modes == {MODES[cloud]}


@pytest.mark.parametrize("stack", ["aws-prod", "azure-prod", "gcp-dev"])
def test_the_ca_configmap_holds_what_the_cloud_vouches_with(stack, viewed, planned):
    [configmap] = [c for c in of(viewed(stack), "ConfigMap") if c["metadata"]["name"] == database_ca.CONFIGMAP]
    pems = [PEM_BEGIN + block for block in configmap["data"]["ca.crt"].split(PEM_BEGIN)[1:]]
    if stack.startswith("azure"):
        # Exactly Flexible Server's public roots, by their SHA-256.
        digests = [hashlib.sha256(ssl.PEM_cert_to_DER_cert(p.strip())).hexdigest() for p in pems]
        assert digests == list(db_trust.AZURE_ROOT_SHA256.values())
    elif stack.startswith("aws"):
        # RDS's bundle for the stack's region, as the program fetched it (offline: the mocks' stand-in).
        assert configmap["data"]["ca.crt"] == BUNDLE_STAND_IN
        assert planned(stack).bundles_asked == ("https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem",)
    else:
        # The instance's CA (the mocks' stand-in for Cloud SQL's serverCaCerts).
        assert [p.strip() for p in pems] == ["-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----"]


def test_the_program_fetches_rds_bundle_of_the_stacks_own_region():
    values = {**read_stack_values(STACKS / "Pulumi.aws-dev.yaml"), "region": "eu-west-1"}
    run = plan_platform(PlatformConfig.from_values(values, "aws-dev (eu-west-1)", "aws-dev"))
    assert run.bundles_asked == ("https://truststore.pki.rds.amazonaws.com/eu-west-1/eu-west-1-bundle.pem",)


def test_a_root_store_without_azures_roots_is_refused_by_name():
    with pytest.raises(ValueError, match="Microsoft RSA Root Certificate Authority 2017"):
        db_trust.public_roots(db_trust.AZURE_ROOT_SHA256, store=make_ca("other")[0])


# --- a test PKI --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return write_pki(tmp_path_factory.mktemp("pki"))


# --- the bundle fetch (components/data/ca_bundle.py), against a real HTTPS server on loopback ----

class _Bundle(http.server.BaseHTTPRequestHandler):
    bodies: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = self.bodies.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def publisher(pki):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Bundle)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.crt", pki / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    _Bundle.bodies = {"/bundle.pem": (pki / "ca.crt").read_bytes(), "/junk.pem": b"<html>not a bundle</html>",
                      "/broken.pem": b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_the_fetch_takes_the_published_bundle(pki, publisher):
    assert ca_bundle.fetch(f"https://localhost:{publisher}/bundle.pem", str(pki / "ca.crt")) == (pki / "ca.crt").read_text()


# Each case, and what the line says of it.
REFUSED = {"untrusted server": "certificate verify failed", "wrong host name": "mismatch", "not PEM": "it sent no PEM certificate",
           "unparsable PEM": "does not contain a certificate", "plain http": "not an https:// address", "missing": "HTTP Error 404"}


@pytest.mark.parametrize("case", list(REFUSED))
def test_the_fetch_refuses_what_it_cannot_trust_in_one_line(case, pki, publisher):
    url, roots = f"https://localhost:{publisher}/bundle.pem", pki / "ca.crt"
    if case == "untrusted server":
        roots = pki / "other.crt"
    elif case == "wrong host name":
        url = f"https://127.0.0.1:{publisher}/bundle.pem"
    elif case == "not PEM":
        url = url.replace("bundle", "junk")
    elif case == "unparsable PEM":
        url = url.replace("bundle", "broken")
    elif case == "plain http":
        url = url.replace("https://", "http://")
    else:
        url = url.replace("bundle", "absent")
    with pytest.raises(ValueError) as refused:
        ca_bundle.fetch(url, str(roots))
    message = str(refused.value)
    assert message.startswith(f"cannot fetch the database's CA bundle from {url}: ") and "\n" not in message
    assert REFUSED[case] in message, message


# --- libpq under each cloud's settings, on a real PostgreSQL with TLS ---------------------------

@pytest.fixture(scope="module")
def tls_postgres(pki):
    from support.tls import tls_postgres_server

    with tls_postgres_server(pki) as server:
        yield server


def _psql(server, host, mode, roots):
    env = {**os.environ, "PGHOST": host, "PGPORT": str(server.port), "PGUSER": "postgres", "PGDATABASE": "postgres",
           "PGSSLMODE": mode, "PGSSLROOTCERT": str(roots), "PGCONNECT_TIMEOUT": "10"}
    return subprocess.run([str(server.bin / "psql"), "-X", "-Atc", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_verify_full_with_the_fetched_bundle_accepts_the_server_by_its_name(tls_postgres, pki, publisher, tmp_path):
    bundle = tmp_path / "ca.crt"
    bundle.write_text(ca_bundle.fetch(f"https://localhost:{publisher}/bundle.pem", str(pki / "ca.crt")))
    done = _psql(tls_postgres, "localhost", MODES["aws"], bundle)
    assert (done.returncode, done.stdout.strip()) == (0, "t"), done.stderr


@pytest.mark.parametrize("host, mode, roots, refused", [
    ("localhost", "verify-full", "other.crt", "certificate verify failed"),  # an impostor's chain
    ("127.0.0.1", "verify-full", "ca.crt", "does not match host name"),      # the right CA, another name
    ("127.0.0.1", "verify-ca", "other.crt", "certificate verify failed"),    # GCP's mode still checks the CA
])
def test_libpq_refuses_a_server_the_settings_do_not_vouch_for(tls_postgres, pki, host, mode, roots, refused):
    done = _psql(tls_postgres, host, mode, pki / roots)
    assert done.returncode != 0 and refused in done.stderr, done


def test_verify_ca_accepts_the_instance_by_its_address(tls_postgres, pki):
    # Cloud SQL's case: MLflow dials the private address, which the certificate does not name.
    done = _psql(tls_postgres, "127.0.0.1", MODES["gcp"], pki / "ca.crt")
    assert (done.returncode, done.stdout.strip()) == (0, "t"), done.stderr
