"""Reading a rendered cluster (planner's ClusterView) the way its controllers would: objects by kind,
the pod ports behind a Service's port, a namespace's NetworkPolicy and the ports it opens."""

from __future__ import annotations

from mlops_platform.components.addons.backend_ports import AGENT_PORT, MODEL_PORT

# The stacks whose rendered flows the network tests follow: the bundled issuer and CA; Cognito and Let's Encrypt.
STACKS = ["local-dev", "aws-prod+model"]
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")
PREDICTOR_SERVICE_PORT = 80  # KServe's RawDeployment Service (made at run time, not rendered)
# The ports of the containers KServe puts in a predictor's pod (the runtime model names them, without ports).
# Ref: kserve/kserve pkg/constants/constants.go (InferenceServiceDefaultHttpPort, InferenceServiceDefaultAgentPort)
KSERVE_CONTAINER_PORTS = {"kserve-container": MODEL_PORT, "agent": AGENT_PORT}


def objects(view):
    return [o.manifest for o in (*view.installed(), *view.runtime)]


def of(view, kind):
    return [m for m in objects(view) if m.get("kind") == kind]


def pod_ports(view, namespace, service_name, port):
    """The container ports behind a Service's port (by number or name)."""
    services = [s for s in of(view, "Service") if s["metadata"].get("namespace") == namespace and s["metadata"]["name"] == service_name]
    pods = [w["spec"]["template"] for w in objects(view) if w.get("kind") in WORKLOADS and w["metadata"].get("namespace") == namespace]
    if not services:  # KServe's predictor Service: its pod's every port (the model server, the logger agent)
        assert service_name.endswith("-predictor") and port == PREDICTOR_SERVICE_PORT, (namespace, service_name, port)
        [predictor] = [w for w in of(view, "Deployment") if w["metadata"] == {**w["metadata"], "name": service_name,
                                                                              "namespace": namespace}]
        return {KSERVE_CONTAINER_PORTS[c["name"]] for c in predictor["spec"]["template"]["spec"]["containers"]}
    [service] = services
    [entry] = [p for p in service["spec"]["ports"] if port in (p["port"], p.get("name"))] or [None]
    assert entry is not None, f"route to {namespace}/{service_name}:{port}: the Service has no such port (Traefik: service port not found)"
    target = entry.get("targetPort", entry["port"])
    if isinstance(target, int):
        return {target}
    selector = service["spec"]["selector"]
    matching = [p for p in pods if selector.items() <= (p.get("metadata") or {}).get("labels", {}).items()]
    found = {p["containerPort"] for pod in matching for c in pod["spec"]["containers"] for p in c.get("ports", [])
             if p.get("name") == target}
    assert found, (namespace, service_name, target)
    return found


def policy(view, namespace):
    [policy] = [p for p in of(view, "NetworkPolicy") if p["metadata"] == {**p["metadata"], "name": "allow-platform",
                                                                            "namespace": namespace}]
    return policy["spec"]


def namespaces_of(peers):
    return {(p.get("namespaceSelector") or {}).get("matchLabels", {}).get("kubernetes.io/metadata.name", "*") for p in peers}


def opens(rules, key, namespace):
    """The ports `rules` open to (egress) or from (ingress) `namespace`: None for every port."""
    ports: set = set()
    for rule in rules:
        if namespace in namespaces_of(rule.get(key, [])) or "*" in namespaces_of(rule.get(key, [])):
            if not rule.get("ports"):
                return None
            ports |= {p["port"] for p in rule["ports"]}
    return ports


def check_egress(view, source: str, needed: dict, tolerated=lambda namespace: set()) -> None:
    """`source`'s egress (its rules to namespaces; those to addresses aside) opens every port of
    `needed` ({namespace: ports}) and nothing else but the `tolerated` ports of a namespace it reaches."""
    egress = [r for r in policy(view, source)["egress"] if "ipBlock" not in str(r)]
    for namespace, ports in needed.items():
        opened = opens(egress, "to", namespace)
        assert opened is not None and ports <= opened, f"{source}'s egress to {namespace}: {opened}, needs {ports}"
    for rule in egress:
        [namespace] = namespaces_of(rule["to"])
        assert namespace in needed and rule.get("ports"), rule
        extra = {p["port"] for p in rule["ports"]} - needed[namespace] - tolerated(namespace)
        assert not extra, f"{source} may reach {namespace} on {extra}, where nothing needs it"


def over_stacks(viewed, needed_of) -> dict:
    """The union over STACKS of `needed_of(view)` ({namespace: ports})."""
    union: dict[str, set[int]] = {}
    for stack in STACKS:
        for namespace, ports in needed_of(viewed(stack)).items():
            union.setdefault(namespace, set()).update(ports)
    return union
