"""Paths the user names on the command line, checked before any work: one line and exit 2 when
one cannot be used, and nothing created but the output folder itself."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Optional

from .errors import fail


def _probe(folder: Path, flag: str, shown: str) -> None:
    """Whether a file can be created in `folder` (read-only mounts, /proc, permissions)."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".platform-probe-"):
            pass
    except OSError as err:
        fail(f"{flag} {shown}: cannot write in {folder} ({os.strerror(err.errno or errno.EACCES)})")


def output_file(value: Optional[str], flag: str = "--out") -> Optional[Path]:
    """A file to write: its folder exists and is writable; it is not a folder itself."""
    if value is None:
        return None
    if not value.strip():
        fail(f"{flag} is empty", "give a file path")
    path = Path(value).expanduser()
    if path.is_dir():
        fail(f"{flag} {value} is a directory", "give a file path")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        fail(f"{flag} {value}: {parent} is a file, not a folder")
    if not parent.exists():
        fail(f"{flag} {value}: folder {parent} does not exist", "create it first, or give another path")
    _probe(parent, flag, value)
    return path


def output_folder(value: Optional[str], flag: str = "--out") -> Path:
    """A folder to write into: created if missing (its parent must exist), writable."""
    if value is None:
        fail(f"missing option {flag}", "give the folder to write into")
    if not value.strip():
        fail(f"{flag} is empty", "give the folder to write into (. for the current one)")
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        fail(f"{flag} {value} exists and is not a folder")
    if not path.exists():
        if path.parent.exists() and not path.parent.is_dir():
            fail(f"{flag} {value}: {path.parent} is a file, not a folder")
        if not path.parent.is_dir():
            fail(f"{flag} {value}: folder {path.parent} does not exist", "create it first, or give another path")
        try:
            path.mkdir()
        except OSError as err:
            fail(f"{flag} {value}: cannot create it ({os.strerror(err.errno or errno.EACCES)})")
    _probe(path, flag, value)
    return path


def input_file(value: Optional[Path], flag: str) -> Optional[Path]:
    """A file to read: it exists, is a file, and can be read."""
    if value is None:
        return None
    if not value.exists():
        fail(f"{flag} {value} does not exist")
    if value.is_dir():
        fail(f"{flag} {value} is a directory", "give the file that holds it")
    if not os.access(value, os.R_OK):
        fail(f"{flag} {value} cannot be read", "check its permissions")
    return value
