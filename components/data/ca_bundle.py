"""Fetch a published CA bundle over verified HTTPS: RDS's, which the program fetches from the
deployer's machine at each preview and `up` and ships to the pods in a ConfigMap (data/db_trust.py),
so that no pod needs the internet to start.

The server's certificate chain and name are checked (against `roots`, else certifi's, else the
system's), and the body must be PEM certificates that load as a trust store. Anything else is one
ValueError line naming the address.
"""

from __future__ import annotations

import ssl
import urllib.request
from typing import Optional

MAX_BYTES = 4 * 1024 * 1024
BEGIN = "-----BEGIN CERTIFICATE-----"


def _roots() -> Optional[str]:
    try:
        import certifi
    except ImportError:
        return None
    return certifi.where()


def _fetch(url: str, roots: Optional[str]) -> str:
    if not url.startswith("https://"):
        raise ValueError("not an https:// address")
    context = ssl.create_default_context(cafile=roots or _roots())
    with urllib.request.urlopen(url, timeout=30, context=context) as response:
        body = response.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        raise ValueError(f"it sent more than {MAX_BYTES} bytes")
    text = body.decode("ascii")
    if BEGIN not in text:
        raise ValueError("it sent no PEM certificate")
    # ssl.SSLError on a certificate that does not parse.
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
    return text


def fetch(url: str, roots: Optional[str] = None) -> str:
    """The bundle at `url`; ValueError, one line, when it cannot be had or trusted."""
    try:
        return _fetch(url, roots)
    except (OSError, ValueError, UnicodeDecodeError, ssl.SSLError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"cannot fetch the database's CA bundle from {url}: {reason}") from None
