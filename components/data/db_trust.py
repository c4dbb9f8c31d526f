"""How the database's clients (MLflow, the platform's Jobs) know they reach the managed Postgres and
not something in between: libpq's `sslmode` and the CA certificates it checks the server against
(`sslrootcert`). `require`, the earlier mode, encrypted but accepted any server.

- AWS: `verify-full` against RDS's regional CA bundle. The bundle is AWS's own download; it is not
  in any public trust store, and its authenticity is that of the HTTPS site serving it. So the
  program fetches it over verified HTTPS (ca_bundle.py) each time it runs for a preview or an `up`,
  from the deployer's machine, and the pods get it in the ConfigMap: no copy sits in the project,
  a bundle AWS changes shows in the next preview's diff, and no pod needs the internet to start
  (its HTTPS egress is an allow-list, components/egress.py). The endpoint's name is in the server
  certificate.
- Azure: `verify-full` against the public roots Flexible Server's certificates chain to, taken from
  certifi (Mozilla's root store, pinned) by their SHA-256 fingerprints. The server is reached by its
  FQDN, which its certificate names.
  Ref: https://learn.microsoft.com/azure/postgresql/flexible-server/concepts-networking-ssl-tls
- GCP: `verify-ca` against the instance's own CA (an output of the instance). That CA is the
  instance's alone (Cloud SQL's default per-instance CA), so it vouches for this server and no other;
  a host name check cannot work, as the certificate names the instance
  (`project:instance`), not the private address MLflow dials. verify-full would take a CA Service pool
  and DNS records of the stack's own (CUSTOMER_MANAGED_CAS_CA with custom names).
  Ref: https://cloud.google.com/sql/docs/postgres/authorize-ssl#server-certificates,
  https://cloud.google.com/sql/docs/postgres/custom-dns-name
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import pulumi

from . import ca_bundle

# Where the clients find the CA certificates (the ConfigMap's key, mounted).
CA_DIR = "/etc/mlops/database-ca"
CA_FILE = f"{CA_DIR}/ca.crt"
# RDS's bundle for one region (that region's root and intermediate CAs).
RDS_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"
# Flexible Server's roots outside China: DigiCert Global Root G2 and Microsoft RSA Root Certificate
# Authority 2017 (certificates are dual-signed, so either chain verifies).
AZURE_ROOT_SHA256 = {
    "DigiCert Global Root G2": "cb3ccbb76031e5e0138f8dd39a23f9de47ffc35e43c1144cea27d46a5ab1cb5f",
    "Microsoft RSA Root Certificate Authority 2017": "c741f70f4b2a8d88bf2e71c14122ef53ef10eba0cfa5e64cfa20f418853073e0",
}
_PEM_END = "-----END CERTIFICATE-----"


@dataclass(frozen=True)
class DatabaseTrust:
    """libpq's `sslmode` and the CA certificates it checks the server against (the pods' ConfigMap)."""

    ssl_mode: str
    pem: pulumi.Output[str]


# What fetches a published bundle when the program runs. The planner's offline run, which has no
# network, puts its stand-in here for the length of the run (planner/harness.py).
bundle_source: Callable[[str], str] = ca_bundle.fetch


def rds(region: str) -> DatabaseTrust:
    # Looked up when the value is needed, so that a stand-in set for a run is the one asked.
    return DatabaseTrust("verify-full", pem=pulumi.Output.from_input(RDS_BUNDLE_URL.format(region=region))
                         .apply(lambda url: bundle_source(url)))


def azure_postgres() -> DatabaseTrust:
    return DatabaseTrust("verify-full", pem=pulumi.Output.from_input(public_roots(AZURE_ROOT_SHA256)))


def cloud_sql(server_ca_certs: pulumi.Output[Sequence[Any]]) -> DatabaseTrust:
    return DatabaseTrust("verify-ca", pem=server_ca_certs.apply(_instance_cas))


def _instance_cas(certs: Optional[Sequence[Any]]) -> str:
    # The instance lists its current CA and, during a rotation, the next one: both are trusted.
    pems = [str(pem).strip() for pem in (_field(c, "cert") for c in certs or ()) if pem]
    return "\n".join(pems) + "\n" if pems else ""


def _field(cert: Any, name: str) -> Any:
    return cert.get(name) if isinstance(cert, dict) else getattr(cert, name, None)


def public_roots(wanted: dict[str, str], store: Optional[str] = None) -> str:
    """The certificates of `wanted` (name -> SHA-256 of the DER) from a PEM store (certifi's by
    default), in that order; ValueError names any the store does not hold."""
    if store is None:
        import certifi

        store = certifi.contents()
    by_digest = {}
    for block in store.split(_PEM_END)[:-1]:
        start = block.find("-----BEGIN CERTIFICATE-----")
        if start < 0:
            continue
        pem = block[start:] + _PEM_END
        by_digest[hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()] = pem
    missing = [name for name, digest in wanted.items() if digest not in by_digest]
    if missing:
        raise ValueError(f"the root store lacks {', '.join(missing)} (by SHA-256)")
    return "\n".join(by_digest[digest] for digest in wanted.values()) + "\n"
