"""Where the platform keeps files on this machine, and how every command writes them: whole or not at all.

Folders (platformdirs; on Linux the XDG base directories):
    cache_dir()   $XDG_CACHE_HOME/mlops-platform   chart archives, parsed CRDs, rendered charts
    state_dir()   $XDG_STATE_HOME/mlops-platform   the local state backend, generated passphrases

Writes: a file is written to a temporary sibling and renamed over its target (`write_text`,
`write_texts` for several files that belong together); folders a command owns are built in a
temporary sibling and swapped in (`replace_folders`). The renames run with Ctrl-C held back for
their few microseconds, and a Ctrl-C during the writing itself removes the temporary files
(`discard_scratch`, called by the CLI's interrupt handler), so an interrupted command leaves what
was there before, whole, or what it wrote, whole.
Ref: https://specifications.freedesktop.org/basedir-spec/latest/
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, TypeVar

APP = "mlops-platform"
SCRATCH_PREFIX = ".platform-"  # every temporary name this module gives starts with it
T = TypeVar("T")
_scratch: set[Path] = set()


class FolderError(Exception):
    """A folder that cannot be used; `str()` is one line naming it (and the variable that chose it)."""


# --- folders --------------------------------------------------------------------------------------


def cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path(APP)


def state_dir() -> Path:
    import platformdirs

    return platformdirs.user_state_path(APP)


def _named(folder: Path, variable: Optional[str]) -> str:
    value = os.environ.get(variable or "")
    return f"{folder} (from ${variable}={value})" if variable and value else str(folder)


def usable_folder(folder: Path, variable: Optional[str] = None) -> Path:
    """`folder`, created if missing, into which a file can be written; FolderError naming it (and the
    environment variable it came from) otherwise."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise FolderError(f"{_named(folder, variable)} is a file, not a folder") from None
    except OSError as err:
        raise FolderError(f"cannot create {_named(folder, variable)} ({err.strerror})") from None
    if not folder.is_dir():
        raise FolderError(f"{_named(folder, variable)} is not a folder")
    try:
        probe = folder / f"{SCRATCH_PREFIX}probe-{secrets.token_hex(4)}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise FolderError(f"cannot write in {_named(folder, variable)} ({err.strerror})") from None
    return folder


# --- interrupts -----------------------------------------------------------------------------------


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C back for the length of the block, then deliver it to whoever handled it
    before. For renames only: the block must take microseconds."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)


def discard_scratch() -> None:
    """Remove every temporary file and folder a write in progress has made (an interrupt handler
    calls this before the process exits)."""
    for path in list(_scratch):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                path.unlink()
            except OSError:
                pass
        _scratch.discard(path)


def _scratch_name(target: Path, role: str) -> Path:
    return target.with_name(f"{SCRATCH_PREFIX}{role}-{target.name}-{secrets.token_hex(4)}")


# --- files ----------------------------------------------------------------------------------------


def write_text(path: Path, text: str) -> None:
    write_texts({path: text})


def write_texts(files: Mapping[Path, str]) -> None:
    """Write every file, or none: each goes to a temporary sibling first, and they are all renamed
    into place together."""
    written: dict[Path, Path] = {}
    try:
        for path, text in files.items():
            scratch = _scratch_name(path, "new")
            _scratch.add(scratch)
            written[path] = scratch
            scratch.write_text(text, encoding="utf-8")
            if path.exists():
                os.chmod(scratch, path.stat().st_mode & 0o7777)
        with interrupts_deferred():
            for path, scratch in written.items():
                os.replace(scratch, path)
                _scratch.discard(scratch)
    finally:
        for scratch in written.values():
            if scratch in _scratch:
                scratch.unlink(missing_ok=True)
                _scratch.discard(scratch)


# --- folders a command owns -----------------------------------------------------------------------


def check_replaceable(target: Path, names: tuple[str, ...]) -> None:
    """FolderError unless every existing `target/<name>` is a real folder (not a link, not a file)
    that this process may remove with all it holds, and `target` is writable: checked before any
    work, so that a refusal writes nothing."""
    for name in names:
        path = target / name
        if path.is_symlink():
            raise FolderError(f"{path} is a symbolic link: it is replaced on every run, so it must be a folder here")
        if not path.exists():
            continue
        if not path.is_dir():
            raise FolderError(f"{path} is a file: it is replaced on every run, so it must be a folder")
        root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
        for folder, _, entries in os.walk(path):
            if not os.access(folder, os.W_OK | os.X_OK):
                raise FolderError(f"{folder} cannot be emptied (no write permission on it)")
            if root:  # root may write anywhere except into immutable files and read-only mounts
                for entry in entries:
                    item = Path(folder) / entry
                    if not item.is_symlink() and not os.access(item, os.W_OK):
                        raise FolderError(f"{item} cannot be removed (immutable, or on a read-only mount)")


def replace_folders(target: Path, names: tuple[str, ...], fill: Callable[[Path], T]) -> T:
    """Build `names` in a temporary folder beside them (`fill(folder)` writes them there), then swap
    them for the old ones in `target` in one uninterruptible step and remove the old ones.
    Folders of `target` other than `names` are never touched."""
    recover(target, names)
    check_replaceable(target, names)
    staging = target / f"{SCRATCH_PREFIX}new-{secrets.token_hex(4)}"
    trash = target / f"{SCRATCH_PREFIX}old-{secrets.token_hex(4)}"
    _scratch.add(staging)
    try:
        staging.mkdir()
        result = fill(staging)
        trash.mkdir()
        moved: list[str] = []
        with interrupts_deferred():
            try:
                for name in names:
                    if (target / name).exists():
                        os.rename(target / name, trash / name)
                        moved.append(name)
                for name in names:
                    if (staging / name).exists():
                        os.rename(staging / name, target / name)
            except OSError as err:
                for name in moved:  # put the old ones back: nothing changes
                    if not (target / name).exists():
                        os.rename(trash / name, target / name)
                raise FolderError(f"cannot replace {target / name} ({err.strerror})") from None
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _scratch.discard(staging)
        shutil.rmtree(trash, ignore_errors=True)


def recover(target: Path, names: tuple[str, ...]) -> None:
    """Tidy what a process killed outright (not interrupted: that is handled) left in `target`:
    unfinished new folders go, and an old folder that was moved aside but not replaced goes back."""
    if not target.is_dir():
        return
    for leftover in target.glob(f"{SCRATCH_PREFIX}*"):
        if not leftover.is_dir() or leftover.is_symlink():
            continue
        if leftover.name.startswith(f"{SCRATCH_PREFIX}old-"):
            for name in names:
                if (leftover / name).is_dir() and not (target / name).exists():
                    os.rename(leftover / name, target / name)
        shutil.rmtree(leftover, ignore_errors=True)
