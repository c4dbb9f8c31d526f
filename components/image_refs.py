"""Container image references as the container runtime reads them: `[registry/]repository[:tag][@digest]`,
with Docker Hub as the registry when the first part names no host, and `library/` before a
single-part Docker Hub repository.
Ref: https://github.com/distribution/reference/blob/main/reference.go (the grammar)
Ref: https://github.com/distribution/reference/blob/main/normalize.go (docker.io, library/)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

DOCKER_HUB = "docker.io"
# Docker Hub's registry API lives on another host than the name images use.
DOCKER_HUB_API = "registry-1.docker.io"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ReferenceError(ValueError):
    """Not an image reference; `str()` says which and why."""


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port], docker.io for Docker Hub
    repository: str  # library/postgres, kserve/storage-initializer
    tag: Optional[str] = None
    digest: Optional[str] = None

    @property
    def name(self) -> str:
        """registry/repository, fully qualified."""
        return f"{self.registry}/{self.repository}"

    @property
    def tagged(self) -> str:
        """The fully qualified name and tag (what the lock is keyed by)."""
        return f"{self.name}:{self.tag or 'latest'}"

    def with_digest(self, digest: str) -> str:
        return f"{self.tagged}@{digest}"

    def moved_to(self, mirror: str) -> "Reference":
        """The same image under a mirror prefix (`registry.example/mirror`): the source registry's
        path kept below it, as `crane`/`skopeo sync` copies lay images out."""
        host, _, prefix = mirror.partition("/")
        source = self.repository if self.registry == DOCKER_HUB else f"{self.registry}/{self.repository}"
        return Reference(host, f"{prefix}/{source}" if prefix else source, self.tag, self.digest)


def parse(text: str) -> Reference:
    value = text.strip()
    if not value or any(c.isspace() for c in value):
        raise ReferenceError(f"{text!r} is not an image reference")
    rest, _, digest = value.partition("@")
    if digest and not _DIGEST.match(digest):
        raise ReferenceError(f"{text!r} has digest {digest!r}, not sha256:<64 hex digits>")
    name, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = rest.rsplit(":", 1)
        if not _TAG.match(tag):
            raise ReferenceError(f"{text!r} has tag {tag!r}, which is not a valid tag")
    first, _, remainder = name.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    else:
        registry, repository = DOCKER_HUB, name
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not _REPOSITORY.match(repository):
        raise ReferenceError(f"{text!r} names repository {repository!r}, which is not a valid repository")
    return Reference(registry, repository, tag, digest or None)
