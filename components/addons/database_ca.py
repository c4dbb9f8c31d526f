"""The managed database's CA certificates in the pods that connect to it (MLflow's server and its
schema Job): libpq's PGSSLROOTCERT and the ConfigMap volume behind it. What each cloud trusts, and
why, is in data/db_trust.py; in-cluster Postgres (local) has none of this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names
from ..data.db_trust import CA_DIR, CA_FILE
from ..data.outputs import Database

CONFIGMAP = "mlflow-database-ca"
VOLUME = "database-ca"


@dataclass(frozen=True)
class PodTrust:
    """What a pod needs to reach the database as its cloud requires: libpq's TLS env (the mode, and
    the CA file where it verifies), the volume and each connecting container's mount."""

    env: dict[str, str] = field(default_factory=dict)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)


def pod_trust(db: Database) -> PodTrust:
    trust = db.trust
    if trust is None:
        return PodTrust({"PGSSLMODE": db.ssl_mode})
    env = {"PGSSLMODE": db.ssl_mode, "PGSSLROOTCERT": CA_FILE}
    return PodTrust(env, [{"name": VOLUME, "configMap": {"name": CONFIGMAP}}],
                    [{"name": VOLUME, "mountPath": CA_DIR, "readOnly": True}])


def configmap(name: str, db: Database, parent: pulumi.Resource, provider: k8s.Provider,
              depends_on: Sequence[pulumi.Resource]) -> list[pulumi.Resource]:
    """The ConfigMap of the CA certificates; none for an in-cluster database."""
    if db.trust is None:
        return []
    return [k8s.core.v1.ConfigMap(
        f"{name}-database-ca",
        metadata={"name": CONFIGMAP, "namespace": names.NS_MLFLOW, "labels": kube.labels("mlflow", "database")},
        data={"ca.crt": db.trust.pem},
        opts=kube.child(parent, provider, depends_on),
    )]
