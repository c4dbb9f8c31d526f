"""Each upgrade check against a violating and a compliant pair of objects (planner/upgrade_checks.py)."""

from __future__ import annotations

import copy

import pytest

from mlops_platform.planner import kube_apis
from mlops_platform.planner.upgrade import UpgradeError, check_kubernetes
from mlops_platform.planner.upgrade_checks import (
    api_findings,
    changed_defaults,
    crd_changes,
    dead_values,
    image_changes,
    immutable_changes,
)

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "ns"},
              "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                       "template": {"metadata": {"labels": {"app": "web"}},
                                    "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}}
STATEFULSET = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "ns"},
               "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
                        "template": {"spec": {"containers": [{"name": "db", "image": "db:1"}]}},
                        "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                                  "spec": {"resources": {"requests": {"storage": "1Gi"}}}}]}}


def _with(obj, path, value):
    out = copy.deepcopy(obj)
    here = out
    for key in path[:-1]:
        here = here[key]
    here[path[-1]] = value
    return out


@pytest.mark.parametrize("obj, path, value", [
    (DEPLOYMENT, ("spec", "selector"), {"matchLabels": {"app": "web", "tier": "front"}}),
    (STATEFULSET, ("spec", "serviceName"), "db-headless"),
    (STATEFULSET, ("spec", "volumeClaimTemplates"), [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "5Gi"}}}}]),
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"clusterIP": "10.0.0.1"}},
     ("spec", "clusterIP"), "10.0.0.2"),
    ({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"}, "spec": {"storageClassName": "gp3"}},
     ("spec", "storageClassName"), "standard"),
    ({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": []}}}},
     ("spec", "template", "spec", "containers"), [{"name": "x", "image": "x:1"}]),
])
def test_an_immutable_field_that_changes_breaks_the_upgrade(obj, path, value):
    [finding] = immutable_changes("r", obj, _with(obj, path, value))
    assert finding.code == "IMMUTABLE_FIELD" and finding.breaking and path[1] in finding.detail


@pytest.mark.parametrize("obj, path, value", [
    (DEPLOYMENT, ("spec", "replicas"), 3),
    (DEPLOYMENT, ("spec", "template", "spec", "containers"), [{"name": "web", "image": "web:2"}]),
    (STATEFULSET, ("spec", "template", "spec", "containers"), [{"name": "db", "image": "db:2"}]),
    (STATEFULSET, ("metadata", "labels"), {"chart": "db-2"}),
])
def test_a_mutable_change_is_no_finding(obj, path, value):
    assert immutable_changes("r", obj, _with(obj, path, value)) == []


def _crd(versions, properties=("spec",)):
    def schema():
        return {"openAPIV3Schema": {"type": "object", "properties": {p: {"type": "object"} for p in properties}}}

    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "things.x.io"},
            "spec": {"group": "x.io", "names": {"kind": "Thing"},
                     "versions": [{"name": v, "served": served, "storage": storage, "schema": schema()}
                                  for v, served, storage in versions]}}


def test_crd_checks_find_removed_versions_storage_moves_dropped_fields_and_removal():
    old = _crd([("v1alpha1", True, False), ("v1", True, True)], ("spec", "status"))
    codes = lambda new: {f.code: f.breaking for f in crd_changes("r", old, new)}  # noqa: E731
    assert codes(_crd([("v1", True, True)], ("spec", "status"))) == {"CRD_VERSION_REMOVED": True}
    assert codes(_crd([("v1alpha1", True, False), ("v1", True, False), ("v2", True, True)], ("spec", "status"))) == {
        "CRD_STORAGE_CHANGED": False}
    assert codes(_crd([("v1alpha1", True, False), ("v1", True, True)], ("spec",))) == {"CRD_FIELD_REMOVED": False}
    nested = _crd([("v1alpha1", True, False), ("v1", True, True)], ("spec", "status"))
    nested["spec"]["versions"][1]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"] = {"a": {"type": "string"}}
    [dropped] = crd_changes("r", nested, _crd([("v1alpha1", True, False), ("v1", True, True)], ("spec", "status")))
    assert dropped.code == "CRD_FIELD_REMOVED" and "spec.a" in dropped.detail, "a field below the top level too"
    assert codes(None) == {"CRD_REMOVED": True}
    # Compliant: a version added, a field added.
    assert codes(_crd([("v1alpha1", True, False), ("v1", True, True), ("v2", True, False)], ("spec", "status", "x"))) == {}


def test_api_checks_new_objects_served_on_the_target_and_old_ones_not_removed_by_the_jump():
    pdb_beta = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"}}
    pdb = {**pdb_beta, "apiVersion": "policy/v1"}
    served = ["policy/v1/PodDisruptionBudget", "x.io/v1/Thing"]
    [gone] = api_findings("r", [], [pdb_beta], "1.24", "1.25", [*served, "policy/v1beta1/PodDisruptionBudget"])
    assert gone.code == "API_NOT_SERVED" and "removed in 1.25" in gone.detail, "the removal table, whatever is listed"
    assert api_findings("r", [], [pdb_beta], "1.24", "1.24", [*served, "policy/v1beta1/PodDisruptionBudget"]) == []
    assert [f.code for f in api_findings("r", [], [{"apiVersion": "x.io/v2", "kind": "Thing"}], "1.36", "1.36", served)] == [
        "API_NOT_SERVED"]
    assert [f.code for f in api_findings("r", [pdb_beta], [pdb], "1.24", "1.25", served)] == ["API_REMOVED_BY_UPGRADE"]
    assert api_findings("r", [pdb], [pdb], "1.24", "1.25", served) == []
    assert api_findings("r", [pdb_beta], [pdb], "1.25", "1.25", served) == [], "no cluster upgrade: nothing removed"
    flow = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "FlowSchema"}
    assert kube_apis.removed_between(flow["apiVersion"], flow["kind"], "1.31", "1.32") == "1.32"
    assert kube_apis.removed_between(flow["apiVersion"], flow["kind"], "1.32", "1.33") is None


def test_image_changes_by_container():
    moved = image_changes("r", DEPLOYMENT, _with(DEPLOYMENT, ("spec", "template", "spec", "containers"),
                                                 [{"name": "web", "image": "web:2"}]))
    assert [(f.code, f.detail) for f in moved] == [("IMAGE_CHANGED", "web:1 -> web:2")]
    assert image_changes("r", DEPLOYMENT, copy.deepcopy(DEPLOYMENT)) == []


def test_values_the_new_chart_dropped_and_defaults_changed_under_us():
    old_defaults = {"image": {"tag": ""}, "legacy": {"enabled": False}, "podSecurityContext": {"runAsUser": 1000},
                    "resources": {}, "extra": {}}
    new_defaults = {"image": {"tag": ""}, "podSecurityContext": {"runAsUser": 65532}, "resources": {}, "extra": {}}
    ours = {"image": {"tag": "1"}, "legacy": {"enabled": True}, "extra": {"free": "form"}}
    assert [f.subject for f in dead_values("r", ours, old_defaults, new_defaults)] == ["legacy.enabled"]
    changed = changed_defaults("r", ours, old_defaults, new_defaults)
    assert [(f.subject, f.detail) for f in changed] == [("podSecurityContext.runAsUser", "1000 -> 65532")]
    ours_set = {**ours, "podSecurityContext": {"runAsUser": 1001}}
    assert changed_defaults("r", ours_set, old_defaults, new_defaults) == [], "we set it: the default does not matter"


@pytest.mark.parametrize("start, end, ok", [("1.35", "1.36", True), ("1.36", "1.36", True), ("1.34", "1.36", False),
                                            ("1.36", "1.35", False)])
def test_kubernetes_moves_one_minor_at_a_time(start, end, ok):
    if ok:
        check_kubernetes(start, end)
        return
    with pytest.raises(UpgradeError) as err:
        check_kubernetes(start, end)
    assert ("1.35, up, then 1.36" in str(err.value)) if start == "1.34" else "downgrade" in str(err.value)
