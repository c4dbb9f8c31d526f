"""Fetch a CA bundle over verified HTTPS into a file, whole or not at all (an init container's step).

Runs in the MLflow image with the standard library only. Configured by environment:

  CA_BUNDLE_URL   where the bundle is published (https:// only)
  CA_BUNDLE_FILE  where to write it
  SSL_CERT_FILE   the roots that vouch for the site (else certifi's, else the system's)

The server's certificate chain and name are checked, the body must be PEM certificates that load as a
trust store, and the file appears by a rename of a finished sibling: a pod never starts with no
bundle, a partial one, or one from a server that was not the publisher. Exit 1 with one line otherwise.
"""

import os
import ssl
import sys
import tempfile
import urllib.request

MAX_BYTES = 4 * 1024 * 1024
BEGIN = "-----BEGIN CERTIFICATE-----"


def _roots() -> "str | None":
    if os.environ.get("SSL_CERT_FILE"):
        return os.environ["SSL_CERT_FILE"]
    try:
        import certifi
    except ImportError:
        return None
    return certifi.where()


def fetch(url: str) -> str:
    if not url.startswith("https://"):
        raise ValueError(f"{url} is not an https:// address")
    context = ssl.create_default_context(cafile=_roots())
    with urllib.request.urlopen(url, timeout=30, context=context) as response:
        body = response.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise ValueError(f"{url} sent more than {MAX_BYTES} bytes")
    text = body.decode("ascii")
    count = text.count(BEGIN)
    if not count:
        raise ValueError(f"{url} sent no PEM certificate")
    # ssl.SSLError on a certificate that does not parse.
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
    return text


def write_whole(path: str, text: str) -> None:
    folder = os.path.dirname(path) or "."
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".ca-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main() -> int:
    url, path = os.environ["CA_BUNDLE_URL"], os.environ["CA_BUNDLE_FILE"]
    try:
        text = fetch(url)
        write_whole(path, text)
    except (OSError, ValueError, UnicodeDecodeError, ssl.SSLError) as err:
        print(f"cannot fetch the database's CA bundle from {url}: {err}", file=sys.stderr)
        return 1
    print(f"fetched {text.count(BEGIN)} CA certificates from {url} into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
