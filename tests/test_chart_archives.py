"""A chart archive in the local cache that is not the pinned chart stops `plan` and `render` in one
line naming it (exit 2, hint `platform charts pull --force`); `charts list` says what is wrong with
it, and `charts pull` replaces it without --force. These are the checks beside the digest, which
tests/test_chart_digests.py covers."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Optional

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components import versions
from mlops_platform.planner.digests import DIGESTS_ENV
from support import CHART_DIGESTS

ARCHIVE = versions.MLFLOW.archive


def _repacked(source: Path, target: Path, extra: Optional[dict[str, bytes]] = None, links: tuple[str, ...] = ()) -> None:
    """`source`'s members, plus `extra` files (name -> bytes) and symbolic links, as a new archive."""
    with tarfile.open(source, "r:gz") as original, tarfile.open(target, "w:gz") as out:
        for member in original:
            out.addfile(member, original.extractfile(member) if member.isfile() else None)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
        for name in links:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            out.addfile(info)


def _truncated(source: Path, target: Path) -> None:
    target.write_bytes(source.read_bytes()[:20_000])


def _not_gzip(source: Path, target: Path) -> None:
    target.write_bytes(os.urandom(50_000))


def _another_chart(source: Path, target: Path) -> None:
    shutil.copy(source.parent / versions.TRAEFIK.archive, target)


def _escapes(source: Path, target: Path) -> None:
    _repacked(source, target, {"mlflow/../../evil.yaml": b"kind: ConfigMap\n"})


def _outside_the_folder(source: Path, target: Path) -> None:
    _repacked(source, target, {"other/templates/x.yaml": b"kind: ConfigMap\n"})


def _a_link(source: Path, target: Path) -> None:
    _repacked(source, target, links=("mlflow/templates/passwd",))


def _huge(source: Path, target: Path) -> None:
    with target.open("wb") as handle:
        handle.truncate(17 * 1024 * 1024)


def _failing_template(source: Path, target: Path) -> None:
    _repacked(source, target, {"mlflow/templates/zz-tampered.yaml": b'{{ fail "this archive was tampered with" }}\n'})


BROKEN = {
    "truncated": (_truncated, "is not a whole chart archive"),
    "not gzip": (_not_gzip, "is not a whole chart archive"),
    "another chart": (_another_chart, "holds traefik 41.3.0, not the pinned mlflow 1.11.5"),
    "a ../ member": (_escapes, "holds 'mlflow/../../evil.yaml', outside the chart's folder mlflow/"),
    "a member outside the chart": (_outside_the_folder, "outside the chart's folder mlflow/"),
    "a symbolic link": (_a_link, "which is not a plain file"),
    "17 MiB": (_huge, "larger than any chart"),
    "a template that fails": (_failing_template, "this archive was tampered with"),
}


@pytest.fixture()
def cache(chart_cache) -> Path:
    return chart_cache


def invoke(cache: Path, *args: str):
    """The CLI on `cache`, with no recorded digest for the mlflow archive: its digest would refuse
    every broken copy first (tests/test_chart_digests.py), and these checks are what guards a chart
    whose digest is not recorded."""
    unrecorded = cache.parent / "digests-without-mlflow.json"
    if not unrecorded.exists():
        entries = json.loads(CHART_DIGESTS.read_text())
        unrecorded.write_text(json.dumps({k: v for k, v in entries.items() if k != ARCHIVE}))
    return CliRunner().invoke(app, list(args), env={"PLATFORM_CHARTS_DIR": str(cache), DIGESTS_ENV: str(unrecorded)})


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_archive_stops_plan_and_render_in_one_line_naming_it(project, cache, tmp_path, case, charts_dir):
    make, fragment = BROKEN[case]
    make(charts_dir / ARCHIVE, cache / ARCHIVE)
    for args in (("plan", "--cloud", "local", "--json"), ("render", "--cloud", "local", "--out", str(tmp_path / "out"))):
        result = invoke(cache, *args)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.exit_code == 2 and result.stdout == "", (args[0], result.exit_code, result.stderr[-1500:])
        assert len(errors) == 1 and "unexpected failure" not in errors[0], result.stderr[-1500:]
        assert str(cache / ARCHIVE) in errors[0] and fragment in errors[0], errors[0]
        assert "platform charts pull --force" in errors[0]
        assert len(errors[0]) <= 400, len(errors[0])
    assert not (tmp_path / "out" / "manifests").exists(), "render wrote nothing"


@pytest.mark.parametrize("case", [c for c in BROKEN if c != "a template that fails"])
def test_charts_list_names_what_is_wrong_and_pull_replaces_it(cache, chart_repository, case, charts_dir):
    make, fragment = BROKEN[case]
    make(charts_dir / ARCHIVE, cache / ARCHIVE)
    listed = {r["chart"]: r for r in json.loads(invoke(cache, "charts", "list", "--json").stdout)["charts"]}
    assert listed["mlflow"]["cached"] is False and fragment in listed["mlflow"]["problem"]
    assert all(r["cached"] and r["problem"] is None for name, r in listed.items() if name != "mlflow")
    table = invoke(cache, "charts", "list")
    assert "bad: " in table.stdout and "replaces them" in table.stderr
    url, _ = chart_repository
    pulled = invoke(cache, "charts", "pull", "--mirror", url, "--json")
    assert pulled.exit_code == 0, pulled.stderr
    status = {r["chart"]: r["status"] for r in json.loads(pulled.stdout)["charts"]}
    assert status["mlflow"] == "pulled" and {s for n, s in status.items() if n != "mlflow"} == {"cached"}
    assert (cache / ARCHIVE).read_bytes() == (charts_dir / ARCHIVE).read_bytes()


def test_pull_refuses_a_repository_that_serves_a_broken_archive(cache, chart_repository, charts_dir):
    url, folder = chart_repository
    (cache / ARCHIVE).unlink()
    _failing_template(charts_dir / ARCHIVE, folder / "unused.tgz")  # keeps the index valid
    _escapes(charts_dir / ARCHIVE, folder / ARCHIVE)
    result = invoke(cache, "charts", "pull", "--mirror", url)
    assert result.exit_code == 1, result.stderr
    assert "outside the chart's folder" in result.stderr.strip().splitlines()[-1]
    assert not (cache / ARCHIVE).exists(), "a refused archive is not moved into the cache"
