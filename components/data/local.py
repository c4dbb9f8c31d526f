"""LocalData: the object store and Postgres for a kind cluster, inside the cluster.

SeaweedFS serves the S3 API (upstream MinIO ships no images any more) and the official
`postgres` image serves the database. Every credential is generated with pulumi-random, kept a
Pulumi secret and stored only in Kubernetes Secrets; each workload gets its own S3 identity
limited to the actions it needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import image_source, names, network, versions
from .. import k8s as kube
from ..cluster.outputs import ClusterOutputs
from ..image_source import ImageSource
from .backup_jobs import BackupJobArgs, BackupPlan, BackupSite
from .backup_kit.transfer import PORT as TRANSFER_PORT
from .outputs import Database, DataOutputs, ObjectStore, WorkloadAccess
from .restore_jobs import TRANSFER_LABELS, templates

BUCKET = names.ARTIFACTS
S3_PORT = 8333
SEAWEEDFS_METRICS_PORT = 9327
POSTGRES_PORT = 5432
DATABASE_STORAGE_GB = 5  # the database's claim: what a restore of it may have to read back
SEAWEEDFS_UID = 1000
POSTGRES_UID = 70  # the postgres user of the official alpine image
POSTGRES_SECRET_DIR = "/run/secrets/postgres"
AWS_CLI_UID = 1000
ENDPOINT = f"http://seaweedfs.{names.NS_DATA}.svc.cluster.local:{S3_PORT}"
POSTGRES_HOST = f"postgres.{names.NS_DATA}.svc.cluster.local"  # MLflow's and the backup Job's

# S3 actions per access level, scoped to the one bucket (SeaweedFS "Action:bucket" form).
# Ref: https://github.com/seaweedfs/seaweedfs/wiki/Amazon-S3-API#static-configuration
_ACTIONS = {
    "read": ["Read", "List"],
    "write": ["Read", "List", "Write", "Tagging"],
}


@dataclass(frozen=True)
class LocalDataArgs:
    cluster: ClusterOutputs
    storage_gb: int = 10
    database_storage_gb: int = DATABASE_STORAGE_GB
    backup: Optional[BackupJobArgs] = None  # the scheduled backups (backup_jobs.py)
    images: ImageSource = ImageSource()  # where each image is pulled from (lock, mirror)


def backup_site() -> BackupSite:
    """The backup Jobs beside the data: SeaweedFS with its admin keys, Postgres with its password file
    (plain TCP: the traffic never leaves the node network)."""
    libpq = {"PGHOST": POSTGRES_HOST, "PGPORT": str(POSTGRES_PORT), "PGUSER": names.DATABASE_USER, "PGSSLMODE": "disable"}
    return BackupSite(
        cloud="local",
        store_env={"AWS_ENDPOINT_URL": ENDPOINT, "AWS_DEFAULT_REGION": "us-east-1"}, store_secrets=("seaweedfs-admin",),
        db_env=tuple({"name": key, "value": value} for key, value in libpq.items()),
        password_file=f"{POSTGRES_SECRET_DIR}/password",
        volumes=({"name": "postgres-password", "secret": {"secretName": "postgres-credentials"}},),
        db_mounts=({"name": "postgres-password", "mountPath": POSTGRES_SECRET_DIR, "readOnly": True},),
    )


class LocalData(pulumi.ComponentResource):
    outputs: DataOutputs

    @staticmethod
    def args_from(config: Any, cluster: ClusterOutputs) -> LocalDataArgs:  # config: PlatformConfig
        images = image_source.for_stack(config)
        backup = BackupJobArgs(plan=BackupPlan.from_config(config, DATABASE_STORAGE_GB), bucket=BUCKET, site=backup_site(), images=images)
        return LocalDataArgs(cluster=cluster, backup=backup, images=images)

    def __init__(self, name: str, args: LocalDataArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:data:LocalData", name, None, opts)
        self._provider = args.cluster.provider
        self._images = args.images
        self._ns = kube.namespace(names.NS_DATA, f"{name}-ns", self, self._provider, depends_on=args.cluster.ready)
        # Only the workloads that use the object store and the database may reach them.
        network.namespace_policies(
            name, names.NS_DATA, self, self._provider,
            ingress=[network.from_namespace(ns, S3_PORT, POSTGRES_PORT) for ns in (names.NS_MLFLOW, names.NS_DETECTORS, names.NS_MODELS)],
            depends_on=self._ns.ready,
        )
        self._transfer_policy(name)
        workload_keys, s3_secret, admin_secret = self._credentials(name)
        bucket_job = self._object_store(name, args, s3_secret, admin_secret)
        password, db_service = self._postgres(name, args)
        if args.backup is not None:
            templates(name, args.backup, self, self._provider, [bucket_job, db_service])
        self.outputs = DataOutputs(
            object_store=ObjectStore(
                kind="s3",
                bucket=pulumi.Output.from_input(BUCKET),
                uri=pulumi.Output.from_input(f"s3://{BUCKET}"),
                region="us-east-1",
                endpoint=ENDPOINT,
            ),
            database=Database(
                host=pulumi.Output.from_input(POSTGRES_HOST),
                port=POSTGRES_PORT,
                name=names.DATABASE_MLFLOW,
                user=names.DATABASE_USER,
                password=password,
                ssl_mode="disable",
            ),
            access={role: WorkloadAccess(static_keys=keys) for role, keys in workload_keys.items()},
            store_ready=(bucket_job,),
            database_ready=(db_service,),
        )
        self.register_outputs(self.outputs.registered())

    def _transfer_policy(self, name: str) -> k8s.networking.v1.NetworkPolicy:
        """The backup transfer's pod (restore_jobs.TRANSFER_LABELS), which lives only while the CLI
        carries a backup out or in, takes the API server's proxied requests on its port. The API
        server reaches it from the node's address on kind's Docker network, whose range Docker
        chooses, so the policy admits any source; each request must carry the Job's own token
        (backup_kit/transfer.py).
        Ref: https://kubernetes.io/docs/tasks/access-application-cluster/access-cluster-services/#manually-constructing-apiserver-proxy-urls"""
        return k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol-backup-transfer",
            metadata={"name": "allow-backup-transfer", "namespace": names.NS_DATA, "labels": kube.labels(names.NS_DATA, "network-policy")},
            spec={"podSelector": {"matchLabels": dict(TRANSFER_LABELS)}, "policyTypes": ["Ingress"],
                  "ingress": [network.from_anywhere(TRANSFER_PORT)]},
            opts=kube.child(self, self._provider, self._ns.ready),
        )

    def _credentials(self, name: str) -> tuple[dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]], Any, Any]:
        """An S3 identity per workload (and an admin), limited to what it needs; their Secrets."""
        provider, ns_name = self._provider, self._ns.name
        def key_pair(role: str) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
            access = random.RandomString(
                f"{name}-{role}-access-key", length=20, special=False, lower=False, opts=pulumi.ResourceOptions(parent=self)
            )
            secret = random.RandomPassword(
                f"{name}-{role}-secret-key", length=40, special=False, opts=pulumi.ResourceOptions(parent=self)
            )
            return pulumi.Output.secret(access.result), pulumi.Output.secret(secret.result)

        admin_keys = key_pair("admin")
        workload_keys = {w.role: key_pair(w.role) for w in names.WORKLOADS}
        identities = [
            {"name": "admin", "keys": admin_keys, "actions": ["Admin", "Read", "List", "Write", "Tagging"]}
        ] + [
            {"name": w.role, "keys": workload_keys[w.role], "actions": [f"{a}:{BUCKET}" for a in _ACTIONS[w.access]]}
            for w in names.WORKLOADS
        ]
        s3_config: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.all(*[pulumi.Output.all(*i["keys"]) for i in identities]).apply(
                lambda pairs: json.dumps(
                    {
                        "identities": [
                            {
                                "name": ident["name"],
                                "credentials": [{"accessKey": pair[0], "secretKey": pair[1]}],
                                "actions": ident["actions"],
                            }
                            for ident, pair in zip(identities, pairs, strict=True)
                        ]
                    },
                    indent=1,
                )
            )
        )
        s3_secret = k8s.core.v1.Secret(
            f"{name}-seaweedfs-config",
            metadata={"name": "seaweedfs-s3-config", "namespace": ns_name, "labels": kube.labels("seaweedfs")},
            string_data={"s3.json": s3_config},
            opts=kube.child(self, provider),
        )
        admin_secret = k8s.core.v1.Secret(
            f"{name}-seaweedfs-admin",
            metadata={"name": "seaweedfs-admin", "namespace": ns_name, "labels": kube.labels("seaweedfs")},
            string_data={"AWS_ACCESS_KEY_ID": admin_keys[0], "AWS_SECRET_ACCESS_KEY": admin_keys[1]},
            opts=kube.child(self, provider),
        )

        return workload_keys, s3_secret, admin_secret

    def _object_store(self, name: str, args: LocalDataArgs, s3_secret: Any, admin_secret: Any) -> k8s.batch.v1.Job:
        """SeaweedFS (the S3 API) on its claim, its Service, and a Job creating the bucket; returns the Job."""
        provider, ns_name = self._provider, self._ns.name
        store_pvc = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-seaweedfs-data",
            metadata={"name": "seaweedfs-data", "namespace": ns_name, "labels": kube.labels("seaweedfs")},
            spec={
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": args.cluster.storage_class,
                "resources": {"requests": {"storage": f"{args.storage_gb}Gi"}},
            },
            # kind's local-path class binds on first consumer; the provider counts Pending as ready
            # for WaitForFirstConsumer classes. Ref: pulumi/pulumi-kubernetes#3130, #4181
            opts=kube.child(self, provider),
        )
        store_labels = kube.labels("seaweedfs", "object-store")
        seaweedfs = k8s.apps.v1.Deployment(
            f"{name}-seaweedfs",
            metadata={"name": "seaweedfs", "namespace": ns_name, "labels": store_labels},
            spec={
                "replicas": 1,
                "strategy": {"type": "Recreate"},  # one writer on a ReadWriteOnce volume
                "selector": {"matchLabels": kube.selector("seaweedfs", "object-store")},
                "template": seaweedfs_pod(store_labels, self._images),
            },
            opts=kube.child(self, provider, [store_pvc, s3_secret, *self._ns.ready]),
        )
        store_service = k8s.core.v1.Service(
            f"{name}-seaweedfs-svc",
            metadata={"name": "seaweedfs", "namespace": ns_name, "labels": store_labels},
            spec={
                "type": "ClusterIP",
                "selector": kube.selector("seaweedfs", "object-store"),
                "ports": [
                    {"name": "s3", "port": S3_PORT, "targetPort": "s3"},
                    {"name": "metrics", "port": SEAWEEDFS_METRICS_PORT, "targetPort": "metrics"},
                ],
            },
            opts=kube.child(self, provider, [seaweedfs]),
        )
        container = {
            "name": "create-bucket",
            "image": self._images.ref(versions.AWS_CLI),
            "command": ["/bin/sh", "-c"],
            "args": [f"aws s3api head-bucket --bucket {BUCKET} 2>/dev/null || aws s3api create-bucket --bucket {BUCKET}"],
            "env": [
                {"name": "HOME", "value": "/tmp"},
                {"name": "AWS_ENDPOINT_URL", "value": ENDPOINT},
                {"name": "AWS_DEFAULT_REGION", "value": "us-east-1"},
            ],
            "envFrom": [{"secretRef": {"name": "seaweedfs-admin"}}],
            "resources": kube.resources("20m", "64Mi", "256Mi"),
            "securityContext": kube.container_security(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
        bucket_job = kube.job(
            f"{name}-create-bucket",
            {"name": "create-bucket", "namespace": ns_name, "labels": kube.labels("seaweedfs", "bucket")},
            kube.job_pod(AWS_CLI_UID, [container], volumes=[kube.empty_dir("tmp")]),
            self, provider, [store_service, admin_secret, *self._ns.ready],
        )

        return bucket_job

    def _postgres(self, name: str, args: LocalDataArgs) -> tuple[pulumi.Output[str], k8s.core.v1.Service]:
        """Postgres on its claim and its Service; returns the password and the Service."""
        provider, ns_name = self._provider, self._ns.name
        db_password = random.RandomPassword(
            f"{name}-postgres-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        password = pulumi.Output.secret(db_password.result)
        db_secret = k8s.core.v1.Secret(
            f"{name}-postgres-credentials",
            metadata={"name": "postgres-credentials", "namespace": ns_name, "labels": kube.labels("postgres")},
            string_data={"password": password},
            opts=kube.child(self, provider),
        )
        db_pvc = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-postgres-data",
            metadata={"name": "postgres-data", "namespace": ns_name, "labels": kube.labels("postgres")},
            spec={
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": args.cluster.storage_class,
                "resources": {"requests": {"storage": f"{args.database_storage_gb}Gi"}},
            },
            opts=kube.child(self, provider),
        )
        db_labels = kube.labels("postgres", "database")
        postgres = k8s.apps.v1.Deployment(
            f"{name}-postgres",
            metadata={"name": "postgres", "namespace": ns_name, "labels": db_labels},
            spec={
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": kube.selector("postgres", "database")},
                "template": postgres_pod(db_labels, self._images),
            },
            opts=kube.child(self, provider, [db_pvc, db_secret, *self._ns.ready]),
        )
        db_service = k8s.core.v1.Service(
            f"{name}-postgres-svc",
            metadata={"name": "postgres", "namespace": ns_name, "labels": db_labels},
            spec={
                "type": "ClusterIP",
                "selector": kube.selector("postgres", "database"),
                "ports": [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres"}],
            },
            opts=kube.child(self, provider, [postgres]),
        )

        return password, db_service


def seaweedfs_pod(labels: dict[str, str], images: ImageSource) -> dict[str, Any]:
    """SeaweedFS's pod: master, volume, filer and S3 gateway in one process (enough for a laptop)."""
    return {
        "metadata": {"labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": kube.pod_security(SEAWEEDFS_UID, fs_group=SEAWEEDFS_UID),
            "containers": [
                {
                    "name": "seaweedfs",
                    "image": images.ref(versions.SEAWEEDFS),
                    "command": ["/usr/bin/weed"],
                    # Master, volume, filer and S3 gateway in one process: enough for a laptop.
                    "args": [
                        "server",
                        "-dir=/data",
                        "-ip.bind=0.0.0.0",
                        "-master.volumeSizeLimitMB=256",
                        "-volume.max=0",
                        "-s3",
                        f"-s3.port={S3_PORT}",
                        "-s3.config=/etc/seaweedfs/s3.json",
                        f"-metricsPort={SEAWEEDFS_METRICS_PORT}",
                    ],
                    "ports": [
                        {"name": "s3", "containerPort": S3_PORT},
                        {"name": "metrics", "containerPort": SEAWEEDFS_METRICS_PORT},
                    ],
                    "readinessProbe": {"tcpSocket": {"port": S3_PORT}, "periodSeconds": 5},
                    # Restart a gateway that stops accepting connections; generous, as a
                    # restart of this single replica interrupts every artifact transfer.
                    "livenessProbe": {"tcpSocket": {"port": S3_PORT}, "initialDelaySeconds": 30,
                                      "periodSeconds": 20, "failureThreshold": 6},
                    "resources": kube.resources("50m", "128Mi", "512Mi"),
                    "securityContext": kube.container_security(),
                    "volumeMounts": [
                        {"name": "data", "mountPath": "/data"},
                        {"name": "config", "mountPath": "/etc/seaweedfs", "readOnly": True},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }
            ],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "seaweedfs-data"}},
                {"name": "config", "secret": {"secretName": "seaweedfs-s3-config"}},
                kube.empty_dir("tmp"),
            ],
        },
    }


def postgres_pod(labels: dict[str, str], images: ImageSource) -> dict[str, Any]:
    """Postgres's pod: the official image, its password read from a mounted file."""
    return {
        "metadata": {"labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": kube.pod_security(POSTGRES_UID, fs_group=POSTGRES_UID),
            "containers": [
                {
                    "name": "postgres",
                    "image": images.ref(versions.POSTGRES),
                    # The password is read from a mounted file, never from the environment
                    # (the image's *_FILE convention). Ref: https://hub.docker.com/_/postgres
                    # An explicit PGDATA below the mount point works for every image major
                    # (17 and 18 images differ in their default layout).
                    "env": [
                        {"name": "POSTGRES_USER", "value": names.DATABASE_USER},
                        {"name": "POSTGRES_DB", "value": names.DATABASE_MLFLOW},
                        {"name": "POSTGRES_PASSWORD_FILE", "value": f"{POSTGRES_SECRET_DIR}/password"},
                        {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                    ],
                    "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
                    "readinessProbe": {
                        "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", names.DATABASE_USER]},
                        "periodSeconds": 5,
                    },
                    # Slower than readiness: crash recovery after a restart can take a while.
                    "livenessProbe": {
                        "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", names.DATABASE_USER]},
                        "initialDelaySeconds": 60,
                        "periodSeconds": 20,
                        "failureThreshold": 6,
                    },
                    "resources": kube.resources("50m", "128Mi", "512Mi"),
                    "securityContext": kube.container_security(),
                    "volumeMounts": [
                        {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                        {"name": "run", "mountPath": "/var/run/postgresql"},
                        {"name": "tmp", "mountPath": "/tmp"},
                        {"name": "credentials", "mountPath": POSTGRES_SECRET_DIR, "readOnly": True},
                    ],
                }
            ],
            "volumes": [
                {"name": "data", "persistentVolumeClaim": {"claimName": "postgres-data"}},
                # Group-readable by fsGroup 70 (the postgres user), nobody else.
                {"name": "credentials", "secret": {"secretName": "postgres-credentials", "defaultMode": 0o440}},
                kube.empty_dir("run", "8Mi"),
                kube.empty_dir("tmp"),
            ],
        },
    }
