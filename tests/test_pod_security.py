"""Pod Security admission, offline: each requirement of the levels, and the charts as rendered.

The namespace's enforced level decides: a pod it would refuse cannot run, so the rule is
mandatory in every environment (dev included).
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest
from pulumi_policy import StackValidationArgs

from mlops_platform.components import names
from mlops_platform.planner import chart_render, charts
from mlops_platform.policies.registry import BY_NAME, pack_config
from mlops_platform.policies.rules import pod_security
from support.policy_resources import POD, resource

RULE = BY_NAME["k8s-pod-security-admission"]


def namespace(level: str) -> Any:
    return resource("kubernetes:core/v1:Namespace",
                    {"metadata": {"name": "team", "labels": {"pod-security.kubernetes.io/enforce": level}}}, name="ns")


def deployment(pod: dict, annotations: dict | None = None) -> Any:
    meta = {"name": "d", "namespace": "team", **({"annotations": annotations} if annotations else {})}
    return resource("kubernetes:apps/v1:Deployment", {"kind": "Deployment", "metadata": meta, "spec": {"template": {"spec": pod}}})


def refusals(level: str, pod: dict, annotations: dict | None = None) -> list[str]:
    args = StackValidationArgs(resources=[namespace(level), deployment(pod, annotations)], config={})
    return [message for message, _ in RULE.violations(args, {})]


def restricted_pod() -> dict:
    pod = copy.deepcopy(POD)
    pod["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    pod["volumes"] = [{"name": "tmp", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}]
    return pod


# Each case breaks one requirement, and the pod is refused for exactly the reasons listed: removing
# or loosening any one check of the rule leaves a case with a reason missing.
RESTRICTED_BREAKS: dict[str, tuple[Callable[[dict, dict], Any], list[str]]] = {
    "no seccomp profile": (lambda p, c: (p["securityContext"].pop("seccompProfile"), c["securityContext"].pop("seccompProfile")),
                           ["container app must set seccompProfile.type RuntimeDefault or Localhost (container or pod)"]),
    "seccomp Unconfined": (lambda p, c: c["securityContext"].update(seccompProfile={"type": "Unconfined"}),
                           ["container app has an Unconfined seccompProfile",
                            "container app must set seccompProfile.type RuntimeDefault or Localhost (container or pod)"]),
    "pod seccomp Unconfined": (lambda p, c: (p["securityContext"].update(seccompProfile={"type": "Unconfined"}),
                                             c["securityContext"].update(seccompProfile={"type": "RuntimeDefault"})),
                               ["the pod's seccompProfile may not be Unconfined"]),
    "may run as root": (lambda p, c: (p["securityContext"].pop("runAsNonRoot"), c["securityContext"].pop("runAsNonRoot")),
                        ["container app must set runAsNonRoot: true (container or pod)"]),
    "runs as user 0": (lambda p, c: c["securityContext"].update(runAsUser=0), ["container app runs as user 0"]),
    "pod runs as user 0": (lambda p, c: p["securityContext"].update(runAsUser=0), ["the pod runs as user 0"]),
    "privilege escalation": (lambda p, c: c["securityContext"].pop("allowPrivilegeEscalation"),
                             ["container app must set allowPrivilegeEscalation: false"]),
    "keeps capabilities": (lambda p, c: c["securityContext"].update(capabilities={"drop": ["NET_RAW"]}),
                           ["container app must drop ALL capabilities"]),
    "adds a baseline capability": (lambda p, c: c["securityContext"]["capabilities"].update(add=["CHOWN"]),
                                   ["container app may add only NET_BIND_SERVICE, not CHOWN"]),
    "adds a forbidden capability": (lambda p, c: c["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
                                    ["container app adds capabilities SYS_ADMIN", "container app may add only NET_BIND_SERVICE, not SYS_ADMIN"]),
    "nfs volume": (lambda p, c: p["volumes"].append({"name": "n", "nfs": {"server": "s", "path": "/"}}),
                   ["volume n is of type nfs, not allowed"]),
    "hostPath volume": (lambda p, c: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
                        ["hostPath volume h is not allowed", "volume h is of type hostPath, not allowed"]),
    "host network": (lambda p, c: p.update(hostNetwork=True), ["hostNetwork is not allowed"]),
    "host PID": (lambda p, c: p.update(hostPID=True), ["hostPID is not allowed"]),
    "host IPC": (lambda p, c: p.update(hostIPC=True), ["hostIPC is not allowed"]),
    "host process": (lambda p, c: p["securityContext"].update(windowsOptions={"hostProcess": True}), ["hostProcess is not allowed"]),
    "container host process": (lambda p, c: c["securityContext"].update(windowsOptions={"hostProcess": True}),
                               ["container app sets hostProcess"]),
    "host port": (lambda p, c: c.update(ports=[{"containerPort": 80, "hostPort": 80}]), ["container app uses hostPort 80"]),
    "privileged": (lambda p, c: c["securityContext"].update(privileged=True), ["container app is privileged"]),
    "unsafe sysctl": (lambda p, c: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
                      ["sysctl kernel.msgmax is not allowed"]),
    "pod AppArmor Unconfined": (lambda p, c: p["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
                                ["the pod's appArmorProfile may not be Unconfined"]),
    "container AppArmor Unconfined": (lambda p, c: c["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
                                      ["container app has an Unconfined appArmorProfile"]),
    "pod SELinux type": (lambda p, c: p["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
                         ["the pod's seLinuxOptions set a forbidden type, user or role"]),
    "container SELinux user": (lambda p, c: c["securityContext"].update(seLinuxOptions={"user": "root"}),
                               ["container app sets a forbidden SELinux type, user or role"]),
    "procMount": (lambda p, c: c["securityContext"].update(procMount="Unmasked"), ["container app sets procMount Unmasked"]),
    "init container": (lambda p, c: p.update(initContainers=[{"name": "init", "securityContext": {
        "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}, "capabilities": {"drop": ["ALL"]}}}]),
                       ["container init must set allowPrivilegeEscalation: false"]),
}


def change(edit: Callable[[dict, dict], Any]) -> dict:
    pod = restricted_pod()
    edit(pod, pod["containers"][0])
    return pod


def reasons(level: str, pod: dict, annotations: dict | None = None) -> list[str]:
    return [message.split(f"enforces Pod Security level {level}; ", 1)[1] for message in refusals(level, pod, annotations)]


def test_a_restricted_pod_is_admitted_at_every_level():
    for level in ("restricted", "baseline", "privileged"):
        assert refusals(level, restricted_pod()) == []


@pytest.mark.parametrize("case", sorted(RESTRICTED_BREAKS))
def test_each_restricted_requirement_is_checked(case):
    edit, expected = RESTRICTED_BREAKS[case]
    assert reasons("restricted", change(edit)) == expected


@pytest.mark.parametrize("capability", sorted(pod_security.BASELINE_CAPABILITIES))
def test_the_baseline_capability_list(capability):
    """Baseline admits adding any capability of the runtime's default set and nothing else; restricted
    only NET_BIND_SERVICE. Ref: https://kubernetes.io/docs/concepts/security/pod-security-standards/"""
    pod = change(lambda p, c: c["securityContext"]["capabilities"].update(add=[capability]))
    assert reasons("baseline", pod) == []
    expected = [] if capability == "NET_BIND_SERVICE" else [f"container app may add only NET_BIND_SERVICE, not {capability}"]
    assert reasons("restricted", pod) == expected
    assert pod_security.BASELINE_CAPABILITIES == {
        "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
        "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}, "the standard's list, kept here apart from the code"


def test_an_apparmor_annotation_other_than_runtime_default_or_localhost_is_refused():
    def annotated(value: str) -> list[str]:
        workload = deployment(restricted_pod())
        workload.props["spec"]["template"]["metadata"] = {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": value}}
        args = StackValidationArgs(resources=[namespace("baseline"), workload], config={})
        return [m.split("; ", 1)[1] for m, _ in RULE.violations(args, {})]

    assert annotated("unconfined") == ["AppArmor annotation container.apparmor.security.beta.kubernetes.io/app: unconfined is not allowed"]
    assert annotated("runtime/default") == [] and annotated("localhost/my-profile") == []


def test_baseline_admits_what_only_restricted_forbids_but_not_privilege():
    unhardened = {"containers": [{"name": "app", "image": "a:1"}], "volumes": [{"name": "n", "nfs": {"server": "s", "path": "/"}}]}
    assert refusals("baseline", unhardened) == []
    assert refusals("restricted", unhardened)
    for case in ("privileged", "host network", "host port", "hostPath volume", "adds a forbidden capability", "seccomp Unconfined"):
        assert refusals("baseline", change(RESTRICTED_BREAKS[case][0])), case
    assert refusals("privileged", change(RESTRICTED_BREAKS["privileged"][0])) == []


def test_helm_test_hooks_are_not_created_by_an_install():
    pod = change(RESTRICTED_BREAKS["privileged"][0])
    assert refusals("restricted", pod, {"helm.sh/hook": "test"}) == []
    assert refusals("restricted", pod, {"helm.sh/hook": "pre-install"}), "install hooks are admitted like any pod"


def test_always_mandatory(stack_config):
    for stack in ("local-dev", "aws-prod"):
        assert pack_config(stack_config(stack))[RULE.name] == "mandatory"


def test_a_modelled_pod_stands_in_for_the_custom_resource_it_comes_from():
    """The predictor Deployment KServe would create replaces the InferenceService's own pod spec."""
    isvc = resource("kubernetes:serving.kserve.io/v1beta1:InferenceService", {
        "kind": "InferenceService", "metadata": {"name": "m", "namespace": "team"},
        "spec": {"predictor": {"model": {"name": "kserve-container"}}},  # unhardened on its own
    }, name="isvc")
    modelled = deployment(restricted_pod(), {"mlops.dev/modelled-from": "InferenceService team/m by kserve-controller"})
    args = StackValidationArgs(resources=[namespace("restricted"), isvc, modelled], config={})
    assert RULE.violations(args, {}) == []
    args = StackValidationArgs(resources=[namespace("restricted"), isvc], config={})
    assert RULE.violations(args, {})


# --- the charts as rendered -------------------------------------------------------------------------


def test_mlflow_without_the_fix_is_refused_by_the_restricted_namespace(local_run, local_view, charts_dir):
    """The finding that broke the first `up`: rendered with our values minus the security contexts
    we added, the chart's pod and all its containers lack a seccomp profile and are refused."""
    release = next(r for r in local_run.helm_releases() if r.input("name") == names.RELEASE_MLFLOW)
    values = {k: v for k, v in release.input("values").items() if k not in ("podSecurityContext", "securityContext")}
    chart = charts.by_reference(release.input("chart"))
    rendered = chart_render.render(charts.archive_path(chart, charts_dir), values, "mlflow", "mlflow", "v1.36.0",
                                   next(r.api_versions for r in local_view.releases if r.release == "mlflow"))
    pod = next(o for o in rendered if o.kind == "Deployment").manifest["spec"]["template"]["spec"]
    found = pod_security.refusals("restricted", pod)
    containers = [c["name"] for c in [*pod.get("initContainers", []), *pod["containers"]]]
    assert containers == ["ca-bundle", "mlflow"]  # the platform CA joins the trust bundle (local)
    # ca-bundle is the platform's own init container, given its security context where it is defined.
    assert len(found) == 1 and "container mlflow" in found[0] and "seccompProfile" in found[0]
    fixed = next(o for o in local_view.installed() if o.release == "mlflow" and o.kind == "Deployment")
    assert pod_security.refusals("restricted", fixed.manifest["spec"]["template"]["spec"]) == []


@pytest.mark.parametrize("stack", ["local-dev", "aws-prod", "azure-dev", "gcp-prod"])
def test_no_pod_an_install_creates_is_refused(stack, viewed):
    view = viewed(stack)
    levels = {o.name: (o.manifest["metadata"].get("labels") or {}).get(pod_security.LEVEL_LABEL, "privileged")
              for o in view.installed() if o.kind == "Namespace"}
    checked = 0
    for obj in [*view.installed(), *view.runtime]:
        if obj.kind not in ("Deployment", "StatefulSet", "DaemonSet", "Job") or obj.is_test_hook:
            continue
        level = levels.get(obj.namespace, "privileged")
        pod = obj.manifest["spec"]["template"]["spec"]
        assert pod_security.refusals(level, pod) == [], f"{obj.kind} {obj.namespace}/{obj.name}"
        checked += level == "restricted"
    assert checked >= 15, "every platform workload runs in a restricted namespace"


def test_the_view_counts_what_each_release_applies(local_view):
    counts = {r.release: len(r.objects) for r in local_view.releases}
    assert set(counts) == {"cert-manager", "traefik", "kserve-crd", "kube-prometheus-stack", "kserve", "kserve-runtimes", "mlflow",
                           "dex", "oauth2-proxy", "oauth2-proxy-tokens"}
    assert all(n > 0 for n in counts.values())
    assert not local_view.partial
