"""`platform images lock` against a real registry on loopback (Debian's docker-registry), with small
images the test pushes through the registry's own API; and the lock read back into the render."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components import image_lock, versions
from mlops_platform.components.image_refs import ReferenceError, parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _blob(registry: str, repository: str, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = urllib.request.urlopen(urllib.request.Request(f"http://{registry}/v2/{repository}/blobs/uploads/", method="POST"))
    location = start.headers["Location"]
    location = location if location.startswith("http") else f"http://{registry}{location}"
    joiner = "&" if "?" in location else "?"
    urllib.request.urlopen(urllib.request.Request(f"{location}{joiner}digest={digest}", data=data, method="PUT",
                                                  headers={"Content-Type": "application/octet-stream"}))
    return {"digest": digest, "size": len(data)}


def push(registry: str, repository: str, tag: str, content: bytes) -> str:
    """A one-layer image holding `content` as /hello, pushed as `repository:tag`: its manifest digest."""
    layer_tar = io.BytesIO()
    with tarfile.open(fileobj=layer_tar, mode="w") as archive:
        info = tarfile.TarInfo("hello")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    layer = gzip.compress(layer_tar.getvalue(), mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {
        "type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar.getvalue()).hexdigest()]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(registry, repository, config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(registry, repository, layer)}],
    }).encode()
    with urllib.request.urlopen(urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}", data=manifest,
                                                       method="PUT", headers={"Content-Type": OCI_MANIFEST})) as answer:
        assert answer.headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


# Where a mirror keeps each image (image_refs.Reference.moved_to): Docker Hub's by repository, others
# under their registry's host.
MIRRORED = {
    versions.MLFLOW_IMAGE: "mirror/burakince/mlflow",
    versions.POSTGRES: "mirror/library/postgres",
    versions.DEX_IMAGE: "mirror/ghcr.io/dexidp/dex",
}


def _lock(tmp_path: Path, registry: str):
    return CliRunner().invoke(app, ["images", "lock", "--cloud", "local", "--via", f"{registry}/mirror", "--json"],
                              env={image_lock.LOCK_ENV: str(tmp_path / "images.lock.json")})


def test_the_lock_resolves_each_tag_to_the_digest_the_registry_serves_and_follows_a_moved_tag(project, registry, tmp_path):
    pushed = {image: push(registry, repository, image.tag, image.ref.encode()) for image, repository in MIRRORED.items()}
    result = _lock(tmp_path, registry)
    assert result.exit_code == 1, result.stderr[-800:]  # the rest of the stack's images are not in this registry
    rows = {row["image"]: row for row in json.loads(result.stdout)["images"]}
    for image, digest in pushed.items():
        assert rows[parse(image.ref).tagged]["digest"] == digest, image.ref
    unresolved = [r for r in rows.values() if r["digest"] is None]
    assert unresolved and all(f"is not in {registry}" in r["problem"] for r in unresolved)
    assert len(rows) == len(pushed) + len(unresolved)
    written = json.loads((tmp_path / "images.lock.json").read_text())["images"]
    assert {k: v for k, v in written.items() if v} == {parse(i.ref).tagged: d for i, d in pushed.items()}
    assert "error: " in result.stderr and "images could not be resolved" in result.stderr

    moved = push(registry, MIRRORED[versions.POSTGRES], versions.POSTGRES.tag, b"a rebuilt image under the same tag")
    again = _lock(tmp_path, registry)
    rows = {row["image"]: row for row in json.loads(again.stdout)["images"]}
    assert rows["docker.io/library/postgres:17.10-alpine"]["digest"] == moved != pushed[versions.POSTGRES]


def test_a_render_pins_every_locked_image_by_digest(project, registry, tmp_path, monkeypatch):
    pushed = {image: push(registry, repository, image.tag, image.ref.encode()) for image, repository in MIRRORED.items()}
    assert _lock(tmp_path, registry).exit_code == 1
    out = tmp_path / "rendered"
    monkeypatch.setenv(image_lock.LOCK_ENV, str(tmp_path / "images.lock.json"))
    result = CliRunner().invoke(app, ["render", "--cloud", "local", "--out", str(out)])
    assert result.exit_code == 0, result.stderr[-800:]
    rendered = "\n".join(p.read_text() for p in out.rglob("*.yaml"))
    for image, digest in pushed.items():
        pinned = f"{image.repository}:{image.tag}@{digest}"
        assert pinned in rendered, pinned
        unpinned = [line for line in rendered.splitlines() if f"{image.repository}:{image.tag}" in line and digest not in line
                    and "image" in line]
        assert unpinned == [], f"{image.ref} also runs unpinned: {unpinned[:2]}"
    bom = CliRunner().invoke(app, ["sbom", "--cloud", "local"])
    assert bom.exit_code == 0, bom.stderr[-800:]
    hashes = {c["name"]: [h["content"] for h in c.get("hashes", [])] for c in json.loads(bom.stdout)["components"]
              if c["type"] == "container"}
    assert hashes["docker.io/library/postgres"] == [pushed[versions.POSTGRES].split(":", 1)[1]]
    assert hashes["quay.io/jetstack/cert-manager-controller"] == [], "not locked: no digest claimed"


def test_an_unusable_lock_file_is_one_line_and_exit_2(project, tmp_path):
    bad = tmp_path / "lock.json"
    bad.write_text('{"images": {"docker.io/library/postgres:17": "md5:abc"}}')
    result = CliRunner().invoke(app, ["images", "lock", "--cloud", "local"], env={image_lock.LOCK_ENV: str(bad)})
    assert result.exit_code == 2 and "not a sha256 digest" in result.stderr and "Traceback" not in result.stderr
    wrong_via = CliRunner().invoke(app, ["images", "lock", "--via", "https://registry.example"])
    assert wrong_via.exit_code == 2 and "--via" in wrong_via.stderr


@pytest.mark.parametrize("text, tagged", [
    ("postgres:17.10-alpine", "docker.io/library/postgres:17.10-alpine"),
    ("burakince/mlflow:3.15.1", "docker.io/burakince/mlflow:3.15.1"),
    ("docker.io/traefik:v3.7.11", "docker.io/library/traefik:v3.7.11"),
    ("quay.io/prometheus/prometheus:v3.14.0-distroless", "quay.io/prometheus/prometheus:v3.14.0-distroless"),
    ("localhost:5000/team/img:1", "localhost:5000/team/img:1"),
    ("ghcr.io/dexidp/dex", "ghcr.io/dexidp/dex:latest"),
])
def test_references_are_read_as_the_runtime_reads_them(text, tagged):
    assert parse(text).tagged == tagged
    assert parse(text + "@sha256:" + "a" * 64).digest == "sha256:" + "a" * 64


@pytest.mark.parametrize("text", ["", "UPPER/case:1", "repo:tag with space", "repo@md5:00", "repo:-bad"])
def test_what_is_not_a_reference_is_refused(text):
    with pytest.raises(ReferenceError):
        parse(text)


def test_what_is_not_a_reference_is_reported_but_never_written_as_a_lock_key(tmp_path):
    from mlops_platform.planner import image_locking

    def digest_of(reference):
        return "sha256:" + hashlib.sha256(reference.tagged.encode()).hexdigest()

    entries = image_locking.lock(["UPPER/case:1", "postgres:17.10-alpine"], {}, resolver=digest_of)
    assert [e.problem is not None for e in entries] == [True, False]
    image_locking.write(tmp_path / "lock.json", entries, {})
    assert list(json.loads((tmp_path / "lock.json").read_text())["images"]) == ["docker.io/library/postgres:17.10-alpine"]
