"""Every Helm release rendered for real (Helm's Go SDK through helm-python-sdk) from the pinned
archives in ../shared/charts, for every shipped stack:

- every release renders, and every object it applies validates against the upstream schemas;
- templates gated on a CRD's API see it because the release is installed after that CRD;
- what we author around the charts fits what they render (ServiceMonitors find their Services);
- the cache and the CLI: a plan without charts says so, `render` writes every release's objects
  with hooks marked.

Every value we pass is checked in test_chart_values.py; `charts pull` in test_chart_pull.py.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.components import names, versions
from mlops_platform.components.addons import mlflow
from mlops_platform.planner import chart_render, charts, cluster_objects
from support import CHARTS, SHIPPED_STACKS

SHIPPED = SHIPPED_STACKS


# --- every release renders and validates --------------------------------------------------------


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_release_renders(stack, planned, viewed, stack_config):
    view = viewed(stack)
    assert not view.partial and not view.missing
    # The seven add-on releases, two oauth2-proxy, and Dex unless the cloud makes the issuer.
    expected = 10 if stack_config(stack).identity.kind == "dex" else 9
    assert len(view.releases) == len(planned(stack).helm_releases()) == expected
    assert all(r.objects for r in view.releases)
    assert view.rendered_count() > 200
    kinds = {o.kind for o in view.installed()}
    assert {"Deployment", "CustomResourceDefinition", "ClusterServingRuntime", "Prometheus", "ServiceMonitor"} <= kinds


@pytest.fixture(scope="module")
def validated_renders(schemas_dir, tmp_path_factory, planned, viewed) -> dict[str, Any]:
    """Every shipped stack's rendered objects, validated by one validate.py run over the distinct
    files: most objects (every CRD among them) are byte-identical across stacks, and the schemas
    load once. Gives, per stack, its files with their content digests, and each digest's status."""
    import hashlib

    from mlops_platform.planner import render

    root = tmp_path_factory.mktemp("rendered")
    distinct = root / "distinct"
    distinct.mkdir()
    stacks: dict[str, list[tuple[Path, str]]] = {}
    for stack in SHIPPED:
        render.write(planned(stack), root / stack, viewed(stack))
        files = sorted((root / stack / "rendered").rglob("*.yaml"))
        stacks[stack] = [(f, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files]
        for f, digest in stacks[stack]:
            if not (distinct / f"{digest}.yaml").exists():
                shutil.copy(f, distinct / f"{digest}.yaml")
    result = subprocess.run(
        [sys.executable, str(schemas_dir / "validate.py"), "--fail-on-no-schema", str(distinct)],
        capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    status: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        found = re.match(r"(OK|INVALID|NO-SCHEMA)\s+\S*?([0-9a-f]{64})\.yaml#\d+\s+(.*)", line)
        if found:
            status.setdefault(found.group(2), []).append(f"{found.group(1)} {found.group(3)}")
    summary = re.search(r"# (\d+) documents: (\d+) OK, (\d+) INVALID, (\d+) NO-SCHEMA", output)
    assert summary, output[-2000:]
    return {"stacks": stacks, "status": status, "documents": int(summary.group(1)), "output": output,
            "distinct": len(list(distinct.glob("*.yaml")))}


@pytest.mark.parametrize("stack", SHIPPED)
def test_rendered_objects_validate_against_upstream_schemas(stack, validated_renders, viewed):
    files = validated_renders["stacks"][stack]
    assert len(files) == viewed(stack).rendered_count()
    status = validated_renders["status"]
    # One document per file, each reported: a file validate.py did not report is a failure too.
    assert validated_renders["documents"] == validated_renders["distinct"] == len(status), validated_renders["output"][-3000:]
    bad = {f"{path.parent.name}/{path.name}": status.get(digest, ["not reported"])
           for path, digest in files if status.get(digest, ["?"])[0].split()[0] != "OK" or len(status[digest]) != 1}
    assert not bad, bad


def test_charts_are_required_in_ci(charts_dir):
    """CI sets PLATFORM_REQUIRE_CHARTS=1, so a missing chart fails there instead of skipping."""
    import os

    if os.environ.get("PLATFORM_REQUIRE_CHARTS") == "1":
        assert all((CHARTS / c.archive).is_file() for c in versions.CHARTS), CHARTS
    assert charts_dir == CHARTS


# --- templates gated on an API see it ----------------------------------------------------------


@pytest.mark.parametrize("stack", ["local-dev", "aws-prod"])
def test_templates_gated_on_a_crd_see_it_because_the_release_is_installed_after_it(stack, stack_config, viewed, charts_dir, releases):
    """Rendered with every API the platform installs or with only those its dependencies install
    first, each release renders the same: no template waits for an API that comes later."""
    view = viewed(stack)
    everything = sorted({v for r in view.releases for o in r.objects if o.kind == "CustomResourceDefinition"
                         for v in chart_render.served_versions(o.manifest)})
    kube = chart_render.kube_version(stack_config(stack).cluster.kubernetes_version)
    for record, render in releases(stack):
        archive = charts.archive_path(render.chart, charts_dir)
        values = json.dumps(record.input("values") or {}, sort_keys=True)
        ordered = chart_render.render_templates(archive, values, render.release, render.namespace, kube,
                                                [*cluster_objects.BUILTIN_API_VERSIONS, *render.api_versions])
        assert ordered == chart_render.render_templates(archive, values, render.release, render.namespace, kube,
                                                        [*cluster_objects.BUILTIN_API_VERSIONS, *everything]), render.release


def test_mlflow_is_scraped_without_waiting_for_monitoring(local_run, local_view):
    """MLflow installs in parallel with kube-prometheus-stack, so its chart cannot gate a
    ServiceMonitor on the CRD: the server writes metrics to a writable directory and the
    Monitoring component's ServiceMonitor scrapes them."""
    mlflow_render = next(r for r in local_view.releases if r.release == names.RELEASE_MLFLOW)
    assert not [o for o in mlflow_render.objects if o.kind == "ServiceMonitor"]
    record = next(r for r in local_run.helm_releases() if r.urn == mlflow_render.urn)
    monitoring = next(r for r in local_run.helm_releases() if r.input("name") == names.RELEASE_MONITORING)
    assert monitoring.urn not in local_run.waits_for(record)
    deployment = next(o for o in mlflow_render.objects if o.kind == "Deployment" and o.name == "mlflow")
    pod = deployment.manifest["spec"]["template"]["spec"]
    server = next(c for c in pod["containers"] if c["name"] == "mlflow")
    (flag,) = [a for a in server["args"] if a.startswith("--expose-prometheus=")]
    directory = flag.split("=", 1)[1]
    assert server["securityContext"]["readOnlyRootFilesystem"] is True
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert any(directory.startswith(m["mountPath"].rstrip("/") + "/") and m["name"] in empty_dirs
               for m in server["volumeMounts"]), f"{directory} is not on a writable volume"
    monitor = next(r for r in local_run.resources if r.type.endswith(":ServiceMonitor") and r.input("metadata", "name") == "mlflow")
    assert "mlops:addons:Mlflow" in monitor.urn and monitor.input("metadata", "namespace") == names.NS_MLFLOW
    assert monitoring.urn in local_run.waits_for(monitor), "only the ServiceMonitor waits for the CRD"


def test_the_binding_passes_kube_version_and_api_versions(tmp_path):
    """The render options the offline render relies on, checked on a chart of our own."""
    import helm_python as helm

    helm.Chart.create("probe", tmp_path)
    chart_dir = tmp_path / "probe"
    for template in (chart_dir / "templates").iterdir():
        if template.is_file():
            template.unlink()
    shutil.rmtree(chart_dir / "templates" / "tests", ignore_errors=True)
    (chart_dir / "templates" / "probe.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n"
        "  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
        "  monitoring: {{ .Capabilities.APIVersions.Has \"monitoring.coreos.com/v1\" | quote }}\n"
    )
    archive = Path(helm.package(chart_dir, destination=tmp_path))
    (data,) = [o.manifest["data"] for o in chart_render.render(archive, {}, "p", "p", "v1.36.0", ["monitoring.coreos.com/v1"])]
    assert data == {"kube": "v1.36.0", "monitoring": "true"}
    (data,) = [o.manifest["data"] for o in chart_render.render(archive, {}, "p", "p", "v1.35.0", [])]
    assert data == {"kube": "v1.35.0", "monitoring": "false"}


# --- what we author around the charts fits what they render ------------------------------------


# Services no release applies: the API server's own, and the one prometheus-operator keeps for the
# kubelets (its --kubelet-service flag). Ref: prometheus-operator pkg/kubelet/controller.go
CLUSTER_SERVICES = [
    {"kind": "Service", "metadata": {"name": "kubernetes", "namespace": "default",
                                     "labels": {"component": "apiserver", "provider": "kubernetes"}},
     "spec": {"ports": [{"name": "https", "port": 443}]}},
    {"kind": "Service", "metadata": {"name": "kube-prometheus-stack-kubelet", "namespace": "kube-system",
                                     "labels": {"app.kubernetes.io/name": "kubelet", "k8s-app": "kubelet"}},
     "spec": {"ports": [{"name": "https-metrics", "port": 10250}, {"name": "http-metrics", "port": 10255},
                        {"name": "cadvisor", "port": 4194}]}},
]


@pytest.mark.parametrize("stack", ["local-dev", "gcp-prod+model"])
def test_every_service_monitor_selects_a_service_with_that_port(stack, viewed):
    view = viewed(stack)
    kubelet = next(o for o in view.installed() if o.name == "kube-prometheus-stack-operator" and o.kind == "Deployment")
    assert "--kubelet-service=kube-system/kube-prometheus-stack-kubelet" in kubelet.manifest["spec"]["template"]["spec"]["containers"][0]["args"]
    services = [o for o in view.installed() if o.kind == "Service"] + [
        cluster_objects.ClusterObject(s, "cluster", "", "") for s in CLUSTER_SERVICES]
    monitors = [o for o in view.installed() if o.kind == "ServiceMonitor"]
    assert {"cert-manager", "mlflow", "iris-drift", "iris-outlier"} <= {m.name for m in monitors}
    for monitor in monitors:
        spec = monitor.manifest["spec"]
        wanted = spec["selector"].get("matchLabels") or {}
        namespaces = (spec.get("namespaceSelector") or {}).get("matchNames") or [monitor.namespace]
        ports = {e.get("port") or e.get("targetPort") for e in spec["endpoints"]}
        matches = [s for s in services if s.namespace in namespaces
                   and wanted.items() <= (s.manifest["metadata"].get("labels") or {}).items()]
        assert matches, f"ServiceMonitor {monitor.namespace}/{monitor.name} selects no Service"
        named = {n for s in matches for p in s.manifest["spec"].get("ports") or [] for n in (p.get("name"), p.get("targetPort"))}
        assert ports <= named, f"ServiceMonitor {monitor.namespace}/{monitor.name}: ports {ports - named} not on the Service"


def test_mlflow_runs_the_pinned_image_and_its_schema_upgrade_job_first(local_run, local_view):
    deployment = next(o for o in local_view.installed() if o.release == names.RELEASE_MLFLOW and o.kind == "Deployment")
    pod = deployment.manifest["spec"]["template"]["spec"]
    assert {c["image"] for c in pod["containers"]} == {versions.MLFLOW_IMAGE.ref}
    # The chart names its account after the release: the one the cloud identity is bound to.
    assert pod["serviceAccountName"] == names.MLFLOW.service_account
    # The trust bundle with the platform CA (the local issuer is served with it): no dbchecker, no
    # migration, no basic-auth ini file (sign-in is oidcAuth's).
    assert [c["name"] for c in pod.get("initContainers", [])] == ["ca-bundle"]
    job = next(r for r in local_run.kubernetes_objects() if r.input("metadata", "name") == mlflow.UPGRADE_JOB)
    (container,) = [c for c in job.input("spec", "template", "spec", "initContainers") if c["name"] == "upgrade"]
    assert container["image"] == versions.MLFLOW_IMAGE.ref and container["command"][:3] == ["mlflow", "db", "upgrade"]
    assert {"secretRef": {"name": mlflow.PG_ENV_SECRET}} in container["envFrom"]  # the database's TLS mode
    release = next(r for r in local_run.helm_releases() if r.input("name") == names.RELEASE_MLFLOW)
    assert job.urn in local_run.waits_for(release)


def test_every_container_declares_resources_and_the_namespace_defaults_stand_behind(local_run, local_view):
    from mlops_platform.components.requests import limit_range_defaults, with_limit_range

    bare = [(o.release, o.name, c["name"]) for o in local_view.installed() if o.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job")
            for key in ("initContainers", "containers") for c in (o.manifest["spec"]["template"]["spec"].get(key) or [])
            if not c.get("resources")]
    assert bare == []
    # A chart container with no resources setting would be admitted with the namespace's defaults.
    defaults = limit_range_defaults(o.manifest for o in local_view.installed())[names.NS_MLFLOW]
    admitted = with_limit_range({}, defaults)
    assert admitted == {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
    limit_range = next(r for r in local_run.kubernetes_objects()
                       if r.input("kind") == "LimitRange" and r.input("metadata", "namespace") == names.NS_MLFLOW)
    release = next(r for r in local_run.helm_releases() if r.input("name") == names.RELEASE_MLFLOW)
    assert limit_range.urn in local_run.waits_for(release), "the defaults exist before the pods"


def test_kserve_injected_containers_come_from_the_rendered_configuration(local_view):
    predictor = next(o for o in local_view.runtime if o.name == "iris-predictor")
    pod = predictor.manifest["spec"]["template"]["spec"]
    agent = next(c for c in pod["containers"] if c["name"] == "agent")
    config_map = next(o for o in local_view.installed() if o.name == "inferenceservice-config")
    configured = json.loads(config_map.manifest["data"]["agent"])
    assert agent["resources"]["requests"] == {"cpu": configured["cpuRequest"], "memory": configured["memoryRequest"]}
    storage = next(o for o in local_view.installed() if o.kind == "ClusterStorageContainer")
    assert pod["initContainers"][0]["resources"] == storage.manifest["spec"]["container"]["resources"]


# --- the render cache ----------------------------------------------------------------------------


def test_renders_are_cached_on_disk_by_their_inputs(tmp_path, monkeypatch, charts_dir):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    archive = charts.archive_path(versions.TRAEFIK, charts_dir)
    values = {"deployment": {"replicas": 1}}
    first = chart_render.render(archive, values, "m", "m", "v1.36.0")
    assert len(list((tmp_path / "mlops-platform" / "renders").glob("*.json"))) == 1
    chart_render._render_cached.cache_clear()

    def no_render(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(chart_render, "_render_native", no_render)
    assert [o.manifest for o in chart_render.render(archive, values, "m", "m", "v1.36.0")] == [o.manifest for o in first]
    # Each input that shapes a render is part of the key: change any one, and it renders again.
    copy_of_archive = tmp_path / "copy" / archive.name
    copy_of_archive.parent.mkdir()
    copy_of_archive.write_bytes(archive.read_bytes() + b"\0")  # another archive digest (gzip ignores the byte)
    changed = {
        "values": lambda: chart_render.render(archive, {"deployment": {"replicas": 2}}, "m", "m", "v1.36.0"),
        "release": lambda: chart_render.render(archive, values, "other", "m", "v1.36.0"),
        "namespace": lambda: chart_render.render(archive, values, "m", "other", "v1.36.0"),
        "kubernetes": lambda: chart_render.render(archive, values, "m", "m", "v1.35.0"),
        "api versions": lambda: chart_render.render(archive, values, "m", "m", "v1.36.0", ["example.com/v1"]),
        "archive": lambda: chart_render.render(copy_of_archive, values, "m", "m", "v1.36.0"),
    }
    for what, again in changed.items():
        with pytest.raises(AssertionError, match="rendered again"):
            again()
            pytest.fail(f"a change of {what} reused the cached render")
    chart_render._render_cached.cache_clear()
    monkeypatch.setattr(chart_render, "_platform_version", lambda: "99.0.0")
    with pytest.raises(AssertionError, match="rendered again"):
        chart_render.render(archive, values, "m", "m", "v1.36.0")


def test_no_test_reads_or_writes_the_users_own_cache():
    """conftest gives every test session private XDG folders and HOME (tests never touch the
    user's real cache): the cache the code would use lies inside them."""
    import os

    from mlops_platform.planner import files

    real_home = Path(os.path.expanduser("~"))
    assert os.environ["XDG_CACHE_HOME"] in str(files.cache_dir()) and "pytest" in str(files.cache_dir())
    assert "pytest" in str(real_home) and "pytest" in str(files.state_dir())


# --- the CLI: a plan without charts, render ------------------------------------------------------


def test_plan_without_the_charts_says_so_and_marks_the_plan_partial(project, tmp_path, monkeypatch):
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(tmp_path / "empty"))
    result = CliRunner().invoke(app, ["plan", "--cloud", "local", "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    cluster = document["summary"]["cluster"]
    assert cluster["partial"] is True and len(cluster["missing"]) == 10 and cluster["objects"]["releases"] == 0
    assert document["summary"]["requests"]["complete"] is False
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: not rendered")]
    assert len(warnings) == 1 and "platform charts pull" in warnings[0]


def test_plan_json_reports_rendered_totals_and_covers_the_chart_pods(project, monkeypatch, charts_dir):
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(charts_dir))
    result = CliRunner().invoke(app, ["plan", "--cloud", "local", "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["cluster"]["partial"] is False and summary["cluster"]["objects"]["releases"] > 200
    assert summary["requests"]["complete"] is True
    workloads = {w["name"] for w in summary["requests"]["workloads"]}
    assert {"cert-manager/cert-manager-webhook", "monitoring/prometheus-kube-prometheus-stack-prometheus"} <= workloads


def test_render_writes_what_every_release_applies_with_hooks_marked(project, tmp_path, monkeypatch, viewed, charts_dir):
    monkeypatch.setenv("PLATFORM_CHARTS_DIR", str(charts_dir))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["render", "--cloud", "local", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    view = viewed("local-dev")
    for release in view.releases:
        files = list((out / "rendered" / release.release).glob("*.yaml"))
        assert len(files) == len(release.objects), release.release
    hook = (out / "rendered" / "cert-manager" / "job-cert-manager-startupapicheck.yaml").read_text()
    assert "# Helm hook: post-install" in hook and "Placeholders: [secret] stands" in hook
    assert f"{view.rendered_count()} rendered objects" in result.stdout
