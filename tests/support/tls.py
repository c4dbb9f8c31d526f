"""A test CA and server certificates it signs (cryptography's builder), and a PostgreSQL on loopback
serving TLS with one: for libpq's verify-full and verify-ca against a real server."""

from __future__ import annotations

import datetime
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_ca(name: str) -> tuple[str, Any]:
    """(the CA's certificate as PEM, (certificate, key)) for signing."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"test {name} CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode(), (cert, key)


def server_cert(issuer: Any, host: str) -> tuple[str, str]:
    """(certificate, key) as PEM for `host` (its one DNS name), signed by `issuer`."""
    ca_cert, ca_key = issuer
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def write_pki(folder: Path) -> Path:
    """In `folder`: ca.crt (the database's CA), other.crt (an impostor CA), and server.crt and
    server.key for `localhost`, signed by ca.crt."""
    ca_pem, ca = make_ca("database")
    other_pem, _ = make_ca("impostor")
    cert, key = server_cert(ca, "localhost")
    for name, text in {"ca.crt": ca_pem, "other.crt": other_pem, "server.crt": cert, "server.key": key}.items():
        (folder / name).write_text(text)
    return folder


@contextmanager
def tls_postgres_server(pki: Path) -> Iterator[Any]:
    """A PostgreSQL serving TLS with pki's server.crt and server.key (a skip or, in CI, a failure
    where PostgreSQL is not installed); stopped and its copies removed on exit."""
    from support.postgres import require_postgres_bin, start_postgres

    require_postgres_bin()
    # The server reads its key as its own user, which may not read pytest's folders (as root).
    folder = Path(tempfile.mkdtemp(prefix="pg-tls-"))
    for name in ("server.crt", "server.key"):
        shutil.copy(pki / name, folder / name)
    os.chmod(folder / "server.key", 0o600)
    if os.geteuid() == 0:
        for path in (folder, folder / "server.crt", folder / "server.key"):
            shutil.chown(path, "postgres")
    server = start_postgres("ssl=on", f"ssl_cert_file={folder}/server.crt", f"ssl_key_file={folder}/server.key")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
