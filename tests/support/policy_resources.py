"""Policy-pack inputs built the way the engine's analyzer passes them (pulumi_policy's own
objects), and compliant baselines of the resources the rules inspect: each test breaks one thing."""

from __future__ import annotations

import copy
from typing import Any

from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def resource(resource_type: str, props: dict, name: str = "r", protect: bool = False, **deps: list) -> PolicyResource:
    return PolicyResource(resource_type, props, f"urn:pulumi:t::p::{resource_type}::{name}", name, options(protect),
                          None, None, [], dict(deps))


# A compliant pod: each test breaks one thing in a copy. Its images are pinned by digest (made up).
PINNED = "@sha256:1111111111111111111111111111111111111111111111111111111111111111"
CONTAINER = {
    "name": "app",
    "image": f"registry.example.com/app:1.2.3{PINNED}",
    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}
POD = {"automountServiceAccountToken": False, "securityContext": {"runAsNonRoot": True}, "containers": [CONTAINER]}


# Compliant clusters and a GKE node pool, as their providers' inputs.
EKS_GOOD = {
    "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
    "encryptionConfig": {"resources": ["secrets"], "provider": {"keyArn": "arn:aws:kms:k"}},
    "enabledClusterLogTypes": ["api", "audit", "authenticator", "controllerManager", "scheduler"],
}
AKS_GOOD = {"apiServerAccessProfile": {"authorizedIPRanges": ["203.0.113.0/24"]}, "networkProfile": {"networkPolicy": "cilium"},
            "disableLocalAccounts": True, "agentPoolProfiles": [{"name": "system", "vmSize": "Standard_D2s_v5", "count": 2}]}
GKE_GOOD = {"privateClusterConfig": {"enablePrivateNodes": True}, "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]},
            "datapathProvider": "ADVANCED_DATAPATH", "enableShieldedNodes": True, "workloadIdentityConfig": {"workloadPool": "p.svc.id.goog"}}
POOL_GOOD = {"nodeConfig": {"workloadMetadataConfig": {"mode": "GKE_METADATA"}, "shieldedInstanceConfig": {"enableSecureBoot": True},
                            "machineType": "e2-standard-4"}, "nodeCount": 1}


def patched(base: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(base)
    target = out
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    return out
