"""API versions Kubernetes stopped serving, by the minor that removed them: an object written at one
of them cannot be applied to (or upgraded on) a cluster of that minor or later, and a Helm release
whose stored manifest uses one fails to upgrade there until its manifest is rewritten
(helm-mapkubeapis).
Ref: https://kubernetes.io/docs/reference/using-api/deprecation-guide/ ("Removed APIs by release")
"""

from __future__ import annotations

from typing import Optional

# (group/version, kind or "*" for every kind of it) -> the minor that removed it.
REMOVED: dict[tuple[str, str], str] = {
    **{(gv, "*"): "1.22" for gv in (
        "admissionregistration.k8s.io/v1beta1", "apiextensions.k8s.io/v1beta1", "apiregistration.k8s.io/v1beta1",
        "authentication.k8s.io/v1beta1", "authorization.k8s.io/v1beta1", "certificates.k8s.io/v1beta1",
        "coordination.k8s.io/v1beta1", "networking.k8s.io/v1beta1", "rbac.authorization.k8s.io/v1beta1",
        "scheduling.k8s.io/v1beta1")},
    ("extensions/v1beta1", "Ingress"): "1.22",
    **{("storage.k8s.io/v1beta1", kind): "1.22" for kind in ("CSIDriver", "CSINode", "StorageClass", "VolumeAttachment")},
    ("batch/v1beta1", "CronJob"): "1.25",
    ("discovery.k8s.io/v1beta1", "EndpointSlice"): "1.25",
    ("events.k8s.io/v1beta1", "Event"): "1.25",
    ("autoscaling/v2beta1", "HorizontalPodAutoscaler"): "1.25",
    ("policy/v1beta1", "PodDisruptionBudget"): "1.25",
    ("policy/v1beta1", "PodSecurityPolicy"): "1.25",
    ("node.k8s.io/v1beta1", "RuntimeClass"): "1.25",
    ("flowcontrol.apiserver.k8s.io/v1beta1", "*"): "1.26",
    ("autoscaling/v2beta2", "HorizontalPodAutoscaler"): "1.26",
    ("storage.k8s.io/v1beta1", "CSIStorageCapacity"): "1.27",
    ("flowcontrol.apiserver.k8s.io/v1beta2", "*"): "1.29",
    ("flowcontrol.apiserver.k8s.io/v1beta3", "*"): "1.32",
}


def minor_key(minor: str) -> tuple[int, int]:
    major, _, rest = minor.partition(".")
    return int(major), int(rest)


def removed_in(api_version: str, kind: str) -> Optional[str]:
    """The minor that stopped serving `api_version` for `kind`, or None while it is served."""
    return REMOVED.get((api_version, kind)) or REMOVED.get((api_version, "*"))


def removed_between(api_version: str, kind: str, after: str, up_to: str) -> Optional[str]:
    """The minor in (after, up_to] that removes this API, if any."""
    minor = removed_in(api_version, kind)
    if minor is not None and minor_key(after) < minor_key(minor) <= minor_key(up_to):
        return minor
    return None


def not_served_on(api_version: str, kind: str, minor: str) -> Optional[str]:
    """The minor that removed this API, when a cluster of `minor` no longer serves it."""
    removed = removed_in(api_version, kind)
    return removed if removed is not None and minor_key(removed) <= minor_key(minor) else None
