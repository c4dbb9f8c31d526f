"""`platform upgrade` from the previous release line of every chart (the archives beside the
pinned ones in ../shared/charts) to the pinned versions, rendered for real on every shipped stack.

What is asserted comes from upstream, read in the test from the archives themselves: which CRD
files of a chart's crds/ folder differ (Helm never upgrades those, as kube-prometheus-stack's
README says), the charts' appVersions (the images move with them), the templates a release line
dropped, and traefik's changelog entry for its Middleware CRD.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import tarfile
from pathlib import Path

import pytest

from mlops_platform.components import chart_images, names, versions
from mlops_platform.components.image_source import ImageSource
from mlops_platform.planner import charts
from mlops_platform.planner.upgrade import assess, deployment_record
from support import SHIPPED_STACKS
from support.cli import invoke, one_line_error


def _previous(charts_dir: Path) -> dict[str, str]:
    """chart name -> the version of the other archive of that chart in the folder (the line before)."""
    out = {}
    for chart in versions.CHARTS:
        others = [p.name[len(chart.short_name) + 1:-4] for p in charts_dir.glob(f"{chart.short_name}-*.tgz")
                  if p.name != chart.archive and re.fullmatch(r"v?\d+\.\d+\.\d+", p.name[len(chart.short_name) + 1:-4])]
        if others:
            out[chart.chart_ref] = others[0]
    return out


def _without(values: dict, laid_over: dict) -> dict:
    """`values` without the leaves `laid_over` set (mappings left empty go too)."""
    out = dict(values)
    for key, value in laid_over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _without(out[key], value)
            if not out[key]:
                del out[key]
        else:
            out.pop(key, None)
    return out


def base_document(run, config, charts_dir: Path, kubernetes: str | None = None) -> dict:
    """A saved plan of this stack as the previous release line would have deployed it."""
    previous = _previous(charts_dir)
    resources = json.loads(json.dumps([r.to_json() for r in run.resources], default=str))  # the run's own stay as they are
    for record in resources:
        if record["type"] == "kubernetes:helm.sh/v3:Release":
            chart = charts.by_reference(record["inputs"]["chart"])
            if chart is not None and chart.chart_ref in previous:  # deployed from the staged archive of the line before
                before = dataclasses.replace(chart, version=previous[chart.chart_ref])
                record["inputs"]["chart"], record["inputs"]["version"] = before.staged, before.version
                # Its images as that line's chart named them: the lock's digests are of this line's images.
                record["inputs"]["values"] = _without(record["inputs"].get("values") or {},
                                                      chart_images.values_for(chart, ImageSource(config.mirror.images)))
    deployment = deployment_record(run, config)
    # The schema the previous MLflow release brought the database to (its head, as versions.py records it).
    deployment["mlflowSchema"] = versions.MLFLOW_SCHEMA_HEADS[_app_version(charts_dir, f"mlflow-{previous['mlflow']}.tgz")]
    if kubernetes:
        deployment["kubernetes"] = kubernetes
    return json.loads(json.dumps({"stack": config.stack_name, "resources": resources, "deployment": deployment}, default=str))


@pytest.fixture(scope="module")
def upgraded(planned, stack_config, charts_dir):
    @functools.lru_cache(maxsize=None)
    def of(stack: str):
        config = stack_config(stack)
        return assess(base_document(planned(stack), config, charts_dir), planned(stack), config, charts_dir)
    return of


def _archive(charts_dir: Path, name: str) -> tarfile.TarFile:
    return tarfile.open(charts_dir / name)


def _crds_folder(charts_dir: Path, archive: str) -> dict[str, bytes]:
    with _archive(charts_dir, archive) as tar:
        return {m.name.split("/crds/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers()
                if "/crds/" in m.name and m.isfile() and m.name.endswith(".yaml")}


def _app_version(charts_dir: Path, archive: str) -> str:
    with _archive(charts_dir, archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml"))
        return re.search(r"^appVersion:\s*\"?([^\"\s]+)", tar.extractfile(member).read().decode(), re.M).group(1)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_release_of_the_previous_line_upgrades_to_the_pinned_one(stack, upgraded, charts_dir):
    result = upgraded(stack)
    previous = _previous(charts_dir)
    moved = {r.name: (r.from_version, r.to_version) for r in result.releases}
    for release in result.releases:
        assert release.from_version == previous.get(release.chart, release.to_version)
    assert moved[names.RELEASE_MONITORING] == (previous[versions.KUBE_PROMETHEUS_STACK.chart_ref],
                                               versions.KUBE_PROMETHEUS_STACK.version)
    codes = {f.code for f in result.findings}
    # Nothing the checks would flag is in these renders: no immutable field moves, no API is gone.
    assert not codes & {"IMMUTABLE_FIELD", "API_NOT_SERVED", "API_REMOVED_BY_UPGRADE", "CRD_VERSION_REMOVED", "CRD_REMOVED"}


@pytest.mark.parametrize("stack", ["local-dev", "aws-prod"])
def test_crds_helm_will_not_upgrade_are_exactly_the_crds_folder_files_that_differ(stack, upgraded, charts_dir):
    result = upgraded(stack)
    flagged = {f.subject.split(" ", 1)[1] for f in result.findings if f.code == "CRD_NOT_UPGRADED"}
    assert all(f.breaking for f in result.findings if f.code == "CRD_NOT_UPGRADED")
    expected = set()
    for chart in (versions.KUBE_PROMETHEUS_STACK, versions.TRAEFIK):
        old_version = _previous(charts_dir)[chart.chart_ref]
        old = _crds_folder(charts_dir, f"{chart.short_name}-{old_version}.tgz")
        new = _crds_folder(charts_dir, chart.archive)
        for path, text in new.items():
            if old.get(path) != text:
                expected.add(re.search(rb"^  name: (\S+)", text, re.M).group(1).decode())
    assert flagged == expected and expected
    with _archive(charts_dir, versions.KUBE_PROMETHEUS_STACK.archive) as tar:
        readme = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("kube-prometheus-stack/README.md"))).read()
    assert b"CRDs created by this chart are not updated by default" in readme, "upstream says so"
    # traefik's changelog for 41.x: "fix(crds/middleware): add missing ErrorRequestHeaders field".
    assert "middlewares.traefik.io" in flagged


@pytest.mark.parametrize("stack", ["local-dev", "gcp-prod"])
def test_images_move_with_each_charts_app_version_and_mlflow_migrates_one_way(stack, upgraded, charts_dir):
    result = upgraded(stack)
    images = [f.detail for f in result.findings if f.code == "IMAGE_CHANGED"]
    for chart in (versions.CERT_MANAGER, versions.TRAEFIK, versions.MLFLOW):
        old = _app_version(charts_dir, f"{chart.short_name}-{_previous(charts_dir)[chart.chart_ref]}.tgz")
        new = _app_version(charts_dir, chart.archive)
        # The new image pinned by the lock's digest, the old one as that line's chart named it.
        assert any(re.search(rf":{re.escape(old)} -> \S+:{re.escape(new)}(@sha256:[0-9a-f]{{64}})?$", d) for d in images), \
            (chart.short_name, old, new, images)
    [migration] = [f for f in result.findings if f.code == "ONE_WAY_MIGRATION"]
    assert not migration.breaking and "platform backup" in migration.how
    # The revisions named are the pinned MLflow's own chain from the previous release's head.
    old_head = versions.MLFLOW_SCHEMA_HEADS[_app_version(charts_dir, f"mlflow-{_previous(charts_dir)['mlflow']}.tgz")]
    chain = _alembic_chain(old_head)
    assert len(chain) == 4 and re.findall(r"\b[0-9a-f]{12}\b(?= \()", migration.detail) == chain
    assert f"from {old_head} to {versions.MLFLOW_SCHEMA_REVISION}" in migration.detail
    cert_manager = next(r for r in result.releases if r.name == names.RELEASE_CERT_MANAGER)
    # cert-manager 1.21 dropped the tokenrequest Role (its templates no longer have it).
    assert "Role cert-manager/cert-manager-tokenrequest" in cert_manager.removed


def _migrations():
    import os

    import mlflow
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", os.path.join(os.path.dirname(mlflow.__file__), "store", "db_migrations"))
    return ScriptDirectory.from_config(config)


def _alembic_chain(start: str) -> list[str]:
    """The revisions after `start` up to the pinned MLflow's head, oldest first, from its package."""
    return [r.revision for r in reversed(list(_migrations().walk_revisions(start, "heads"))) if r.revision != start]


def test_the_mlflow_schema_revision_is_the_pinned_mlflows_head_and_the_chain_is_its_own():
    script = _migrations()
    assert script.get_heads() == [versions.MLFLOW_SCHEMA_REVISION]
    oldest = min(versions.MLFLOW_SCHEMA_HEADS.values(), key=lambda head: -len(_alembic_chain(head)))
    assert [(rev, script.get_revision(rev).doc) for rev in _alembic_chain(oldest)] == list(versions.MLFLOW_MIGRATIONS)


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written_plan(planned, stack_config, charts_dir) -> dict:
    """What `platform plan --json` writes for local-dev (the same document, built once)."""
    from mlops_platform.planner.plan import build_plan

    return json.loads(json.dumps(build_plan(stack_config("local-dev"), charts_dir).to_json(), default=str))


@pytest.fixture()
def saved_base(project, planned, stack_config, charts_dir, tmp_path, monkeypatch, written_plan):
    """A saved plan of local-dev as the previous release line would have written it."""
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(charts_dir))
    plan = written_plan

    def save(kubernetes: str | None = None) -> Path:
        path = tmp_path / "base.json"
        older = base_document(planned("local-dev"), stack_config("local-dev"), charts_dir, kubernetes)
        path.write_text(json.dumps({**plan, "resources": older["resources"], "deployment": older["deployment"]}))
        return path
    return save


def test_upgrade_lists_each_breaking_finding_with_a_code_and_exits_1(saved_base, monkeypatch, charts_dir):
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(charts_dir))
    result = invoke("upgrade", "--cloud", "local", "--from", str(saved_base("1.35")), "--json")
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["kubernetes"] == {"from": "1.35", "to": versions.KUBERNETES_MINOR}
    assert document["breaking"] == sum(f["breaking"] for f in document["findings"]) > 0
    assert all(f["code"] and f["how"] for f in document["findings"] if f["breaking"])
    assert "would break the upgrade: CRD_NOT_UPGRADED" in one_line_error(result)


def test_rehearse_dry_run_adds_the_rehearsal_plan_and_rehearse_alone_is_refused(saved_base, monkeypatch, charts_dir):
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(charts_dir))
    base = str(saved_base())
    for flags, words in ((("--rehearse",), "does not run by itself yet"), (("--dry-run",), "goes with --rehearse")):
        refused = invoke("upgrade", "--cloud", "local", "--from", base, *flags)
        assert refused.exit_code == 2 and words in one_line_error(refused) and not refused.stdout
    result = invoke("upgrade", "--cloud", "local", "--from", base, "--rehearse", "--dry-run", "--json")
    assert result.exit_code == 1, result.stderr  # the findings still decide the exit code
    rehearsal = json.loads(result.stdout)["rehearsal"]
    assert rehearsal["environment"] == "rh-dev" and rehearsal["runnable"] is False  # no `platform restore` on local
    assert [s["command"].split(" --")[0] for s in rehearsal["steps"]][1:] == [
        "platform restore", "platform up", "the checks below", "platform destroy"]


def test_the_text_report_leads_with_what_breaks_and_how(upgraded):
    from mlops_platform.cli.commands.upgrade import _text

    lines = _text(upgraded("local-dev")).splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(("BREAKS", "note")))
    assert lines[first].startswith("BREAKS CRD_NOT_UPGRADED") and lines[first + 1].startswith("    how: ")
    assert lines[-1].endswith("other findings") and lines[-1].split()[0] != "0"


def test_a_skipped_kubernetes_minor_is_refused_before_anything_renders(saved_base, monkeypatch, tmp_path):
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(tmp_path / "no-charts"))  # a render would fail on a missing archive
    result = invoke("upgrade", "--cloud", "local", "--from", str(saved_base("1.34")))
    assert result.exit_code == 2
    assert "1.34 -> 1.36 skips a minor" in one_line_error(result) and "1.35, up, then 1.36" in one_line_error(result)


def test_a_deployed_chart_not_in_the_cache_and_a_foreign_plan_are_one_line_exit_2(saved_base, monkeypatch, tmp_path, charts_dir):
    folder = tmp_path / "only-pinned"
    folder.mkdir()
    for chart in versions.CHARTS:
        (folder / chart.archive).symlink_to(charts_dir / chart.archive)
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(folder))
    result = invoke("upgrade", "--cloud", "local", "--from", str(saved_base()))
    assert result.exit_code == 2 and "is not in the chart cache" in one_line_error(result)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({**json.loads(saved_base().read_text()), "stack": "aws-dev"}))
    other = invoke("upgrade", "--cloud", "local", "--from", str(foreign))
    assert other.exit_code == 2 and "is a plan of stack aws-dev, not local-dev" in one_line_error(other)


# --- the deployed stack as the base --------------------------------------------------------------


def _as_state(document: dict) -> list[dict]:
    """The plan's resources as `pulumi stack export` holds them: secrets encrypted in place."""
    def encrypt(value):
        if value == "[secret]":
            return {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:AAAA"}
        if isinstance(value, dict):
            return {k: encrypt(v) for k, v in value.items()}
        return [encrypt(v) for v in value] if isinstance(value, list) else value
    return [{"urn": r["urn"], "type": r["type"], "inputs": encrypt(r.get("inputs") or {})} for r in document["resources"]]


def test_without_from_the_deployed_stacks_record_and_state_are_the_base(saved_base, standin_engine, charts_dir, monkeypatch):
    fake = standin_engine(state=True)
    document = json.loads(saved_base().read_text())
    assert any(r["type"] == "kubernetes:helm.sh/v3:Release" and "[secret]" in json.dumps(r["inputs"]) for r in document["resources"])
    fake.stacks({"local-dev": {"outputs": {"deployment": document["deployment"]}, "resources": _as_state(document)}})
    from_stack = invoke("upgrade", "--cloud", "local", "--json")
    from_file = invoke("upgrade", "--cloud", "local", "--json", "--from", str(saved_base()))
    assert from_stack.exit_code == from_file.exit_code == 1, from_stack.stderr
    assert json.loads(from_stack.stdout) == json.loads(from_file.stdout)
    assert any(c["args"][:2] == ["stack", "export"] for c in fake.calls())


def test_a_stack_without_a_deployment_record_asks_for_a_saved_plan(standin_engine, project):
    fake = standin_engine(state=True)
    fake.stacks({"local-dev": {"outputs": {"endpoints": {}}, "resources": []}})
    result = invoke("upgrade", "--cloud", "local")
    assert result.exit_code == 2
    assert "stack local-dev has no deployment record" in one_line_error(result) and "--from BASE.json" in result.stderr


def test_the_stack_exports_the_record_the_plan_carries_and_not_as_a_secret(stack_config):
    """The same record from the program under the engine (resolved outputs, numbers as doubles,
    secrets as secret outputs) as from the plan's recorded inputs."""
    import pulumi

    from mlops_platform.components.platform import MlopsPlatform
    from mlops_platform.planner.harness import run_program

    seen: dict = {}

    def program():
        platform = MlopsPlatform("mlops", stack_config("local-dev"))
        platform.deployment.apply(lambda record: seen.update(record=record))
        pulumi.Output.from_input(platform.deployment.is_secret()).apply(lambda secret: seen.update(secret=secret))
        return platform

    run = run_program(program, "local-dev")
    assert seen["record"] == deployment_record(run, stack_config("local-dev")) and seen["secret"] is False
    assert len(seen["record"]["releases"]) == len(run.helm_releases()) == 10


# --- Kubernetes: one minor at a time, pools after the control plane, charts' floors -------------


@pytest.mark.parametrize("command", ["up", "preview"])
def test_up_and_preview_refuse_a_skipped_minor_from_the_deployed_record_before_the_engine_previews(command, standin_engine, project):
    fake = standin_engine(state=True)
    fake.stacks({"local-dev": {"outputs": {"deployment": {"kubernetes": "1.34", "releases": {}}}, "resources": []}})
    result = invoke(command, "--cloud", "local", *(["--yes"] if command == "up" else []))
    assert result.exit_code == 2, result.stderr
    assert "1.34 -> 1.36 skips a minor" in one_line_error(result) and "nothing was previewed" in one_line_error(result)
    assert not [c for c in fake.calls() if c["args"][0] in ("preview", "up")]


def test_one_minor_up_previews(standin_engine, project):
    fake = standin_engine(state=True)
    fake.stacks({"local-dev": {"outputs": {"deployment": {"kubernetes": "1.35", "releases": {}}}, "resources": []}})
    result = invoke("preview", "--cloud", "local")
    assert result.exit_code == 0, result.stderr
    assert [c for c in fake.calls() if c["args"][0] == "preview"]


def test_a_target_below_a_charts_floor_is_refused():
    from mlops_platform.planner.upgrade import UpgradeError, check_kubernetes

    with pytest.raises(UpgradeError, match="1.31 is older than kserve-crd, kserve-resources, kserve-runtime-configs installs on"):
        check_kubernetes("1.30", "1.31")
    check_kubernetes("1.35", "1.36")


def test_the_floors_are_the_charts_own_kube_versions(charts_dir):
    for chart in versions.CHARTS:
        with _archive(charts_dir, chart.archive) as tar:
            member = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml"))
            declared = re.search(r"^kubeVersion:\s*['\"]?>=\s*(\d+\.\d+)", tar.extractfile(member).read().decode(), re.M)
        if declared:
            assert versions.CHART_KUBERNETES_FLOORS[chart.short_name] == declared.group(1), chart.short_name
        assert chart.short_name in versions.CHART_KUBERNETES_FLOORS


def test_node_pools_take_their_version_from_the_control_plane(planned):
    eks = planned("aws-prod")
    [cluster] = eks.of_type("aws:eks/cluster:Cluster")
    for pool in eks.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert pool.input("version") == cluster.input("version") and cluster.urn in pool.property_dependencies["version"]
    [aks] = planned("azure-prod").of_type("azure-native:containerservice:ManagedCluster")
    assert {p["orchestratorVersion"] for p in aks.input("agentPoolProfiles")} == {aks.input("kubernetesVersion")}
    [gke] = planned("gcp-prod").of_type("gcp:container/cluster:Cluster")
    assert gke.input("minMasterVersion") == versions.KUBERNETES_MINOR


def test_migrations_pending_from_a_mid_chain_schema_are_the_rest_and_digests_ignore_number_spelling():
    from mlops_platform.components.deployment import values_digest
    from mlops_platform.planner.upgrade import pending_migrations

    third = versions.MLFLOW_MIGRATIONS[1][0]
    assert pending_migrations(third) == list(versions.MLFLOW_MIGRATIONS[2:])
    assert pending_migrations(None) == list(versions.MLFLOW_MIGRATIONS)
    # A number read back from engine state is a double; the digest is the same.
    assert values_digest({"port": 30080, "list": [1]}) == values_digest({"port": 30080.0, "list": [1.0]})
