"""The local chart cache: where the pinned chart archives live, which are missing, pulling them,
checking each against its recorded digest, and staging the checked ones for a deploy.

Offline rendering (`platform plan`, `platform render`, the tests) reads the exact pinned archives
from one folder: `$PLATFORM_CHARTS_DIR`, else `$XDG_CACHE_HOME/mlops-platform/charts` (default
`~/.cache/mlops-platform/charts`), as `<name>-<version>.tgz` — the name `helm pull` gives them.
`platform charts pull` fills it with Helm's own pull (the https repositories and KServe's OCI
charts), through the helm-python-sdk bindings of Helm's Go SDK: no helm binary is needed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

from mlops_platform.components import versions
from mlops_platform.components.versions import Chart

from . import files

CHARTS_DIR_ENV = "PLATFORM_CHARTS_DIR"
PULL_HINT = "platform charts pull"


def charts_dir() -> Path:
    override = os.environ.get(CHARTS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return files.cache_dir() / "charts"


def by_reference(reference: str) -> Optional[Chart]:
    """The pinned chart a Helm release names (its `chart` input), if it is one of ours: the staged
    archive a release deploys now (Chart.staged), or the chart name a release deployed by an earlier
    platform recorded. A staged archive of another version (an earlier deployment's) names the same
    chart: the caller compares versions."""
    import re

    found = next((c for c in versions.CHARTS if reference in (c.staged, c.chart_ref)), None)
    if found is None and reference.startswith(f"./{versions.STAGED_CHARTS_DIR}/") and reference.endswith(".tgz"):
        archive = reference.rsplit("/", 1)[-1][:-4]
        found = next((c for c in versions.CHARTS if archive.startswith(f"{c.short_name}-")
                      and re.fullmatch(r"v?\d+\.\d+\.\d+[\w.+-]*", archive[len(c.short_name) + 1:])), None)
    return found


def used_by(run: Any) -> list[Chart]:
    """The pinned charts the Helm releases of `run` (a harness ProgramRun) install, in pin order."""
    used = {by_reference(str(r.input("chart"))) for r in run.helm_releases()}
    return [c for c in versions.CHARTS if c in used]


def archive_path(chart: Chart, folder: Optional[Path] = None) -> Path:
    return (folder or charts_dir()) / chart.archive


def missing(charts: Iterable[Chart], folder: Optional[Path] = None) -> list[Chart]:
    return [c for c in charts if not archive_path(c, folder).is_file()]


# The pinned archives are under 1 MB (kube-prometheus-stack, the largest, 0.9 MB packed, 9 MB
# unpacked); far beyond these bounds a file in the cache is not one of them.
MAX_ARCHIVE_BYTES = 16 * 1024 * 1024
MAX_UNPACKED_BYTES = 128 * 1024 * 1024


class ArchiveError(Exception):
    """A cached chart archive that cannot be used; `str()` is one line naming it and why."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"chart archive {path} {problem}")
        self.path, self.problem = path, problem


def problem(chart: Chart, path: Path) -> Optional[str]:
    """Why the archive at `path` is not the pinned `chart`, in a few words, or None when it is:
    its sha256 must be the recorded one (digests.expected) where one is recorded, and it must be a
    whole gzip tarball of sane size whose members are plain files and folders inside one top folder
    (none climbing out with `..`), whose Chart.yaml names the pinned chart and version. Checked once
    per file version (path, size, modification time) and expected digest."""
    from . import digests

    try:
        info = path.stat()
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    return _problem(chart, str(path), info.st_size, info.st_mtime_ns, digests.expected(chart))


@lru_cache(maxsize=64)
def _problem(chart: Chart, path: str, size: int, stamp: int, expected: Optional[str]) -> Optional[str]:
    import tarfile

    from . import digests

    if size > MAX_ARCHIVE_BYTES:
        return f"is {size / 2**20:.0f} MiB, larger than any chart ({MAX_ARCHIVE_BYTES // 2**20} MiB)"
    if expected is not None:
        actual = digests.sha256_of(Path(path))
        if actual != expected:
            # A tampered archive can carry the pinned Chart.yaml: the digest is what tells.
            return f"has sha256 {actual}, not the recorded {expected} ({digests.source(chart)})"
    unpacked, top = 0, ""
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                parts = Path(member.name).parts
                top = top or (parts[0] if parts else "")
                if member.name.startswith("/") or ".." in parts or not parts or parts[0] != top:
                    return f"holds {member.name[:80]!r}, outside the chart's folder {top}/"
                if not (member.isfile() or member.isdir()):
                    return f"holds {member.name[:80]!r}, which is not a plain file"
                unpacked += member.size
                if unpacked > MAX_UNPACKED_BYTES:
                    return f"unpacks to more than {MAX_UNPACKED_BYTES // 2**20} MiB, larger than any chart"
                if member.isfile():
                    handle = archive.extractfile(member)
                    while handle is not None and handle.read(1 << 20):
                        pass
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        return f"is not a whole chart archive (truncated or corrupt: {str(err)[:80] or type(err).__name__})"
    return _identity_problem(chart, Path(path))


def verify(chart: Chart, path: Path) -> None:
    """ArchiveError when the archive at `path` is not the pinned chart (see `problem`)."""
    found = problem(chart, path)
    if found is not None:
        raise ArchiveError(path, found)


class PullError(Exception):
    """A chart could not be downloaded; `str()` is one line."""


@dataclass(frozen=True)
class Pulled:
    chart: Chart
    path: Path
    source: str  # the repository or OCI reference it came from
    already_present: bool


def source_of(chart: Chart, mirror: Optional[str] = None) -> str:
    if mirror:
        return f"{mirror.rstrip('/')}/{chart.short_name}" if mirror.startswith("oci://") else mirror
    return chart.name if chart.is_oci else chart.repo


def pull(
    charts: Sequence[Chart],
    folder: Optional[Path] = None,
    mirror: Optional[str] = None,
    force: bool = False,
    on_chart: Callable[[Chart, str], None] = lambda chart, source: None,
) -> list[Pulled]:
    """Download exactly the pinned version of each chart into the cache.

    `mirror` replaces every chart's source: an https chart repository holding all of them by
    name (an internal mirror), or an `oci://` registry path under which each chart sits by name.
    Each archive is written to a temporary folder first and checked (name and version from its
    own Chart.yaml) before it is moved into place, so a failure leaves nothing half-written.
    """
    import helm_python as helm

    if mirror and plain_http_elsewhere(mirror):
        raise PullError(f"{mirror} is plain HTTP to another machine: charts come over TLS only (https:// or oci://), "
                        "or over plain HTTP from this machine")
    target = folder or charts_dir()
    target.mkdir(parents=True, exist_ok=True)
    done: list[Pulled] = []
    for chart in charts:
        final = archive_path(chart, target)
        source = source_of(chart, mirror)
        if final.is_file() and not force and problem(chart, final) is None:
            done.append(Pulled(chart, final, source, True))
            continue
        on_chart(chart, source)
        with tempfile.TemporaryDirectory(prefix=".pull-", dir=target) as scratch:
            try:
                if source.startswith("oci://"):
                    _interruptible(helm.pull, source, destination=scratch, version=chart.version,
                                   plain_http=on_loopback(source))
                else:
                    _interruptible(helm.pull, chart.short_name, repo_url=source, destination=scratch, version=chart.version)
            except helm.HelmError as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise PullError(f"cannot pull {chart.short_name} {chart.version} from {source}: {first}") from None
            downloaded = sorted(Path(scratch).glob("*.tgz"))
            if len(downloaded) != 1:
                raise PullError(f"pulling {chart.short_name} {chart.version} from {source} gave {len(downloaded)} archives")
            found = problem(chart, downloaded[0])
            if found is not None:
                raise PullError(f"{chart.short_name} {chart.version} from {source} {found}")
            shutil.move(str(downloaded[0]), final)
        done.append(Pulled(chart, final, source, False))
    return done


def on_loopback(reference: str) -> bool:
    """An OCI registry on this machine (a local mirror, a port-forward to an in-cluster registry)
    is spoken to over plain HTTP, as `helm pull --plain-http` would; any other host only over TLS.
    Ref: https://helm.sh/docs/topics/registries/"""
    import ipaddress
    from urllib.parse import urlsplit

    host = urlsplit(reference).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plain_http_elsewhere(url: str) -> bool:
    """An http:// repository not on this machine: anyone on the path could hand over another archive
    (a tampered chart passes every check that reads only its Chart.yaml)."""
    return url.startswith("http://") and not on_loopback(url)


def _interruptible(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking native call (a download) in a worker thread, so the main thread stays able to
    take Ctrl-C: Python runs signal handlers only between bytecodes of the main thread."""
    import threading

    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = call(*args, **kwargs)
        except BaseException as err:  # noqa: BLE001 - handed back to the caller below
            outcome["error"] = err

    worker = threading.Thread(target=work, name="helm-pull", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.1)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def check_archive(chart: Chart, path: Path) -> None:
    """PullError when the archive at `path` is not the pinned chart (see `problem`)."""
    found = problem(chart, path)
    if found is not None:
        raise PullError(f"{path.name} {found}")


def _identity_problem(chart: Chart, path: Path) -> Optional[str]:
    """Whether Helm loads the archive, and its Chart.yaml names the pinned chart and version."""
    import helm_python as helm

    try:
        with helm.Chart.load(path) as loaded:
            name, version = loaded.name, loaded.version
    except helm.HelmError as err:
        return f"is not a readable chart: {str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__}"
    if (name, version) != (chart.short_name, chart.version):
        return f"holds {str(name)[:40]} {str(version)[:20]}, not the pinned {chart.short_name} {chart.version}"
    return None


def stage(selected: Sequence[Chart], into: Path, folder: Optional[Path] = None) -> list[Path]:
    """Copy the cached archive of each chart into `into` (the project's `.charts/`) for the engine
    to deploy, after checking each (`verify`: digest, then contents). Every archive is checked
    before anything is written, so a bad one leaves the folder as it was; each copy is written to a
    temporary sibling, checked against the digest it was copied from, then renamed into place."""
    from . import digests

    sources = []
    for chart in selected:
        path = archive_path(chart, folder)
        if not path.is_file():
            raise ArchiveError(path, f"is not in the chart cache: run `{PULL_HINT}`")
        verify(chart, path)
        sources.append((chart, path, digests.sha256_of(path)))
    into.mkdir(parents=True, exist_ok=True)
    staged = []
    for chart, path, digest in sources:
        final = into / chart.archive
        if not (final.is_file() and digests.sha256_of(final) == digest):
            with tempfile.NamedTemporaryFile(dir=into, prefix=f".{chart.archive}.", delete=False) as handle:
                scratch = Path(handle.name)
            try:
                shutil.copyfile(path, scratch)
                if digests.sha256_of(scratch) != digest:
                    raise ArchiveError(path, "changed while it was copied to the deploy folder; run the command again")
                os.replace(scratch, final)
            finally:
                scratch.unlink(missing_ok=True)
        staged.append(final)
    return staged
