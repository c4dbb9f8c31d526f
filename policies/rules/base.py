"""What a rule is, and helpers the rules share.

A rule is a plain function over the arguments the Pulumi engine hands a policy
(`pulumi_policy.ResourceValidationArgs` for a resource rule, `StackValidationArgs` for a stack
rule) that yields violation messages. The same functions run inside the policy pack during
preview and up, and offline inside `platform plan` (policies/offline.py builds the same argument
objects from the mock run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

from mlops_platform.components import cidrs, kserve_fields
from mlops_platform.components.nested import dig as dig  # the rules read nested values through base

Violation = tuple[str, Optional[str]]  # (message, urn of the offending resource, if not the one checked)


@dataclass(frozen=True)
class Rule:
    name: str  # kebab-case, unique
    area: str  # kubernetes, aws, azure, gcp, reliability, cost, licence
    description: str
    remediation: str
    check: Callable[[Any, Mapping[str, Any]], Iterable[Any]]
    resource_types: tuple[str, ...] = ()  # empty: a stack rule (sees every resource)
    config_schema: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    engine_note: str = ""  # what the engine cannot show this rule, if anything

    @property
    def is_stack_rule(self) -> bool:
        return not self.resource_types

    def applies_to(self, resource_type: str) -> bool:
        return any(resource_type == t or (t.endswith("*") and resource_type.startswith(t[:-1])) for t in self.resource_types)

    def violations(self, args: Any, config: Mapping[str, Any]) -> list[Violation]:
        out: list[Violation] = []
        for item in self.check(args, config) or ():
            out.append(item if isinstance(item, tuple) else (str(item), None))
        return out


def resource_name(props: Mapping[str, Any], fallback: str) -> str:
    meta = props.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name") or fallback
    return f"{ns}/{name}" if ns else str(name)


# --- pod specs, wherever they hide ----------------------------------------------------------------

WORKLOAD_TYPES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:core/v1:Pod",
    "kubernetes:serving.kserve.io/v1beta1:InferenceService",
    "kubernetes:serving.kserve.io/v1alpha1:ServingRuntime",
    "kubernetes:serving.kserve.io/v1alpha1:ClusterServingRuntime",
    "kubernetes:machinelearning.seldon.io/v1:SeldonDeployment",
)


@dataclass(frozen=True)
class PodSpec:
    where: str  # e.g. "Deployment detectors/iris-drift" or "InferenceService models/iris predictor"
    spec: Mapping[str, Any]
    containers: tuple[Mapping[str, Any], ...]
    annotations: Mapping[str, Any]


def pod_specs(resource_type: str, props: Mapping[str, Any], name: str) -> Iterator[PodSpec]:
    """Every pod spec a resource creates, including those inside custom resources."""
    kind = resource_type.rsplit(":", 1)[-1]
    label = f"{kind} {resource_name(props, name)}"
    annotations = dig(props, "metadata", "annotations", default={}) or {}

    def make(where: str, spec: Mapping[str, Any], extra: Iterable[Mapping[str, Any]] = ()) -> PodSpec:
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or []), *extra]
        return PodSpec(where, spec, tuple(c for c in containers if isinstance(c, Mapping)), annotations)

    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        spec = dig(props, "spec", "template", "spec", default={})
        yield make(label, spec)
    elif kind == "CronJob":
        yield make(label, dig(props, "spec", "jobTemplate", "spec", "template", "spec", default={}))
    elif kind == "Pod":
        yield make(label, props.get("spec") or {})
    elif kind == "InferenceService":
        for component, spec, models in kserve_fields.component_models(props.get("spec") or {}):
            yield make(f"{label} {component}", spec, [dict(model, name=model.get("name", field)) for field, model in models])
    elif kind in ("ServingRuntime", "ClusterServingRuntime"):
        # A disabled runtime is never chosen for a predictor: it makes no pods.
        # Ref: KServe ServingRuntimeSpec.disabled ("Set to true to disable use of this runtime")
        if dig(props, "spec", "disabled") is not True:
            yield make(label, props.get("spec") or {})
    elif kind == "SeldonDeployment":
        for predictor in dig(props, "spec", "predictors", default=[]) or []:
            for index, component in enumerate(predictor.get("componentSpecs") or []):
                yield make(f"{label} {predictor.get('name', 'predictor')}[{index}]", component.get("spec") or {})


def containers_of(pod: PodSpec) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for container in pod.containers:
        yield f"{pod.where} container {container.get('name', '?')}", container


def opens_port(rule: Mapping[str, Any], numbers: Iterable[int]) -> bool:
    """Whether a NetworkPolicy rule opens any of these port numbers: no `ports` is every port, an
    entry with no `port` every port of its protocol, a range up to `endPort` each one in it; a named
    port is a pod's, never an address's."""
    entries = rule.get("ports") or []
    if not entries:
        return True
    for entry in entries:
        port = entry.get("port")
        if port is None:
            return True
        if isinstance(port, int) and any(port <= n <= int(entry.get("endPort") or port) for n in numbers):
            return True
    return False


def cidrs_open(ranges: Iterable[Any]) -> bool:
    """Whether CIDR ranges together let the whole internet in, however split (components/cidrs.py).
    A range that is not one counts as open: the API behind it would refuse it anyway."""
    try:
        return cidrs.lets_in_the_internet(str(r) for r in ranges)
    except ValueError:
        return True


def describe_open(ranges: Iterable[Any]) -> str:
    try:
        return cidrs.describe_open(str(r) for r in ranges)
    except ValueError:
        return ", ".join(str(r) for r in ranges)


# The setting of the rules that require customer-managed keys (in prod: policies/registry.py).
REQUIRE_KEYS = {"requireKeys": {"type": "boolean", "default": False}}


def stack_resources(args: Any, *types: str) -> list[Any]:
    return [r for r in args.resources if r.resource_type in types]


def depends_on_resource(dependent: Any, target: Any, prop: str) -> bool:
    """Whether `dependent`'s property `prop` was computed from `target` (e.g. bucket -> Bucket)."""
    return any(getattr(d, "urn", None) == target.urn for d in (dependent.property_dependencies or {}).get(prop, []))
