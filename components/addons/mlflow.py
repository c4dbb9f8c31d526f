"""Mlflow: tracking server and model registry on Postgres, artifacts proxied to the object store.

The basic-auth app is on with a generated admin password; the database password and the admin
password reach the chart only as references to Kubernetes Secrets (never as Helm values). A Job
creates the auth database beside the tracking database (the same way on every cloud). Served at
`mlflow.<domain>` through Traefik, scraped by Prometheus through the chart's ServiceMonitor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import k8s as kube
from .. import names, network, versions
from ..data.outputs import DataOutputs, WorkloadAccess
from ..requests import WorkloadRequest, from_values
from .cert_manager import certificate

DB_SECRET = "mlflow-database"
ADMIN_SECRET = "mlflow-admin"
S3_SECRET = "mlflow-s3"
# libpq's environment for MLflow's own connections (PGSSLMODE): psycopg's default, "prefer", would
# fall back to plaintext where a managed database must be reached over TLS. It goes through the
# chart's envFrom list, as extraEnvVars only documents MLflow's own variables.
# Ref: https://www.postgresql.org/docs/current/libpq-envars.html
PG_ENV_SECRET = "mlflow-postgres-env"
TLS_SECRET = "mlflow-tls"
SERVICE = names.RELEASE_MLFLOW  # the chart's fullname for release "mlflow"
PSQL_UID = 70
MLFLOW_PORT = 5000  # the chart's container port


@dataclass(frozen=True)
class MlflowArgs:
    provider: k8s.Provider
    domain: str
    issuer: str
    data: DataOutputs
    access: WorkloadAccess
    replicas: int = 1
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)


def chart_values(args: MlflowArgs, flask_secret: pulumi.Input[str]) -> dict[str, Any]:
    db = args.data.database
    store = args.data.object_store
    host = f"mlflow.{args.domain}"
    artifact_root: dict[str, Any] = {"proxiedArtifactStorage": True}
    if store.kind == "s3":
        s3: dict[str, Any] = {"enabled": True, "bucket": store.bucket, "path": names.BUCKET_PREFIX_MLFLOW}
        if args.access.static_keys is not None:
            s3["existingSecret"] = {
                "name": S3_SECRET,
                "keyOfAccessKeyId": "AWS_ACCESS_KEY_ID",
                "keyOfSecretAccessKey": "AWS_SECRET_ACCESS_KEY",
            }
        artifact_root["s3"] = s3
    elif store.kind == "gcs":
        artifact_root["gcs"] = {"enabled": True, "bucket": store.bucket, "path": names.BUCKET_PREFIX_MLFLOW}
    else:
        # MLflow's Azure artifact repository falls back to DefaultAzureCredential (Workload
        # Identity) when no connection string or key is set; the chart's azureBlob block would
        # demand one, so the destination is given directly.
        artifact_root["defaultArtifactsDestination"] = pulumi.Output.all(store.bucket, store.account).apply(
            lambda parts: f"wasbs://{parts[0]}@{parts[1]}.blob.core.windows.net/{names.BUCKET_PREFIX_MLFLOW}"
        )
    postgres = {
        "enabled": True,
        "host": db.host,
        "port": db.port,
        "database": db.name,
        "user": db.user,
        "password": "",
        "driver": "",
    }
    # Only what MLflow's S3 client reads. The database's TLS mode comes from PG_ENV_SECRET.
    env = {e["name"]: e["value"] for e in store.env() if e["name"] in ("MLFLOW_S3_ENDPOINT_URL", "AWS_DEFAULT_REGION")}
    return {
        "replicaCount": args.replicas,
        "serviceAccount": {
            "create": True,
            "name": names.MLFLOW.service_account,
            "automount": False,
            "annotations": dict(args.access.annotations),
        },
        "extraPodLabels": dict(args.access.pod_labels),
        "backendStore": {
            "databaseMigration": True,
            "databaseConnectionCheck": True,
            "postgres": postgres,
            "existingDatabaseSecret": {"name": DB_SECRET, "usernameKey": "username", "passwordKey": "password"},
        },
        "artifactRoot": artifact_root,
        "flaskServerSecretKey": flask_secret,
        "auth": {
            "enabled": True,
            "adminUsername": "admin",
            "existingAdminSecret": {"name": ADMIN_SECRET, "usernameKey": "username", "passwordKey": "password"},
            "defaultPermission": "READ",
            "postgres": {
                **postgres,
                "database": names.DATABASE_MLFLOW_AUTH,
                "existingSecret": {"name": DB_SECRET, "usernameKey": "username", "passwordKey": "password"},
            },
        },
        "extraEnvVars": env,
        "extraSecretNamesForEnvFrom": [PG_ENV_SECRET],
        # MLflow >= 3.5 checks the Host header (DNS-rebinding protection); an explicit list replaces
        # the default (localhost and private IPs), so those stay in for probes and Prometheus.
        # Ref: https://mlflow.org/docs/latest/self-hosting/security/network
        "serverAllowedHosts": [
            host,
            SERVICE,
            f"{SERVICE}.{names.NS_MLFLOW}",
            f"{SERVICE}.{names.NS_MLFLOW}.svc.cluster.local",
            "localhost*",
            "127.0.0.1*",
            "10.*",
            "172.*",
            "192.168.*",
        ],
        "resources": kube.resources("100m", "384Mi", "1Gi"),
        "ingress": {
            "enabled": True,
            "className": names.INGRESS_CLASS,
            "annotations": {
                "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
                "traefik.ingress.kubernetes.io/router.tls": "true",
            },
            "hosts": [{"host": host, "paths": [{"path": "/", "pathType": "Prefix"}]}],
            "tls": [{"secretName": TLS_SECRET, "hosts": [host]}],
        },
        "serviceMonitor": {"enabled": True, "namespace": names.NS_MLFLOW, "labels": {}, "interval": "30s"},
    }


def chart_requests(values: dict[str, Any]) -> list[WorkloadRequest]:
    return [from_values("mlflow", values, ("resources",), replicas=("replicaCount",))]


class Mlflow(pulumi.ComponentResource):
    def __init__(self, name: str, args: MlflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:Mlflow", name, None, opts)
        provider = args.provider
        db = args.data.database
        ns = kube.namespace(names.NS_MLFLOW, f"{name}-ns", self, provider, depends_on=args.depends_on)
        network.namespace_policies(
            name, names.NS_MLFLOW, self, provider,
            ingress=[network.from_namespace(names.NS_TRAEFIK, MLFLOW_PORT)],
            egress=network.object_store_egress(args.data.object_store.endpoint),
            depends_on=[ns],
        )
        admin_password = random.RandomPassword(
            f"{name}-admin-password", length=24, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        flask_secret = random.RandomPassword(
            f"{name}-flask-secret", length=48, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.admin_password = pulumi.Output.secret(admin_password.result)
        db_secret = k8s.core.v1.Secret(
            f"{name}-db-secret",
            metadata={"name": DB_SECRET, "namespace": names.NS_MLFLOW, "labels": kube.labels("mlflow")},
            string_data={"username": db.user, "password": db.password},
            opts=kube.child(self, provider, [ns]),
        )
        admin_secret = k8s.core.v1.Secret(
            f"{name}-admin-secret",
            metadata={"name": ADMIN_SECRET, "namespace": names.NS_MLFLOW, "labels": kube.labels("mlflow")},
            string_data={"username": "admin", "password": self.admin_password},
            opts=kube.child(self, provider, [ns]),
        )
        pg_env = k8s.core.v1.Secret(
            f"{name}-pg-env",
            metadata={"name": PG_ENV_SECRET, "namespace": names.NS_MLFLOW, "labels": kube.labels("mlflow")},
            string_data={"PGSSLMODE": db.ssl_mode},
            opts=kube.child(self, provider, [ns]),
        )
        secrets: list[pulumi.Resource] = [db_secret, admin_secret, pg_env]
        if args.access.static_keys is not None:
            secrets.append(
                k8s.core.v1.Secret(
                    f"{name}-s3-secret",
                    metadata={"name": S3_SECRET, "namespace": names.NS_MLFLOW, "labels": kube.labels("mlflow")},
                    string_data={
                        "AWS_ACCESS_KEY_ID": args.access.static_keys[0],
                        "AWS_SECRET_ACCESS_KEY": args.access.static_keys[1],
                    },
                    opts=kube.child(self, provider, [ns]),
                )
            )
        auth_db = k8s.batch.v1.Job(
            f"{name}-auth-db",
            metadata={"name": "create-auth-database", "namespace": names.NS_MLFLOW, "labels": kube.labels("mlflow", "database")},
            spec={
                "backoffLimit": 10,
                "template": {
                    "metadata": {"labels": kube.labels("mlflow", "database")},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "automountServiceAccountToken": False,
                        "securityContext": kube.pod_security(PSQL_UID),
                        "containers": [
                            {
                                "name": "create-database",
                                "image": versions.POSTGRES.ref,
                                "command": ["/bin/sh", "-c"],
                                "args": [
                                    f"psql -v ON_ERROR_STOP=1 -tAc \"SELECT 1 FROM pg_database WHERE datname='{names.DATABASE_MLFLOW_AUTH}'\" "
                                    f"| grep -q 1 || psql -v ON_ERROR_STOP=1 -c 'CREATE DATABASE {names.DATABASE_MLFLOW_AUTH}'"
                                ],
                                "env": [
                                    {"name": "PGHOST", "value": db.host},
                                    {"name": "PGPORT", "value": str(db.port)},
                                    {"name": "PGDATABASE", "value": db.name},
                                    {"name": "PGSSLMODE", "value": db.ssl_mode},
                                    {"name": "PGUSER", "valueFrom": {"secretKeyRef": {"name": DB_SECRET, "key": "username"}}},
                                    {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": DB_SECRET, "key": "password"}}},
                                ],
                                "resources": kube.resources("20m", "32Mi", "128Mi"),
                                "securityContext": kube.container_security(),
                            }
                        ],
                    },
                },
            },
            opts=kube.child(self, provider, [db_secret, *args.data.ready]),
        )
        host = f"mlflow.{args.domain}"
        tls = certificate(f"{name}-cert", names.NS_MLFLOW, TLS_SECRET, [host], args.issuer, self, provider, [ns])
        identity = [args.access.identity] if args.access.identity is not None else []
        self.release = k8s.helm.v3.Release(
            f"{name}-release",
            name=names.RELEASE_MLFLOW,
            chart=versions.MLFLOW.chart_ref,
            version=versions.MLFLOW.version,
            repository_opts={"repo": versions.MLFLOW.repo},
            namespace=ns.metadata.name,
            values=chart_values(args, pulumi.Output.secret(flask_secret.result)),
            timeout=900,
            opts=kube.child(self, provider, [*secrets, auth_db, tls, *identity]),
        )
        self.url = f"https://{host}"
        self.register_outputs({"url": self.url, "release": self.release.status})
