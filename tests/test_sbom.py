"""`platform sbom`: a CycloneDX 1.6 document that CycloneDX's own validator accepts, listing the
stack's charts with the SHA-256 of the archives it renders from, every image `images list` finds,
and the platform's installed Python dependencies (not the test tools)."""

from __future__ import annotations

import hashlib
import json
from importlib import metadata

import pytest

from mlops_platform.components import versions
from mlops_platform.components.image_refs import parse
from mlops_platform.planner.images import inventory
from support.cli import invoke, one_line_error


@pytest.fixture()
def written(project, charts_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(charts_dir))
    out = tmp_path / "sbom.json"
    result = invoke("sbom", "--cloud", "local", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return out


def test_the_sbom_validates_and_lists_charts_images_and_packages(written, charts_dir, viewed):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = written.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    by_type: dict[str, list[dict]] = {}
    for component in document["components"]:
        by_type.setdefault(component["type"], []).append(component)
    view = viewed("local-dev")
    installed = {r.chart for r in view.releases}
    charts = {c["name"]: c for c in by_type["application"]}
    assert set(charts) == {c.short_name for c in installed}
    for chart in installed:
        digest = hashlib.sha256((charts_dir / chart.archive).read_bytes()).hexdigest()
        assert charts[chart.short_name]["version"] == chart.version
        assert charts[chart.short_name]["hashes"] == [{"alg": "SHA-256", "content": digest}]
    images = {f"{c['name']}:{c['version']}" for c in by_type["container"]}  # fully qualified, as the runtime reads them
    assert images == {parse(i.reference).tagged for i in inventory(view)[0]}
    packages = {c["name"].lower(): c["version"] for c in by_type["library"]}
    assert packages["pulumi"] == "3.272.0" and packages["pydantic"] == metadata.version("pydantic")
    assert packages["mlops-platform"] == metadata.version("mlops-platform")
    assert "pytest" not in packages and "moto" not in packages, "only what the platform itself requires"
    assert {d["ref"] for d in document["dependencies"]} >= {"stack:local-dev"}


def test_a_chart_missing_from_the_cache_has_no_digest_and_says_so(project, tmp_path, monkeypatch, charts_dir):
    folder = tmp_path / "some-charts"
    folder.mkdir()
    for chart in versions.CHARTS:
        if chart != versions.MLFLOW:
            (folder / chart.archive).symlink_to(charts_dir / chart.archive)
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(folder))
    result = invoke("sbom", "--cloud", "local")
    assert result.exit_code == 0, result.stderr
    mlflow = next(c for c in json.loads(result.stdout)["components"] if c["name"] == "mlflow")
    assert "hashes" not in mlflow
    assert {"name": "mlops-platform:archive", "value": "not in the chart cache"} in mlflow["properties"]


def test_an_out_that_is_a_folder_is_one_line_and_nothing_written(project, tmp_path):
    result = invoke("sbom", "--cloud", "local", "--out", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in one_line_error(result)
    assert not list(tmp_path.glob("*.json"))
