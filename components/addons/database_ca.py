"""The managed database's CA certificates in the pods that connect to it (MLflow's server and its
schema Job): libpq's PGSSLROOTCERT and the volume behind it. What each cloud trusts, and why, is in
data/db_trust.py; in-cluster Postgres (local) has none of this.

- CA certificates the program knows (Azure's roots, Cloud SQL's instance CA) go in a ConfigMap.
- A bundle the pod fetches (RDS's) is written into an emptyDir by an init container that runs
  scripts/fetch_ca_bundle.py before any container that connects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources as package_files
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kube
from .. import names, versions
from ..data.db_trust import CA_DIR, CA_FILE
from ..data.outputs import Database
from ..image_source import ImageSource

CONFIGMAP = "mlflow-database-ca"
VOLUME = "database-ca"
FETCH_CONTAINER = "database-ca"
FETCH_SCRIPT = "fetch_ca_bundle.py"


@dataclass(frozen=True)
class PodTrust:
    """What a pod needs to reach the database as its cloud requires: libpq's TLS env (the mode, and
    the CA file where it verifies), the init container that fetches the bundle (if any, to run
    first), the volume and each connecting container's mount."""

    env: dict[str, str] = field(default_factory=dict)
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)


def fetch_script() -> str:
    return script_text(FETCH_SCRIPT)


def script_text(name: str) -> str:
    """A script of components/addons/scripts, which a pod runs with `python -c`."""
    return package_files.files(__package__).joinpath("scripts", name).read_text(encoding="utf-8")


def pod_trust(db: Database, images: ImageSource, run_as_user: int) -> PodTrust:
    """The pod's parts; the fetch runs in the MLflow image as `run_as_user`, its non-root user."""
    trust = db.trust
    if trust is None:
        return PodTrust({"PGSSLMODE": db.ssl_mode})
    env = {"PGSSLMODE": db.ssl_mode, "PGSSLROOTCERT": CA_FILE}
    mount = {"name": VOLUME, "mountPath": CA_DIR, "readOnly": True}
    if trust.pem is not None:
        return PodTrust(env, [], [{"name": VOLUME, "configMap": {"name": CONFIGMAP}}], [mount])
    fetch = {
        "name": FETCH_CONTAINER,
        "image": images.ref(versions.MLFLOW_IMAGE),
        "command": ["python", "-c", fetch_script()],
        "env": [{"name": "CA_BUNDLE_URL", "value": trust.url}, {"name": "CA_BUNDLE_FILE", "value": CA_FILE}],
        "resources": kube.resources("10m", "32Mi", "128Mi"),
        "securityContext": kube.container_security(run_as_user=run_as_user),
        "volumeMounts": [{"name": VOLUME, "mountPath": CA_DIR}],
    }
    return PodTrust(env, [fetch], [kube.empty_dir(VOLUME, "1Mi")], [mount])


def configmap(name: str, db: Database, parent: pulumi.Resource, provider: k8s.Provider,
              depends_on: Sequence[pulumi.Resource]) -> list[pulumi.Resource]:
    """The ConfigMap of CA certificates the program knows; none where the pod fetches them."""
    if db.trust is None or db.trust.pem is None:
        return []
    return [k8s.core.v1.ConfigMap(
        f"{name}-database-ca",
        metadata={"name": CONFIGMAP, "namespace": names.NS_MLFLOW, "labels": kube.labels("mlflow", "database")},
        data={"ca.crt": db.trust.pem},
        opts=kube.child(parent, provider, depends_on),
    )]
