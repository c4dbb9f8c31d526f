"""Resolving an image tag to its digest with the registry's own API (OCI distribution): a HEAD of
the tag's manifest, accepting an index or a manifest, whose `Docker-Content-Digest` is the digest the
runtime verifies; a registry that omits the header is answered by the sha256 of the manifest's bytes.
An anonymous bearer token is fetched where the registry asks for one (Docker Hub, ghcr.io, quay.io).
Only a registry on this machine is spoken to over plain HTTP (planner/charts.on_loopback).
Ref: https://github.com/opencontainers/distribution-spec/blob/main/spec.md#checking-if-content-exists-in-the-registry
Ref: https://distribution.github.io/distribution/spec/auth/token/
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Optional

from mlops_platform.components.image_refs import DOCKER_HUB, DOCKER_HUB_API, Reference

from .charts import on_loopback

MANIFEST_TYPES = ", ".join((
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
))
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ResolveError(Exception):
    """A tag that could not be resolved; `str()` says why in a few words."""


def base_url(registry: str) -> str:
    host = DOCKER_HUB_API if registry == DOCKER_HUB else registry
    return f"{'http' if on_loopback(f'oci://{host}') else 'https'}://{host}"


def resolve(reference: Reference, timeout: float = 20.0) -> str:
    """The digest `reference`'s tag points at now."""
    url = f"{base_url(reference.registry)}/v2/{reference.repository}/manifests/{reference.tag or 'latest'}"
    headers = {"Accept": MANIFEST_TYPES}
    digest: Optional[str] = None
    for attempt in range(2):
        request = urllib.request.Request(url, method="HEAD", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, built above
                digest = response.headers.get("Docker-Content-Digest")
            break
        except urllib.error.HTTPError as err:
            if err.code == 401 and attempt == 0 and "Authorization" not in headers:
                headers["Authorization"] = f"Bearer {_token(err.headers.get('WWW-Authenticate', ''), reference, timeout)}"
                continue
            if err.code == 404:
                raise ResolveError(f"{reference.tagged} is not in {reference.registry}") from None
            raise ResolveError(f"{reference.registry} answered HTTP {err.code} for {reference.tagged}") from None
        except (urllib.error.URLError, OSError) as err:
            raise ResolveError(f"cannot reach {reference.registry}: {getattr(err, 'reason', err)}") from None
    if not digest:
        digest = "sha256:" + hashlib.sha256(_get(url, headers, timeout)).hexdigest()
    if not DIGEST.match(digest):
        raise ResolveError(f"{reference.registry} gave {digest[:80]!r} for {reference.tagged}, not a sha256 digest")
    return digest


def _get(url: str, headers: dict[str, str], timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:  # noqa: S310
            return bytes(response.read(4 << 20))
    except (urllib.error.URLError, OSError) as err:
        raise ResolveError(f"cannot read the manifest at {url}: {getattr(err, 'reason', err)}") from None


def _token(challenge: str, reference: Reference, timeout: float) -> str:
    """An anonymous pull token from the realm the registry's challenge names."""
    scheme, _, params = challenge.partition(" ")
    fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
    realm = fields.pop("realm", "")
    if scheme.lower() != "bearer" or not realm:
        raise ResolveError(f"{reference.registry} asks for credentials ({scheme or 'no challenge'}), which lock does not send")
    if not realm.startswith("https://") and not on_loopback("oci://" + urllib.parse.urlsplit(realm).netloc):
        raise ResolveError(f"{reference.registry} names a plain-HTTP token service {realm}")
    fields.setdefault("scope", f"repository:{reference.repository}:pull")
    body = _get(f"{realm}?{urllib.parse.urlencode(fields)}", {}, timeout)
    try:
        document = json.loads(body)
        token: Optional[str] = document.get("token") or document.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not token:
        raise ResolveError(f"the token service of {reference.registry} gave no token")
    return token
