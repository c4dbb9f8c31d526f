"""Images reach the lock's digests and the stack's mirror through the charts' own values
(components/chart_images.py): every shipped stack is rendered for real with a mirror set and a lock
holding a digest for every image it runs, and every container the cluster receives or a controller
is told to inject must then come from the mirror, pinned."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from mlops_platform.components import chart_images, image_lock, versions
from mlops_platform.components.config import PlatformConfig, read_stack_values
from mlops_platform.components.image_refs import parse
from mlops_platform.components.image_source import ImageSource
from mlops_platform.planner.images import inventory
from mlops_platform.planner.plan import build_plan
from support import STACKS

MIRROR = "mirror.example:5000/air-gap"
SHIPPED = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in STACKS.glob("Pulumi.*.yaml"))
# Not pinnable by digest through kserve-runtime-configs v0.20.0's values (chart_images.py says why);
# it moves to the mirror all the same.
TAG_ONLY = {"docker.io/kserve/huggingfaceserver"}


def fake_digest(tagged: str) -> str:
    return "sha256:" + hashlib.sha256(tagged.encode()).hexdigest()


def _config(stack: str, mirror: bool) -> PlatformConfig:
    values = read_stack_values(STACKS / f"Pulumi.{stack}.yaml")
    if mirror:
        values["mirror"] = {"images": MIRROR, "charts": "oci://mirror.example:5000/charts"}
    return PlatformConfig.from_values(values, f"{stack} (mirrored)", stack)


def _images(stack: str, charts_dir: Path, mirror: bool) -> list[Any]:
    images, unknown = inventory(build_plan(_config(stack, mirror), charts_dir).view)
    assert unknown == []
    return images


@pytest.mark.parametrize("stack", SHIPPED)
def test_with_a_mirror_and_a_full_lock_every_image_comes_from_the_mirror_pinned(stack, charts_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(image_lock.LOCK_ENV, str(tmp_path / "none.json"))
    plain = _images(stack, charts_dir, mirror=False)
    lock = {parse(i.reference).tagged: fake_digest(parse(i.reference).tagged) for i in plain}
    (tmp_path / "lock.json").write_text(json.dumps({"images": lock}))
    monkeypatch.setenv(image_lock.LOCK_ENV, str(tmp_path / "lock.json"))

    mirrored = _images(stack, charts_dir, mirror=True)
    assert len(mirrored) == len(plain)
    outside = [i.reference for i in mirrored if not i.reference.startswith(f"{MIRROR}/")]
    assert outside == [], f"{stack}: pulled from outside the mirror: {outside}"
    for image in mirrored:
        found = parse(image.reference)
        original = found.name.removeprefix(f"{MIRROR}/")
        original = original if "." in original.split("/", 1)[0] else f"docker.io/{original}"
        if original in TAG_ONLY:
            assert found.digest is None
            continue
        assert found.digest == fake_digest(f"{original}:{found.tag}"), f"{stack}: {image.reference} is not pinned by the lock"


# Slots these stacks do not run: no ACME challenge, explainer, certificate-patch Job, router, aged runtime.
NOT_RUN = {"acmesolver", "art", "admissionWebhooks", "router", "tensorflow", "tritonserver"}


def test_the_slots_name_what_each_chart_renders_by_default(charts_dir, tmp_path, monkeypatch):
    """Each slot's reference is what its chart runs without our image values: a chart bump that
    changes one fails here, not in a cluster pulling a digest the lock never saw."""
    monkeypatch.setenv(image_lock.LOCK_ENV, str(tmp_path / "none.json"))
    rendered = {parse(i.reference).tagged for stack in ("local-dev", "aws-prod") for i in _images(stack, charts_dir, False)}
    for chart in versions.CHARTS:
        for slot in chart_images.slots(chart):
            if set(slot.path) & NOT_RUN:
                continue
            assert parse(slot.reference).tagged in rendered, f"{chart.short_name} {'.'.join(slot.path)}: {slot.reference}"


def test_without_a_lock_entry_or_a_mirror_the_charts_own_values_stay(tmp_path, monkeypatch):
    monkeypatch.setenv(image_lock.LOCK_ENV, str(tmp_path / "none.json"))
    assert all(chart_images.values_for(chart, ImageSource()) == {} for chart in versions.CHARTS)


def test_each_layout_spells_the_reference_as_its_chart_reads_it(tmp_path, monkeypatch):
    digest = fake_digest("x")
    monkeypatch.setenv(image_lock.LOCK_ENV, str(tmp_path / "lock.json"))
    (tmp_path / "lock.json").write_text(json.dumps({"images": {
        "docker.io/library/traefik:v3.7.11": digest, "registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0": digest,
        "quay.io/jetstack/cert-manager-controller:v1.21.1": digest, "quay.io/prometheus/prometheus:v3.14.0-distroless": digest}}))
    source = ImageSource("m.example/p")
    traefik = chart_images.values_for(versions.TRAEFIK, source)["image"]
    assert traefik == {"registry": "m.example", "repository": "p/library/traefik", "tag": f"v3.7.11@{digest}"}
    kps = chart_images.values_for(versions.KUBE_PROMETHEUS_STACK, source)
    assert kps["kube-state-metrics"]["image"]["sha"] == digest
    assert kps["prometheus"]["prometheusSpec"]["image"]["sha"] == digest.removeprefix("sha256:")
    assert kps["prometheusOperator"]["image"] == {"registry": "m.example", "repository": "p/quay.io/prometheus-operator/"
                                                  "prometheus-operator", "tag": "v0.93.1"}, "moved, but not locked: no digest"
    cert_manager = chart_images.values_for(versions.CERT_MANAGER, source)["image"]
    assert cert_manager == {"repository": "m.example/p/quay.io/jetstack/cert-manager-controller", "tag": "v1.21.1", "digest": digest}
    # Without a mirror only the digest is set: where the image lives is the chart's own default.
    assert chart_images.values_for(versions.TRAEFIK, ImageSource())["image"] == {"tag": f"v3.7.11@{digest}"}


@pytest.mark.parametrize("given", ["https://registry.example/m", "Registry.Example/m", "registry.example/m/ space", ""])
def test_a_mirror_that_is_not_a_registry_path_is_refused(given):
    from mlops_platform.components.config import ConfigError

    values = read_stack_values(STACKS / "Pulumi.local-dev.yaml")
    values["mirror"] = {"images": given}
    with pytest.raises(ConfigError, match="mirror.images"):
        PlatformConfig.from_values(values, "local-dev", "local-dev")


def test_kind_creates_its_nodes_from_the_mirror_too(tmp_path, monkeypatch):
    from mlops_platform.components.cluster.kind import KindCluster, kind_config

    monkeypatch.setenv(image_lock.LOCK_ENV, str(tmp_path / "none.json"))
    config = kind_config(KindCluster.args_from(_config("local-dev", mirror=True)))
    assert f"image: {MIRROR}/kindest/node:{versions.KIND_NODE_IMAGE.tag}" in config


def test_charts_pull_for_a_stack_comes_from_its_mirror(project, oci_registry, tmp_path):
    from typer.testing import CliRunner

    from mlops_platform.cli.app import app

    _with_mirror(project, charts=oci_registry, images=MIRROR)
    result = CliRunner().invoke(app, ["charts", "pull", "--cloud", "local", "--json"],
                                env={"PLATFORM_CHARTS_DIR": str(tmp_path / "cache")})
    assert result.exit_code == 0, result.stderr[-600:]
    rows = json.loads(result.stdout)["charts"]
    assert rows and all(r["source"].startswith(f"{oci_registry}/") and r["status"] == "pulled" for r in rows)
    assert all(r["digest"] == "verified" for r in rows)


def test_mirror_push_fills_a_registry_a_stack_then_installs_from(project, registry, charts_dir, tmp_path):
    """The charts land in the loopback registry with their digests, and `charts pull` from there
    verifies them; each image copy goes by its locked digest to where the stack will pull it."""
    from typer.testing import CliRunner

    from mlops_platform.cli.app import app
    from mlops_platform.planner import digests

    mirror = f"{registry}/air-gap"
    pushed = CliRunner().invoke(app, ["mirror", "push", "--to", mirror, "--cloud", "local", "--json"],
                                env={"PLATFORM_CHARTS_DIR": str(charts_dir)})
    assert pushed.exit_code == 0, pushed.stderr[-600:]
    report = json.loads(pushed.stdout)
    assert {c["chart"] for c in report["charts"]} >= {"traefik", "cert-manager", "mlflow"}
    postgres = next(i for i in report["images"] if "postgres" in i["source"])
    digest = image_lock.digest_of(versions.POSTGRES.ref.split("@")[0])
    assert digest and postgres["source"] == f"docker.io/library/postgres@{digest}"
    assert postgres["destination"] == f"{mirror}/library/postgres:{versions.POSTGRES.tag}"
    assert "--preserve-digests" in postgres["command"]
    # What the copies make is what the stack pulls once switched to the mirror.
    assert ImageSource(mirror).ref(versions.POSTGRES).startswith(postgres["destination"] + "@" + digest)

    cache = tmp_path / "fresh-cache"
    pulled = CliRunner().invoke(app, ["charts", "pull", "--cloud", "local", "--mirror", f"oci://{mirror}/charts", "--json"],
                                env={"PLATFORM_CHARTS_DIR": str(cache)})
    assert pulled.exit_code == 0, pulled.stderr[-600:]
    rows = json.loads(pulled.stdout)["charts"]
    assert rows and all(r["digest"] == "verified" and r["sha256"] == digests.expected(next(
        c for c in versions.CHARTS if c.short_name == r["chart"])) for r in rows)


@pytest.mark.parametrize("args, fragment", [
    (["--to", "https://registry.example/m"], "is not a registry path"),
    ([], "no mirror given"),
    (["--to", "registry.example/m", "--run"], "skopeo, which is not on PATH"),
])
def test_mirror_push_refuses_what_it_cannot_do_in_one_line(project, args, fragment, monkeypatch):
    from support.cli import invoke, refused

    monkeypatch.setenv("PATH", "/nonexistent")
    refused(invoke("mirror", "push", "--cloud", "local", *args), fragment)


def test_plan_of_a_mirrored_stack_fails_on_any_image_from_outside_the_mirror(charts_dir, monkeypatch):
    clean = build_plan(_config("aws-dev", mirror=True), charts_dir)
    assert "supply-chain-images-from-mirror" in clean.rules and clean.violations == []
    # A chart whose image value the table lost: its image comes from Docker Hub again.
    monkeypatch.setitem(chart_images.SLOTS, "traefik", ())
    broken = build_plan(_config("aws-dev", mirror=True), charts_dir)
    found = [v for v in broken.mandatory_violations() if v.rule == "supply-chain-images-from-mirror"]
    assert found and all("traefik:v3.7.11" in v.message for v in found), [v.message for v in found]
    assert f"outside the mirror {MIRROR}" in found[0].message


def _with_mirror(project: Path, **mirror: str) -> None:
    """The project's local-dev stack file with `platform:mirror` set to `mirror`."""
    import yaml

    stack_file = project / "stacks" / "Pulumi.local-dev.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["platform:mirror"] = mirror
    stack_file.write_text(yaml.safe_dump(document))


def test_images_lock_of_a_mirrored_stack_resolves_in_its_mirror_keyed_by_the_source(project, registry, tmp_path):
    from test_image_lock import push
    from typer.testing import CliRunner

    from mlops_platform.cli.app import app

    _with_mirror(project, images=f"{registry}/mirror")
    pushed = push(registry, "mirror/library/postgres", versions.POSTGRES.tag, b"postgres, as the mirror holds it")
    result = CliRunner().invoke(app, ["images", "lock", "--cloud", "local", "--json"],
                                env={image_lock.LOCK_ENV: str(tmp_path / "lock.json")})
    assert result.exit_code == 1, result.stderr[-600:]  # the rest is not in this registry
    rows = {row["image"]: row for row in json.loads(result.stdout)["images"]}
    assert rows["docker.io/library/postgres:17.10-alpine"]["digest"] == pushed
    assert not [key for key in rows if key.startswith(registry)], "keyed by where images come from, not the mirror"


def test_mirror_push_refuses_a_cached_chart_that_is_not_the_pinned_one(project, registry, chart_cache):
    import urllib.request

    from typer.testing import CliRunner

    from mlops_platform.cli.app import app

    with (chart_cache / versions.TRAEFIK.archive).open("ab") as archive:
        archive.write(b"\0")
    result = CliRunner().invoke(app, ["mirror", "push", "--to", f"{registry}/air-gap", "--cloud", "local"],
                                env={"PLATFORM_CHARTS_DIR": str(chart_cache)})
    assert result.exit_code == 2 and versions.TRAEFIK.archive in result.stderr, result.stderr[-600:]
    with urllib.request.urlopen(f"http://{registry}/v2/_catalog") as answer:
        assert json.loads(answer.read())["repositories"] == [], "every archive is checked before the first push"


def test_the_projects_own_mlflow_image_replaces_the_charts_everywhere(charts_dir, tmp_path, monkeypatch):
    """mlflow.image: the server, its CA-bundle init container, the schema-upgrade Job and the backup
    CronJob all run it; nothing runs the chart's burakince/mlflow any more."""
    monkeypatch.setenv(image_lock.LOCK_ENV, str(tmp_path / "none.json"))
    values = read_stack_values(STACKS / "Pulumi.local-dev.yaml")
    values["mlflow"] = {**values.get("mlflow", {}), "image": "ghcr.io/acme/mlops-platform-mlflow:3.15.1-1"}
    images, _ = inventory(build_plan(PlatformConfig.from_values(values, "local-dev", "local-dev"), charts_dir).view)
    ours = next(i for i in images if "mlops-platform-mlflow" in i.reference)
    assert ours.reference == "ghcr.io/acme/mlops-platform-mlflow:3.15.1-1"
    assert {"chart mlflow", "ours"} <= ours.sources and len(ours.used_by) >= 4, ours.used_by
    assert not [i.reference for i in images if "burakince" in i.reference]


@pytest.mark.parametrize("image, fragment", [("ghcr.io/acme/mlflow:3.14.0", "must be tagged with MLflow 3.15.1"),
                                             ("ghcr.io/acme/mlflow", "must be tagged with MLflow 3.15.1"),
                                             ("ghcr.io/Acme/mlflow:3.15.1", "names repository 'Acme/mlflow'")])
def test_an_mlflow_image_of_another_version_is_refused(image, fragment):
    from mlops_platform.components.config import ConfigError

    values = read_stack_values(STACKS / "Pulumi.local-dev.yaml")
    values["mlflow"] = {"image": image}
    with pytest.raises(ConfigError, match="mlflow.image") as caught:
        PlatformConfig.from_values(values, "local-dev", "local-dev")
    assert fragment in str(caught.value)


def test_the_image_build_installs_what_the_suite_runs_mlflow_with():
    """images/mlflow/requirements.txt pins MLflow, its sign-in plugin, the Postgres driver and
    SQLAlchemy (which picks the driver for `postgresql://`) exactly as the test extra does (the suite's
    real `mlflow server` and schema Job are the image's), at the chart's version."""
    import tomllib

    from support import ROOT

    wanted = {line.split("==")[0]: line for line in (ROOT / "images" / "mlflow" / "requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    test_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    for name in ("mlflow[auth]", "mlflow-oidc-auth", "psycopg2-binary", "sqlalchemy"):
        assert wanted[name] in test_extra, wanted[name]
    assert wanted["mlflow[auth]"] == f"mlflow[auth]=={versions.MLFLOW_IMAGE.tag}"
    dockerfile = (ROOT / "images" / "mlflow" / "Dockerfile").read_text()
    assert "USER 1001:1001" in dockerfile and "-r /opt/mlflow/requirements.txt" in dockerfile


def test_mirror_push_of_a_stack_that_does_not_render_whole_pushes_nothing(project, registry, chart_cache):
    import urllib.request

    from typer.testing import CliRunner

    from mlops_platform.cli.app import app

    (chart_cache / versions.MLFLOW.archive).unlink()
    result = CliRunner().invoke(app, ["mirror", "push", "--to", f"{registry}/air-gap", "--cloud", "local"],
                                env={"PLATFORM_CHARTS_DIR": str(chart_cache)})
    assert result.exit_code == 2 and "renders partially" in result.stderr, result.stderr[-600:]
    with urllib.request.urlopen(f"http://{registry}/v2/_catalog") as answer:
        assert json.loads(answer.read())["repositories"] == []
