"""Where the cluster pulls each image from: the reference a chart or the program names, pinned by the
image lock's digest (components/image_lock.py) and, with the stack's `mirror.images`, moved under
the mirror (image_refs.Reference.moved_to: the source registry's path kept below the prefix, as
`crane`/`skopeo sync` lay copies out). One ImageSource per stack, handed to every component that
names an image; chart_images.py turns it into each chart's own image values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

from . import image_lock
from .image_refs import Reference, parse
from .versions import MLFLOW_IMAGE, Image


@dataclass(frozen=True)
class ImageSource:
    mirror: Optional[str] = None  # host[:port][/prefix] (config.sections.MirrorConfig.images)
    # Images the stack runs in place of the platform's: (tagged reference, replacement), e.g. the
    # MLflow chart's image -> the project's own build (mlflow.image).
    replaced: tuple[tuple[str, str], ...] = ()

    def resolve(self, image: Union[Image, str]) -> Reference:
        """The reference the runtime pulls: fully qualified, with the locked digest when there is one
        (the lock is keyed by the original, so a mirror keeps the digest: a copy by digest is the
        same bytes), under the mirror when one is set."""
        text = self._text(image)
        found = parse(text)
        digest = found.digest or image_lock.digest_of(text)
        found = Reference(found.registry, found.repository, found.tag, digest)
        return found.moved_to(self.mirror) if self.mirror else found

    def ref(self, image: Union[Image, str]) -> str:
        """For a container's `image` field: as written, with `@sha256:...` when locked; under a
        mirror, fully qualified there."""
        if self.mirror:
            return text_of(self.resolve(image))
        return image_lock.pinned(self._text(image))

    def moves(self, image: Union[Image, str]) -> bool:
        """Whether `image` is pulled from elsewhere than its reference says (a mirror, a replacement)."""
        return self.mirror is not None or self._text(image) != _written(image)

    def _text(self, image: Union[Image, str]) -> str:
        """The reference the stack runs for `image`: its replacement, if it has one."""
        text = _written(image)
        key = parse(text).tagged
        return next((replacement for original, replacement in self.replaced if original == key), text)

    def outside(self, reference: str) -> bool:
        """Whether `reference` (as a rendered container names it) is pulled from outside the mirror
        (always False without one)."""
        if not self.mirror:
            return False
        try:
            found = parse(reference)
        except ValueError:
            return True
        return not f"{found.name}/".startswith(f"{self.mirror}/")


def _written(image: Union[Image, str]) -> str:
    return image.written if isinstance(image, Image) else image


def text_of(reference: Reference) -> str:
    tag = f":{reference.tag}" if reference.tag else ""
    digest = f"@{reference.digest}" if reference.digest else ""
    return f"{reference.name}{tag}{digest}"


def for_stack(config: Any) -> ImageSource:
    """The stack's ImageSource (config: a PlatformConfig): its mirror, and its own MLflow image."""
    replaced = ((parse(MLFLOW_IMAGE.written).tagged, config.mlflow.image),) if config.mlflow.image else ()
    return ImageSource(config.mirror.images, replaced)
