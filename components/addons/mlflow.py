"""Mlflow: tracking server and model registry on Postgres, artifacts proxied to the object store.

People sign in with the stack's issuer (the chart's oidcAuth: the mlflow-oidc-auth plugin the image
carries): members of identity.userGroups may sign in, those of adminGroups administer; a script
calls the REST API with a bearer token the issuer signed for the stack's client. Anyone else is
refused, with a token or without (the plugin's default permission stays NO_PERMISSIONS: members own
what they create, admins grant the rest in its permissions UI). The plugin keeps users and
permissions in the auth database beside the tracking database. Secrets reach the chart only as
references to Kubernetes Secrets (never as Helm values). Two Jobs run before the release, the same
way on every cloud: one creates the auth database, one upgrades the tracking schema to the image's
MLflow version (over TLS on the clouds). Served at `mlflow.<domain>` through Traefik; its metrics
(`--expose-prometheus`, on /metrics) are scraped through its ServiceMonitor (METRICS), which alone
waits for the monitoring CRDs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from .. import k8s as kube
from .. import names, network, versions
from ..data.backup_jobs import BackupJobArgs, BackupPlan
from ..data.outputs import Database, DataOutputs, WorkloadAccess
from ..data.restore_jobs import templates
from ..egress import HttpsEgress
from ..image_source import ImageSource
from ..requests import WorkloadRequest, from_values, requests_of
from . import database_ca, mlflow_backups, mlflow_login
from .backend_ports import from_traefik
from .cert_manager import certificate
from .identity import IdentityOutputs
from .identity_values import CA_MOUNT
from .mlflow_grants import SCRIPT, psql_command
from .routes import APP_SIGN_IN, ingress_route, traefik_reader
from .scrape import ScrapeTarget, service_monitor
from .traefik import WEBSECURE_PORT

# MLflow's own login (mlflow_grants.APP_ROLE), which the chart reads; the master's, for the Jobs only.
DB_SECRET = "mlflow-database"
DB_ADMIN_SECRET = "mlflow-database-admin"
# The OIDC client secret (the chart's oidcAuth.existingSecret key) and the plugin's session key.
OIDC_SECRET = "mlflow-oidc"
S3_SECRET = "mlflow-s3"
# libpq's environment for MLflow's own connections (PGSSLMODE): psycopg's default, "prefer", would
# fall back to plaintext where a managed database must be reached over TLS. It goes through the
# chart's envFrom list, as extraEnvVars only documents MLflow's own variables.
# Ref: https://www.postgresql.org/docs/current/libpq-envars.html
PG_ENV_SECRET = "mlflow-postgres-env"
TLS_SECRET = "mlflow-tls"
SERVICE = names.RELEASE_MLFLOW  # the chart's fullname for release "mlflow"
# The Service's port (the chart's service.port, its default): a route names the Service's port, not
# the container's, or Traefik finds no server ("service port not found"; tests/test_traefik_backends.py).
SERVICE_PORT = 80
METRICS = ScrapeTarget(
    "mlflow", names.NS_MLFLOW, {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/instance": names.RELEASE_MLFLOW},
    "http",
)
PSQL_UID = 70
MLFLOW_UID = 1001  # the chart's (and image's) non-root user
METRICS_DIR = "/tmp/mlflow-metrics"
# One Job per MLflow version: a new image upgrades the schema before the new server starts.
UPGRADE_JOB = f"mlflow-db-upgrade-{versions.MLFLOW_IMAGE.tag.replace('.', '-')}"


@dataclass(frozen=True)
class MlflowArgs:
    provider: k8s.Provider
    domain: str
    issuer: str
    data: DataOutputs
    access: WorkloadAccess
    identity: IdentityOutputs
    https: HttpsEgress  # where it may open HTTPS connections: the store and the issuer (components/egress.py)
    issuers: tuple[pulumi.Resource, ...] = ()  # for its Certificate
    ingress: tuple[pulumi.Resource, ...] = ()  # Traefik's release: its CRDs, for its route
    # The monitoring CRDs, for its ServiceMonitor (only that waits for them); none: not scraped.
    monitoring: Optional[tuple[pulumi.Resource, ...]] = None
    replicas: int = 1
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)
    images: ImageSource = ImageSource()  # where each image is pulled from (lock, mirror)
    # Azure: the backup and restore Jobs run beside MLflow (mlflow_backups.py); None elsewhere.
    backup: Optional[BackupPlan] = None
    # AWS, GCP: the schema Job's pod as a suspended CronJob too, which never runs on its own: a restore
    # of another stack's backup (an instance with that stack's logins) runs it again to give MLflow its
    # own login, rights and schema there (names.MLFLOW_SCHEMA_TEMPLATE, cli/backup/schema_job.py).
    schema_template: bool = False


def _artifact_root(args: MlflowArgs) -> dict[str, Any]:
    store = args.data.object_store
    artifact_root: dict[str, Any] = {"proxiedArtifactStorage": True}
    if store.kind == "s3":
        s3: dict[str, Any] = {"enabled": True, "bucket": store.bucket, "path": names.BUCKET_PREFIX_MLFLOW}
        if args.access.static_keys is not None:
            # S3_SECRET holds the chart's default keys, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
            s3["existingSecret"] = {"name": S3_SECRET}
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
    return artifact_root


def _allowed_hosts(host: str) -> list[str]:
    # MLflow >= 3.5 checks the Host header (DNS-rebinding protection); an explicit list replaces
    # the default (localhost and private IPs), so those stay in for probes and Prometheus.
    # Ref: https://mlflow.org/docs/latest/self-hosting/security/network
    return [
        host,
        SERVICE,
        f"{SERVICE}.{names.NS_MLFLOW}",
        f"{SERVICE}.{names.NS_MLFLOW}.svc.cluster.local",
        "localhost*",
        "127.0.0.1*",
        "10.*",
        "172.*",
        "192.168.*",
    ]


def _oidc_auth(args: MlflowArgs, postgres: dict[str, Any]) -> dict[str, Any]:
    identity = args.identity
    return {
        "enabled": True,
        "discoveryUrl": identity.discovery_url,
        "clientId": identity.client_id,
        "existingSecret": {"name": OIDC_SECRET},  # its key: the chart's default, OIDC_CLIENT_SECRET
        "redirectUri": f"https://mlflow.{args.domain}/callback",
        "scope": ",".join(identity.scopes),
        # Bearer tokens must be the issuer's, for this stack's client.
        "audience": identity.client_id,
        "providerDisplayName": "Sign in",
        "groupsAttribute": identity.groups_claim,
        "groupName": list(identity.user_groups),
        "adminGroupName": list(identity.admin_groups),
        # Any identity the issuer vouches for gets this, with a bearer token too: nothing. Members
        # of the groups own what they create; admins grant the rest.
        "defaultPermission": "NO_PERMISSIONS",
        "database": {"postgres": {**postgres, "database": names.DATABASE_MLFLOW_AUTH, "driver": "psycopg2",
                                  "existingSecret": {"name": DB_SECRET}}},
    }


def _ca_env(args: MlflowArgs) -> dict[str, str]:
    # The plugin's requests (discovery, keys) and its token exchange (httpx) read these.
    bundle = f"{CA_MOUNT}/bundle.crt"
    return {"REQUESTS_CA_BUNDLE": bundle, "SSL_CERT_FILE": bundle} if args.identity.platform_ca else {}


def _pod_trust(args: MlflowArgs, login: mlflow_login.PodLogin) -> dict[str, Any]:
    """The server pod's trust: the issuer's (_ca_trust), the database's (database_ca.py) and, with a
    token login, its sidecar (`login`)."""
    issuer = _ca_trust(args)
    database = database_ca.pod_trust(args.data.database)
    added = {"initContainers": login.init_containers, "extraVolumes": [*database.volumes, *login.volumes],
             "extraVolumeMounts": [*database.mounts, *login.mounts]}
    return {key: [*issuer.get(key, []), *extra] for key, extra in added.items() if issuer.get(key) or extra}


def _ca_trust(args: MlflowArgs) -> dict[str, Any]:
    """Where the issuer is served with the platform CA: the usual trust store plus that CA, built by
    an init container into a bundle (the store replaces, not extends, the default one)."""
    if not args.identity.platform_ca:
        return {}
    script = ('cat "$(python -c \'import certifi; print(certifi.where())\')" /platform-ca/ca.crt '
              f"> {CA_MOUNT}/bundle.crt")
    return {
        "initContainers": [{
            "name": "ca-bundle",
            "image": args.images.ref(versions.MLFLOW_IMAGE),
            "command": ["/bin/sh", "-c", script],
            "resources": kube.resources("10m", "32Mi", "128Mi"),
            "securityContext": kube.container_security(run_as_user=MLFLOW_UID),
            "volumeMounts": [{"name": "platform-ca", "mountPath": "/platform-ca", "readOnly": True},
                             {"name": "ca-bundle", "mountPath": CA_MOUNT}],
        }],
        "extraVolumes": [
            {"name": "platform-ca", "secret": {"secretName": TLS_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            kube.empty_dir("ca-bundle", "1Mi"),
        ],
        "extraVolumeMounts": [{"name": "ca-bundle", "mountPath": CA_MOUNT, "readOnly": True}],
    }


def chart_values(args: MlflowArgs, flask_secret: pulumi.Input[str]) -> dict[str, Any]:
    db = args.data.database
    host = f"mlflow.{args.domain}"
    login = mlflow_login.pod_login(db, args.images, MLFLOW_UID)  # its env, and its sidecar (_pod_trust)
    # The login comes from DB_SECRET (existingDatabaseSecret / auth.postgres.existingSecret): the
    # chart then reads neither a user nor a password value.
    postgres = {"enabled": True, "host": db.host, "port": db.port, "database": db.name}
    # Only what MLflow's S3 client reads. The database's TLS mode comes from PG_ENV_SECRET.
    env = {e["name"]: e["value"] for e in args.data.object_store.env() if e["name"] in ("MLFLOW_S3_ENDPOINT_URL", "AWS_DEFAULT_REGION")}
    # The chart's own image is the pinned one (its appVersion, kept equal by the tests); its digest
    # and a mirror reach it through chart_images.py, like every chart's images.
    return {
        "replicaCount": args.replicas,
        # The chart names the account after the release, names.MLFLOW.service_account, to which
        # the cloud identity is bound.
        "serviceAccount": {
            "automount": False,
            "annotations": dict(args.access.annotations),
        },
        "extraPodLabels": dict(args.access.pod_labels),
        # The chart's databaseMigration and databaseConnectionCheck stay off (its defaults): this
        # component's own Job (UPGRADE_JOB) upgrades the schema before the release, because the
        # chart's migration init container reads its environment only from the chart's own
        # ConfigMap and Secrets (it could not be given the database's TLS mode) and its dbchecker
        # init container has no resources setting. DB_SECRET holds the chart's default keys,
        # username and password.
        "backendStore": {"postgres": postgres, "existingDatabaseSecret": {"name": DB_SECRET}},
        "artifactRoot": _artifact_root(args),
        "flaskServerSecretKey": flask_secret,
        "oidcAuth": _oidc_auth(args, postgres),
        # OIDC_ISSUER: the plugin checks a bearer token's issuer too (the chart has no key for it).
        # OIDC_PROVISION_ON_BEARER_AUTH: a script's user who never signed in through a browser is
        # created on the first bearer call, behind the same group gate as a sign-in and never as an
        # admin; without it, what they create is refused (the plugin's auth_middleware.py, 7.6.0).
        "extraEnvVars": {**env, "OIDC_ISSUER": args.identity.issuer, "OIDC_PROVISION_ON_BEARER_AUTH": "true",
                         **_ca_env(args), **login.env},
        # libpq's TLS mode (the chart reads OIDC_SECRET itself, through oidcAuth.existingSecret).
        "extraSecretNamesForEnvFrom": [PG_ENV_SECRET],
        "serverAllowedHosts": _allowed_hosts(host),
        "resources": kube.resources("100m", "384Mi", "1Gi"),
        # The chart sets neither a seccomp profile nor runAsNonRoot on the pod: the restricted Pod
        # Security level of the namespace would refuse its pods. Maps merge with the chart's
        # defaults (fsGroup 1001; containers non-root uid 1001, read-only, drop ALL).
        "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        # No Ingress (the chart's default): an IngressRoute of this component serves it (routes.py).
        **_pod_trust(args, login),
        # Metrics on /metrics of the server's port, scraped through our ServiceMonitor (METRICS).
        # The chart's own is left off: it renders only if the monitoring CRDs exist at install
        # time, and the MLflow release does not wait for kube-prometheus-stack. The flag names the
        # directory the server creates for its metrics: under /tmp, the chart's writable emptyDir
        # (the root filesystem is read-only; the chart's own choice, /mlflow/metrics, is not writable).
        "extraArgs": {"exposePrometheus": METRICS_DIR},
    }


def chart_requests(values: dict[str, Any]) -> list[WorkloadRequest]:
    server = from_values("mlflow", values, ("resources",), replicas=("replicaCount",))
    # A native sidecar (mlflow_login.py) runs beside the server: its requests add to the pod's.
    # Ref: https://kubernetes.io/docs/concepts/workloads/pods/sidecar-containers/#resource-sharing-within-containers
    sidecars = [requests_of(c.get("resources")) for c in values.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return [replace(server, cpu_millicores=server.cpu_millicores + sum(cpu for cpu, _ in sidecars),
                    memory_mebibytes=server.memory_mebibytes + sum(memory for _, memory in sidecars))]


def _database_env(db: Database) -> list[dict[str, Any]]:
    """libpq's connection variables for the tracking database, the login read from DB_SECRET."""
    return [
        {"name": "PGHOST", "value": db.host},
        {"name": "PGPORT", "value": str(db.port)},
        {"name": "PGDATABASE", "value": db.name},
    ]


def _login_env(secret: str = DB_ADMIN_SECRET) -> list[dict[str, Any]]:
    """libpq's login from `secret`: by default the master's, which only the platform's Jobs use."""
    return [
        {"name": "PGUSER", "valueFrom": {"secretKeyRef": {"name": secret, "key": "username"}}},
        {"name": "PGPASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}},
    ]


def _admin_env(db: Database, trust: database_ca.PodTrust) -> list[dict[str, Any]]:
    """libpq's environment for the master's connections (the schema Job, the backup Jobs): the
    tracking database, the TLS settings that verify the server, the master's login."""
    return [*_database_env(db), *({"name": k, "value": v} for k, v in trust.env.items()), *_login_env()]


class Mlflow(pulumi.ComponentResource):
    def __init__(self, name: str, args: MlflowArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:addons:Mlflow", name, None, opts)
        self._args = args
        # libpq's TLS settings and what verifying the database takes, for the Secret and the Job.
        self._trust = database_ca.pod_trust(args.data.database)
        ns = kube.namespace(names.NS_MLFLOW, f"{name}-ns", self, args.provider, depends_on=args.depends_on)
        network.namespace_policies(
            name, names.NS_MLFLOW, self, args.provider,
            ingress=[from_traefik(names.NS_MLFLOW)],
            # The store, and the issuer (the bundled one through Traefik, another at its ranges: egress.py).
            egress=[*network.object_store_egress(args.data.object_store), network.to_database(args.data.database),
                    network.to_namespace(names.NS_TRAEFIK, WEBSECURE_PORT), *args.https.to_store(), *args.https.to_issuer()],
            depends_on=ns.ready,
        )
        if args.monitoring is not None:
            service_monitor(f"{name}-monitor", METRICS, self, args.provider, [*ns.ready, *args.monitoring])
        flask_secret = random.RandomPassword(
            f"{name}-flask-secret", length=48, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        secrets = self._secrets(name, ns)
        admin_secret, pg_env, app_secret = secrets[3], secrets[2], secrets[0]
        database_ca_map = database_ca.configmap(name, args.data.database, self, args.provider, ns.ready)
        jobs = [self._schema_job(name, ns, [admin_secret, app_secret, pg_env, *database_ca_map])]
        host = f"mlflow.{args.domain}"
        tls = certificate(f"{name}-cert", names.NS_MLFLOW, TLS_SECRET, [host], args.issuer, self, args.provider,
                          [*ns.ready, *args.issuers])
        identity = [args.access.identity] if args.access.identity is not None else []
        # It reads the issuer's discovery document when it starts: after the issuer. With the
        # platform CA, after its certificate too (its ca.crt joins the trust bundle).
        self.release = kube.helm_release(
            f"{name}-release", names.RELEASE_MLFLOW, versions.MLFLOW, ns.name, self, args.provider,
            [*secrets, *database_ca_map, *jobs, *identity, *args.data.store_ready, *args.identity.ready,
             *([tls] if args.identity.platform_ca else [])],
            values=chart_values(args, pulumi.Output.secret(flask_secret.result)), timeout=900, images=args.images,
        )
        if args.backup is not None:
            # After the release, which makes the service account the Jobs run as.
            site = mlflow_backups.azure_site(args.data, args.access, self._trust, _admin_env(args.data.database, self._trust))
            templates(name, BackupJobArgs(plan=args.backup, bucket=args.data.object_store.bucket, site=site, images=args.images),
                      self, args.provider, [self.release, admin_secret, *database_ca_map, *identity, *ns.ready, *args.data.ready])
        access = traefik_reader(name, names.NS_MLFLOW, self, args.provider, ns.ready)
        ingress_route(f"{name}-route", "mlflow", names.NS_MLFLOW, f"Host(`{host}`)", [{"name": SERVICE, "port": SERVICE_PORT}],
                      TLS_SECRET, [], self, args.provider, [self.release, tls, *access, *args.ingress],
                      annotations=APP_SIGN_IN)
        self.url = f"https://{host}"
        self.register_outputs({"url": self.url, "release": self.release.status})

    def _secret(self, resource_name: str, secret_name: str, data: dict[str, Any], ns: kube.Namespace) -> k8s.core.v1.Secret:
        return k8s.core.v1.Secret(
            resource_name,
            metadata={"name": secret_name, "namespace": names.NS_MLFLOW, "labels": kube.labels("mlflow")},
            string_data=data,
            opts=kube.child(self, self._args.provider, ns.ready),
        )

    def _secrets(self, name: str, ns: kube.Namespace) -> list[pulumi.Resource]:
        """DB_SECRET, OIDC_SECRET, PG_ENV_SECRET, DB_ADMIN_SECRET and, with static keys, S3_SECRET, in that order."""
        args = self._args
        db = args.data.database
        # MLflow's own password, unless it logs in with its cloud identity's token (mlflow_login.py).
        self._app_password = None if db.iam_login is not None else random.RandomPassword(
            f"{name}-db-app-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self))
        # The plugin's session key is the chart's SECRET_KEY (from flaskServerSecretKey), set in the
        # container's env, which wins over anything in envFrom.
        oidc = {"OIDC_CLIENT_SECRET": args.identity.client_secret}
        secrets: list[pulumi.Resource] = [
            self._secret(f"{name}-db-secret", DB_SECRET,
                         mlflow_login.secret_data(db, self._app_password.result if self._app_password else None), ns),
            self._secret(f"{name}-oidc-secret", OIDC_SECRET, oidc, ns),
            self._secret(f"{name}-pg-env", PG_ENV_SECRET, self._trust.env, ns),
            self._secret(f"{name}-db-admin-secret", DB_ADMIN_SECRET, {"username": db.user, "password": db.password}, ns),
        ]
        if args.access.static_keys is not None:
            keys = {"AWS_ACCESS_KEY_ID": args.access.static_keys[0], "AWS_SECRET_ACCESS_KEY": args.access.static_keys[1]}
            secrets.append(self._secret(f"{name}-s3-secret", S3_SECRET, keys, ns))
        return secrets

    def _schema_job(self, name: str, ns: kube.Namespace, secrets: list[pulumi.Resource]) -> k8s.batch.v1.Job:
        """One Job per MLflow version, as the master, before the server starts: the auth plugin's
        database (created once), the tracking schema upgraded to the image's MLflow, then MLflow's own
        login and its rights (mlflow_grants.py). In one pod, in that order (init containers), so the
        three are one step of the deploy, not three in a row."""
        db = self._args.data.database
        trust = self._trust
        psql_env = _admin_env(db, trust)
        auth_database = {
            "name": "create-auth-database",
            "image": self._args.images.ref(versions.POSTGRES),
            "command": ["/bin/sh", "-c"],
            "args": [
                "psql -v ON_ERROR_STOP=1 -tAc "
                f"\"SELECT 1 FROM pg_database WHERE datname='{names.DATABASE_MLFLOW_AUTH}'\" "
                f"| grep -q 1 || psql -v ON_ERROR_STOP=1 -c 'CREATE DATABASE {names.DATABASE_MLFLOW_AUTH}'"
            ],
            "env": psql_env,
            "resources": kube.resources("20m", "32Mi", "128Mi"),
            "securityContext": kube.container_security(run_as_user=PSQL_UID),
            **_mounts(trust.mounts),
        }
        upgrade = {
            "name": "upgrade",
            "image": self._args.images.ref(versions.MLFLOW_IMAGE),
            # libpq reads the connection (and PGSSLMODE) from the environment.
            # Ref: https://mlflow.org/docs/latest/cli.html#mlflow-db-upgrade
            "command": ["mlflow", "db", "upgrade", "postgresql://"],
            "env": [{"name": "HOME", "value": "/tmp"}, *_database_env(db), *_login_env()],
            "envFrom": [{"secretRef": {"name": PG_ENV_SECRET}}],
            "resources": kube.resources("100m", "256Mi", "768Mi"),
            "securityContext": kube.container_security(run_as_user=MLFLOW_UID),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}, *trust.mounts],
        }
        grants = {
            "name": "grants",
            "image": self._args.images.ref(versions.POSTGRES),
            "command": ["/bin/sh", "-c", psql_command()],
            "env": [*psql_env,
                    {"name": "APP_PASSWORD", "valueFrom": {"secretKeyRef": {"name": DB_SECRET, "key": "password"}}},
                    *mlflow_login.grants_env(db),
                    {"name": "GRANTS", "value": SCRIPT},
                    # A new password is a new pod template, so the Job is replaced and runs again.
                    *([{"name": "APP_PASSWORD_VERSION", "value": self._app_password.result.apply(_fingerprint)}]
                      if self._app_password else [])],
            "resources": kube.resources("20m", "32Mi", "128Mi"),
            "securityContext": kube.container_security(run_as_user=PSQL_UID),
            **_mounts(trust.mounts),
        }
        # On Azure, MLflow's Entra user is made (as the server's Entra admin) before the grants.
        entra = mlflow_login.job_login(db, self._args.images, trust, PSQL_UID)
        depends_on = [*secrets, *ns.ready, *self._args.data.database_ready, *self._admin_account(name, entra, ns)]
        pod = kube.job_pod(MLFLOW_UID, [grants], init_containers=[auth_database, upgrade, *entra.init_containers],
                           volumes=[kube.empty_dir("tmp"), *trust.volumes, *entra.volumes], service_account=entra.service_account)
        labels = kube.labels("mlflow", "database")
        pod_labels = {**labels, **entra.pod_labels}
        if self._args.schema_template:
            self._template(name, pod, labels, pod_labels, depends_on)
        return kube.job(f"{name}-db-upgrade", {"name": UPGRADE_JOB, "namespace": names.NS_MLFLOW, "labels": labels},
                        pod, self, self._args.provider, depends_on, pod_labels=pod_labels)

    def _admin_account(self, name: str, entra: mlflow_login.JobLogin, ns: kube.Namespace) -> list[pulumi.Resource]:
        """The schema Job's service account where it logs in as the server's Entra admin (Azure)."""
        access, account = entra.admin, entra.service_account
        if access is None or account is None:
            return []
        return [kube.service_account(f"{name}-db-admin-sa", account, names.NS_MLFLOW, self, self._args.provider,
                                     annotations=access.annotations,
                                     depends_on=[*ns.ready, *([access.identity] if access.identity else [])])]

    def _template(self, name: str, pod: dict[str, Any], labels: dict[str, str], pod_labels: dict[str, str],
                  depends_on: list[pulumi.Resource]) -> None:
        k8s.batch.v1.CronJob(
            f"{name}-db-upgrade-template",
            metadata={"name": names.MLFLOW_SCHEMA_TEMPLATE, "namespace": names.NS_MLFLOW, "labels": labels},
            spec={
                # Never scheduled: a template only (a schedule is required).
                "suspend": True,
                "schedule": "0 0 1 1 *",
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "jobTemplate": {"metadata": {"labels": labels}, "spec": {
                    # A schema upgrade of a large registry takes minutes; the CLI waits this long and reports.
                    "backoffLimit": 2, "activeDeadlineSeconds": 3600, "ttlSecondsAfterFinished": 86400,
                    "template": {"metadata": {"labels": pod_labels}, "spec": pod}}},
            },
            opts=kube.child(self, self._args.provider, depends_on),
        )


def _mounts(mounts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"volumeMounts": mounts} if mounts else {}


def _fingerprint(secret: str) -> str:
    """A short digest naming a password's version without revealing it."""
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()[:12]
