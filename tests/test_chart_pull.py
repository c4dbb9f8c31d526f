"""`platform charts pull`: the pinned chart archives fetched with Helm from a chart repository
served on loopback and from a real OCI registry (Debian's docker-registry), byte for byte."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components import versions
from mlops_platform.planner import charts

# --- the CLI: pull, a plan without charts, render ------------------------------------------------


def _pull_every_chart(mirror: str, cache: Path, monkeypatch) -> None:
    """`platform charts pull --mirror MIRROR` into an empty cache: every pinned chart is pulled."""
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(cache))
    result = CliRunner().invoke(app, ["charts", "pull", "--mirror", mirror, "--json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["charts"]
    assert [(r["chart"], r["status"]) for r in rows] == [(c.short_name, "pulled") for c in versions.CHARTS]


def test_charts_pull_downloads_the_pinned_versions_with_helm(chart_repository, tmp_path, monkeypatch):
    url, _ = chart_repository
    cache = tmp_path / "cache"
    _pull_every_chart(url, cache, monkeypatch)
    for chart in versions.CHARTS:
        charts.check_archive(chart, cache / chart.archive)  # the pinned chart, loadable
    assert not [p for p in cache.iterdir() if p.name.startswith(".pull-")], "no temporary folder left"
    again = CliRunner().invoke(app, ["charts", "pull", "--mirror", url, "--json"])
    assert {r["status"] for r in json.loads(again.stdout)["charts"]} == {"cached"}
    listed = json.loads(CliRunner().invoke(app, ["charts", "list", "--json"]).stdout)["charts"]
    assert all(r["cached"] for r in listed)


def test_charts_pull_fails_in_one_line_when_the_repository_lacks_a_version(chart_repository, tmp_path, monkeypatch):
    url, folder = chart_repository
    (folder / versions.MLFLOW.archive).unlink()
    import helm_python as helm

    helm.repo_index_generate(folder, base_url=url)
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["charts", "pull", "--mirror", url])
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: cannot pull mlflow 1.11.5 from " + url) and "Traceback" not in result.stderr
    assert not (tmp_path / "cache" / versions.MLFLOW.archive).exists()
    bad = CliRunner().invoke(app, ["charts", "pull", "--mirror", "ftp://x"])
    assert bad.exit_code == 2 and "--mirror" in bad.stderr


def test_charts_pull_from_an_oci_registry_gets_the_pinned_archives_byte_for_byte(oci_registry, tmp_path, monkeypatch, charts_dir):
    """The OCI path KServe's charts take (oci://ghcr.io/kserve/charts), against a real registry."""
    import hashlib

    cache = tmp_path / "cache"
    _pull_every_chart(oci_registry, cache, monkeypatch)
    for chart in versions.CHARTS:
        pulled, pinned = cache / chart.archive, charts.archive_path(chart, charts_dir)
        assert hashlib.sha256(pulled.read_bytes()).digest() == hashlib.sha256(pinned.read_bytes()).digest(), chart.short_name
    # A version the registry does not hold: one line naming the chart, the version and the registry.
    monkeypatch.setattr(versions, "CHARTS", tuple(
        dataclasses.replace(c, version="v0.99.0") if c == versions.KSERVE_RESOURCES else c for c in versions.CHARTS))
    missing = CliRunner().invoke(app, ["charts", "pull", "--mirror", oci_registry])
    assert missing.exit_code == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1].startswith(
        f"error: cannot pull kserve-resources v0.99.0 from {oci_registry}/kserve-resources")
    assert not (cache / "kserve-resources-v0.99.0.tgz").exists()


@pytest.mark.parametrize("mirror", ["http://charts.mirror.invalid/charts", "http://10.0.0.1:8080/charts",
                                    "http://127.0.0.1.mirror.invalid/charts"])
def test_a_plain_http_mirror_on_another_machine_is_refused_before_any_connection(mirror, tmp_path, monkeypatch):
    """A tampered archive from such a mirror would pass every check that reads only its Chart.yaml.
    `.invalid` never resolves (RFC 6761): nothing is attempted, and the refusal comes first anyway."""
    monkeypatch.setenv(charts.CHARTS_DIR_ENV, str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["charts", "pull", "--mirror", mirror])
    assert result.exit_code == 2, result.output
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith(f"error: --mirror {mirror} is plain HTTP to another machine: charts come over TLS only")
    assert not (tmp_path / "cache").exists(), "nothing written"
    with pytest.raises(charts.PullError, match="plain HTTP to another machine"):
        charts.pull(versions.CHARTS[:1], tmp_path / "direct", mirror=mirror)
    assert not charts.plain_http_elsewhere("http://127.0.0.1:8080/charts")
    assert not charts.plain_http_elsewhere("https://charts.mirror.invalid/charts")


def test_only_a_registry_on_this_machine_is_reached_over_plain_http():
    assert charts.on_loopback("oci://127.0.0.1:5000/charts") and charts.on_loopback("oci://localhost:5000/c")
    assert charts.on_loopback("oci://[::1]:5000/charts")
    assert not charts.on_loopback("oci://ghcr.io/kserve/charts/kserve")
    assert not charts.on_loopback("oci://127.0.0.1.nip.io/charts") and not charts.on_loopback("oci://10.0.0.1/charts")
