"""Every chart checked by its digest from pull to deploy (planner/digests.py, cli/staging.py).

A tampered archive keeps the pinned Chart.yaml, so only its digest tells it apart: it is refused by
`plan`, `render`, `charts pull` and every deploy, in one line naming the archive and both digests.
A deploy installs only the copy staged into the project's `.charts/`, never a chart by name.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components import versions
from mlops_platform.planner import charts, digests
from support import CHART_DIGESTS

ARCHIVE = versions.MLFLOW.archive
EXTRA = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted-by-the-mirror\ndata:\n  x: y\n"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def cache(chart_cache) -> Path:
    return chart_cache


@pytest.fixture()
def tampered(cache, charts_dir) -> Path:
    """The mlflow archive with one more template (a ConfigMap): a whole, loadable chart that names
    itself mlflow 1.11.5, as a tampering mirror would serve it."""
    from test_chart_archives import _repacked

    _repacked(charts_dir / ARCHIVE, cache / ARCHIVE, {"mlflow/templates/zz-planted.yaml": EXTRA})
    return cache / ARCHIVE


def _digest_file(tmp_path: Path, drop: tuple[str, ...] = (), **changed: str) -> Path:
    entries = {k: v for k, v in json.loads(CHART_DIGESTS.read_text()).items() if k not in drop}
    path = tmp_path / "digests.json"
    path.write_text(json.dumps({**entries, **changed}))
    return path


def _run(cache: Path, *args: str, digest_file: Path = CHART_DIGESTS):
    return CliRunner().invoke(app, list(args), env={"PLATFORM_CHARTS_DIR": str(cache), digests.DIGESTS_ENV: str(digest_file)})


def _errors(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_a_tampered_archive_is_refused_by_plan_and_render_naming_both_digests(project, cache, tampered, tmp_path, charts_dir):
    expected = json.loads(CHART_DIGESTS.read_text())[ARCHIVE]
    assert _sha(charts_dir / ARCHIVE) == expected  # the suite's digest file is true to the archives
    for args in (("plan", "--cloud", "local", "--json"), ("render", "--cloud", "local", "--out", str(tmp_path / "out"))):
        result = _run(cache, *args)
        (line,) = _errors(result)
        assert result.exit_code == 2 and result.stdout == "", result.stderr[-800:]
        assert str(tampered) in line and f"has sha256 {_sha(tampered)}, not the recorded {expected}" in line, line
    assert not (tmp_path / "out" / "manifests").exists(), "render wrote nothing"


def test_without_a_recorded_digest_the_same_archive_renders_its_planted_object(project, cache, tampered, tmp_path):
    """Why the digest is the check: nothing else in the archive gives the tampering away."""
    unrecorded = _digest_file(tmp_path, drop=(ARCHIVE,))
    out = tmp_path / "out"
    result = _run(cache, "render", "--cloud", "local", "--out", str(out), digest_file=unrecorded)
    assert result.exit_code == 0, result.stderr[-800:]
    assert any(b"planted-by-the-mirror" in p.read_bytes() for p in out.rglob("*.yaml"))


def test_charts_list_and_pull_check_the_digest(cache, tampered, chart_repository):
    listed = {r["chart"]: r for r in json.loads(_run(cache, "charts", "list", "--json").stdout)["charts"]}
    assert listed["mlflow"]["cached"] is False and "has sha256" in listed["mlflow"]["problem"]
    url, _ = chart_repository
    pulled = _run(cache, "charts", "pull", "--mirror", url, "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert {r["chart"]: r["status"] for r in json.loads(pulled.stdout)["charts"]}["mlflow"] == "pulled"
    assert _sha(cache / ARCHIVE) == json.loads(CHART_DIGESTS.read_text())[ARCHIVE]
    mlflow = next(r for r in json.loads(pulled.stdout)["charts"] if r["chart"] == "mlflow")
    assert mlflow["sha256"] == _sha(cache / ARCHIVE) and mlflow["digest"] == "verified"


def test_charts_pull_from_the_oci_registry_refuses_an_archive_whose_digest_differs(oci_registry, tmp_path):
    """The registry serves the archives byte for byte; a recorded digest they do not have (a
    publisher's re-release, a tampered mirror) is refused, and nothing reaches the cache."""
    chart = versions.KSERVE_CRD
    wrong = "0" * 64
    empty = tmp_path / "cache"
    result = _run(empty, "charts", "pull", "--mirror", oci_registry, digest_file=_digest_file(tmp_path, **{chart.archive: wrong}))
    assert result.exit_code == 1, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert f"kserve-crd v0.20.0 from {oci_registry}/kserve-crd has sha256 " in line and f"not the recorded {wrong}" in line
    assert not (empty / chart.archive).exists() and not list(empty.glob(".pull-*"))
    good = _run(empty, "charts", "pull", "--mirror", oci_registry, "--json")
    assert good.exit_code == 0, good.stderr
    assert all(_sha(empty / c.archive) == digests.expected(c) for c in versions.CHARTS)


@pytest.mark.parametrize("content, fragment", [
    ("not json", "is not a JSON file of archive digests"),
    ('["a"]', "must be a JSON object"),
    ('{"mlflow-1.11.5.tgz": "sha256:abc"}', "'mlflow-1.11.5.tgz' has 'sha256:abc', not a sha256"),
])
def test_an_unusable_digest_file_stops_every_command_in_one_line(project, cache, tmp_path, content, fragment):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    for args in (("plan", "--cloud", "local"), ("charts", "list")):
        result = _run(cache, *args, digest_file=bad)
        (line,) = _errors(result)
        assert result.exit_code == 2 and fragment in line and str(bad) in line, result.stderr


def test_a_digest_file_replaces_a_recorded_digest_but_cannot_switch_the_check_off(monkeypatch, tmp_path, charts_dir):
    pinned = versions.Chart(versions.MLFLOW.name, versions.MLFLOW.version, versions.MLFLOW.repo, sha256="1" * 64)
    monkeypatch.delenv(digests.DIGESTS_ENV)
    assert digests.expected(pinned) == "1" * 64
    assert "not the recorded " + "1" * 64 in (charts.problem(pinned, charts_dir / ARCHIVE) or "")
    monkeypatch.setenv(digests.DIGESTS_ENV, str(CHART_DIGESTS))
    assert charts.problem(pinned, charts_dir / ARCHIVE) is None
    monkeypatch.setenv(digests.DIGESTS_ENV, str(_digest_file(tmp_path, drop=(ARCHIVE,))))
    assert digests.expected(pinned) == "1" * 64, "a file without the archive leaves the recorded digest"


# --- deploys install the staged, checked copy ---------------------------------------------------


def test_every_release_deploys_the_staged_archive_never_a_chart_by_name(planned):
    for stack in ("local-dev", "aws-prod", "azure-prod", "gcp-prod"):
        for record in planned(stack).helm_releases():
            chart = charts.by_reference(str(record.input("chart")))
            assert chart is not None and record.input("chart") == f"./.charts/{chart.archive}", record.urn
            assert record.input("version") == chart.version
            assert not record.input("repositoryOpts"), f"{record.urn} would fetch its chart from a repository"


def test_preview_stages_each_chart_the_stack_uses_checked_before_the_engine(project, state, fake, cache, planned):
    staged = project / ".charts"
    staged.mkdir()
    (staged / versions.TRAEFIK.archive).write_bytes(b"an older, other copy")
    result = _run(cache, "preview", "--cloud", "local")
    assert result.exit_code == 0, result.stderr[-1500:]
    used = {charts.by_reference(str(r.input("chart"))) for r in planned("local-dev").helm_releases()}
    assert {p.name for p in staged.glob("*.tgz")} == {c.archive for c in used}
    for chart in used:
        assert _sha(staged / chart.archive) == _sha(cache / chart.archive), chart.short_name
    assert not [p for p in staged.iterdir() if p.name.startswith(".")], "no temporary copy left"
    assert "deployed unverified" not in result.stderr


def test_a_tampered_archive_stops_a_deploy_before_the_engine_starts(project, state, fake, cache, tampered):
    for args in (("preview", "--cloud", "local"), ("up", "--cloud", "local", "--yes")):
        result = _run(cache, *args)
        (line,) = _errors(result)
        assert result.exit_code == 2 and "has sha256" in line and str(tampered) in line, result.stderr[-800:]
    assert not any(fake.ran(command) for command in ("preview", "up", "stack")), "the engine was never started"
    assert not (project / ".charts").exists(), "nothing staged"


def test_a_prod_deploy_refuses_charts_without_a_recorded_digest_and_dev_warns(project, state, fake, cache, tmp_path):
    unrecorded = _digest_file(tmp_path, drop=(versions.KUBE_PROMETHEUS_STACK.archive,))
    prod = _run(cache, "preview", "--cloud", "aws", "--env", "prod", digest_file=unrecorded)
    (line,) = _errors(prod)
    assert prod.exit_code == 2 and "is prod and 1 of its charts have no recorded digest: kube-prometheus-stack 88.5.3" in line
    assert not (project / ".charts").exists()
    dev = _run(cache, "preview", "--cloud", "local", digest_file=unrecorded)
    assert dev.exit_code == 0, dev.stderr[-800:]
    assert "1 charts are deployed unverified (no recorded digest): kube-prometheus-stack 88.5.3" in " ".join(dev.stderr.split())
