"""Components under the Pulumi SDK's mocks, asserting the properties the platform promises."""

from __future__ import annotations

import json

import pytest
import yaml

from mlops_platform.components import names, versions
from mlops_platform.components.addons import detectors as detectors_module
from mlops_platform.components.cluster.kind import KindCluster, KindClusterArgs, kind_config
from mlops_platform.planner.harness import ProgramRun, run_program


def resource(run: ProgramRun, type_suffix: str, name: str, namespace: str | None = None):
    matches = [
        r
        for r in run.resources
        if r.type.endswith(type_suffix)
        and (r.input("metadata", "name") == name or r.input("name") == name)
        and (namespace is None or r.input("metadata", "namespace") == namespace)
    ]
    assert len(matches) == 1, f"{len(matches)} {type_suffix} named {name}"
    return matches[0]


def release(run: ProgramRun, name: str):
    return resource(run, ":Release", name)


def depends(run: ProgramRun, dependent, dependency) -> bool:
    """Whether `dependent` waits for `dependency` (directly or transitively)."""
    by_urn = run.by_urn()
    seen, todo = set(), [dependent.urn]
    while todo:
        urn = todo.pop()
        if urn == dependency.urn and urn != dependent.urn:
            return True
        if urn in seen:
            continue
        seen.add(urn)
        record = by_urn.get(urn)
        if record is not None:
            todo.extend(record.dependencies)
            if record.provider_urn:
                todo.append(record.provider_urn)
    return False


# --- kind -------------------------------------------------------------------------------------


def test_kind_config_maps_ingress_ports_on_loopback_with_a_pinned_image():
    config = yaml.safe_load(kind_config(KindClusterArgs(cluster_name="t", node_count=3)))
    control, *workers = config["nodes"]
    assert len(workers) == 2
    assert control["image"] == versions.KIND_NODE_IMAGE.ref and ":" in control["image"] and "latest" not in control["image"]
    assert all(w["image"] == versions.KIND_NODE_IMAGE.ref for w in workers)
    assert 'node-labels: "ingress-ready=true"' in control["kubeadmConfigPatches"][0]
    mappings = {m["hostPort"]: m for m in control["extraPortMappings"]}
    assert set(mappings) == {80, 443}
    assert all(m["listenAddress"] == "127.0.0.1" for m in mappings.values())


def test_kind_cluster_kubeconfig_is_a_secret_feeding_the_provider():
    def program():
        return KindCluster("k", KindClusterArgs(cluster_name="mlops-test"))

    run = run_program(program, "local-test")
    command = run.named("k-kind")
    assert "kind create cluster --name mlops-test" in command.input("create")
    assert command.input("delete") == "kind delete cluster --name mlops-test"
    assert "ingress-ready=true" in command.input("stdin")
    provider = run.named("k-k8s")
    assert provider.type == "pulumi:providers:kubernetes"
    assert provider.is_secret("kubeconfig")
    # The kubeconfig comes from the kind command's output, not from an ambient context.
    assert command.urn in provider.property_dependencies["kubeconfig"]
    component = run.result
    assert component.outputs.storage_class == "standard"
    assert component.outputs.ingress.node_ports == (30080, 30443)


# --- every resource ---------------------------------------------------------------------------


def test_no_resource_uses_a_default_provider(local_run):
    cluster_provider = local_run.named("mlops-cluster-k8s")
    for record in local_run.resources:
        if record.type.startswith("kubernetes:"):
            assert record.provider_urn == cluster_provider.urn, record.urn


def test_components_parent_their_children_and_use_the_type_token_scheme(local_run):
    components = [r for r in local_run.resources if not r.custom]
    assert {r.type for r in components} >= {
        "mlops:platform:MlopsPlatform",
        "mlops:cluster:KindCluster",
        "mlops:data:LocalData",
        "mlops:addons:CertManager",
        "mlops:addons:Traefik",
        "mlops:addons:KServe",
        "mlops:addons:Mlflow",
        "mlops:addons:Monitoring",
        "mlops:addons:Detectors",
        "mlops:addons:ModelServing",
    }
    urns = {r.urn for r in local_run.resources}
    for record in local_run.resources:
        if record.type != "mlops:platform:MlopsPlatform":
            assert record.parent in urns, f"{record.name} is not parented to a component"
    for record in local_run.resources:
        parent = next((r for r in components if r.urn == record.parent), None)
        if parent is not None and parent.type != "mlops:platform:MlopsPlatform":
            assert record.name.startswith(parent.name + "-"), f"{record.name} not named after {parent.name}"


def test_helm_releases_are_pinned_and_named(local_run):
    pins = {
        names.RELEASE_CERT_MANAGER: versions.CERT_MANAGER,
        names.RELEASE_TRAEFIK: versions.TRAEFIK,
        names.RELEASE_KSERVE_CRD: versions.KSERVE_CRD,
        names.RELEASE_KSERVE: versions.KSERVE_RESOURCES,
        names.RELEASE_KSERVE_RUNTIMES: versions.KSERVE_RUNTIME_CONFIGS,
        names.RELEASE_MONITORING: versions.KUBE_PROMETHEUS_STACK,
        names.RELEASE_MLFLOW: versions.MLFLOW,
        names.RELEASE_DEX: versions.DEX,
        names.RELEASE_SSO: versions.OAUTH2_PROXY,
        names.RELEASE_TOKENS: versions.OAUTH2_PROXY,
    }
    releases = local_run.helm_releases()
    assert {r.input("name") for r in releases} == set(pins)
    for record in releases:
        chart = pins[record.input("name")]
        assert record.input("chart") == chart.staged  # the checked archive, never fetched by name
        assert record.input("version") == chart.version


def test_generated_credentials_stay_secret(local_run):
    passwords = local_run.of_type("random:index/randomPassword:RandomPassword")
    assert len(passwords) >= 8
    secrets = local_run.of_type("kubernetes:core/v1:Secret")
    assert secrets
    for secret in secrets:
        assert secret.is_secret("stringData"), secret.name  # the engine keeps every Secret's data secret
    # What is shown masks exactly the generated values: passwords and secret keys, not user names.
    shown = {s.input("metadata", "name"): s.input("stringData") for s in secrets}
    assert shown["postgres-credentials"] == {"password": "[secret]"}
    assert shown["mlflow-database"] == {"password": "[secret]", "username": "mlflow_app"}
    assert shown["mlflow-database-admin"] == {"password": "[secret]", "username": "mlflow"}
    assert shown["mlflow-postgres-env"] == {"PGSSLMODE": "disable"}
    assert shown["seaweedfs-admin"]["AWS_SECRET_ACCESS_KEY"] == "[secret]"
    plan_text = json.dumps([r.to_json() for r in local_run.resources])
    secret_values = local_run.secret_values
    assert len(secret_values) >= 8 and not [v for v in secret_values if v in plan_text], "a generated secret was shown"
    mlflow = release(local_run, names.RELEASE_MLFLOW)
    assert mlflow.is_secret("values.flaskServerSecretKey")
    values = mlflow.input("values")
    # Passwords and the sign-in client's secret reach the chart as Secret references, never as values.
    assert "password" not in values["backendStore"]["postgres"] and "password" not in values["oidcAuth"]["database"]["postgres"]
    assert values["backendStore"]["existingDatabaseSecret"]["name"] == "mlflow-database"
    assert values["oidcAuth"]["existingSecret"]["name"] == "mlflow-oidc" and "clientSecret" not in values["oidcAuth"]
    assert "auth" not in values, "no shared MLflow admin login"
    assert shown["mlflow-oidc"] == {"OIDC_CLIENT_SECRET": "[secret]"}
    assert shown["grafana-oidc"] == {"client-secret": "[secret]"}
    # The bundled issuer: its whole configuration (static client secret, admin hash) is one Secret.
    assert set(shown["dex-config"]) == {"config.yaml"} and shown["dex-config"]["config.yaml"] == "[secret]"


# --- ordering ---------------------------------------------------------------------------------


def test_crds_and_issuers_come_before_what_uses_them(local_run):
    cert_manager = release(local_run, names.RELEASE_CERT_MANAGER)
    ca_issuer = resource(local_run, ":ClusterIssuer", names.CA_ISSUER)
    assert depends(local_run, ca_issuer, cert_manager)
    for certificate in local_run.of_type("kubernetes:cert-manager.io/v1:Certificate"):
        assert depends(local_run, certificate, cert_manager), certificate.name
    kserve_crd = release(local_run, names.RELEASE_KSERVE_CRD)
    kserve = release(local_run, names.RELEASE_KSERVE)
    runtimes = release(local_run, names.RELEASE_KSERVE_RUNTIMES)
    assert depends(local_run, kserve, kserve_crd) and depends(local_run, runtimes, kserve)
    assert depends(local_run, kserve, cert_manager), "KServe's webhook certificate needs cert-manager's CRDs"
    assert not depends(local_run, kserve_crd, cert_manager), "the CRD chart needs nothing from cert-manager"
    isvc = resource(local_run, ":InferenceService", "iris")
    assert depends(local_run, isvc, runtimes)
    monitoring = release(local_run, names.RELEASE_MONITORING)
    for kind in (":ServiceMonitor", ":PrometheusRule"):
        for record in [r for r in local_run.resources if r.type.endswith(kind)]:
            assert depends(local_run, record, monitoring), record.name
    mlflow = release(local_run, names.RELEASE_MLFLOW)
    assert not depends(local_run, mlflow, monitoring), "MLflow's ServiceMonitor is Monitoring's, not the chart's"
    traefik = release(local_run, names.RELEASE_TRAEFIK)
    for route in [r for r in local_run.resources if r.type.endswith(":IngressRoute")]:
        assert depends(local_run, route, traefik), route.name


# --- addons -----------------------------------------------------------------------------------


def test_cert_manager_installs_its_crds_and_a_ca(local_run):
    values = release(local_run, names.RELEASE_CERT_MANAGER).input("values")
    assert values["crds"] == {"enabled": True, "keep": False}
    root = resource(local_run, ":Certificate", "mlops-root-ca")
    assert root.input("spec", "isCA") is True
    issuer = resource(local_run, ":ClusterIssuer", names.CA_ISSUER)
    assert issuer.input("spec", "ca", "secretName") == root.input("spec", "secretName")
    assert not [r for r in local_run.resources if r.input("metadata", "name") == names.ACME_ISSUER]


def test_traefik_ports_tls_and_sign_in(local_run, local_config, local_view):
    values = release(local_run, names.RELEASE_TRAEFIK).input("values")
    # No IngressClass: nothing the platform makes uses the Ingress API but cert-manager's HTTP-01
    # solver, which names the class by annotation.
    assert [o.name for o in local_view.installed() if o.kind == "IngressClass"] == []
    # kind maps host 80/443 to these NodePorts on the ingress-ready node.
    assert values["service"]["spec"]["type"] == "NodePort"
    assert (values["ports"]["web"]["nodePort"], values["ports"]["websecure"]["nodePort"]) == (30080, 30443)
    assert values["nodeSelector"] == {"ingress-ready": "true"}
    assert all("hostPort" not in p for p in values["ports"].values())
    assert values["tlsStore"]["default"]["defaultCertificate"]["secretName"] == "traefik-default-cert"
    default_cert = resource(local_run, ":Certificate", "traefik-default-cert")
    assert default_cert.input("spec", "dnsNames") == [local_config.effective_domain, f"*.{local_config.effective_domain}"]
    # The detectors' entrypoint is on the internal ClusterIP Service only, never on the public one.
    services = {o.name: o.manifest["spec"] for o in local_view.installed() if o.kind == "Service" and o.namespace == "traefik"}
    assert {p["port"] for p in services["traefik-internal"]["ports"]} == {names.DETECTOR_ENTRYPOINT_PORT}
    assert services["traefik-internal"]["type"] == "ClusterIP"
    assert names.DETECTOR_ENTRYPOINT_PORT not in {p["port"] for p in services["traefik"]["ports"]}
    assert {p.get("nodePort") for p in services["traefik"]["ports"]} == {30080, 30443}
    # No shared password: the UIs without a sign-in of their own go through oauth2-proxy.
    assert not [r for r in local_run.of_type("kubernetes:core/v1:Secret") if r.input("type") == "kubernetes.io/basic-auth"]
    sso = {ns: resource(local_run, ":Middleware", "sso", ns).input("spec", "forwardAuth") for ns in (names.NS_TRAEFIK, names.NS_MONITORING)}
    for forward in sso.values():
        assert forward["address"] == "http://oauth2-proxy.identity.svc.cluster.local/"
        assert forward["trustForwardHeader"] is False, "a caller must not forge who it is"
        assert "X-Auth-Request-Groups" in forward["authResponseHeaders"]
    token = resource(local_run, ":Middleware", "model-token", names.NS_MODELS).input("spec", "forwardAuth")
    assert token["address"] == "http://oauth2-proxy-tokens.identity.svc.cluster.local/oauth2/auth", "401, not a redirect, for scripts"
    routes = {r.input("metadata", "name"): r for r in local_run.resources if r.type.endswith(":IngressRoute")}
    for protected in ("traefik-dashboard", "prometheus", "alertmanager"):
        assert routes[protected].input("spec", "routes")[0]["middlewares"] == [{"name": "sso"}]
    for own in ("grafana", "mlflow"):
        assert "middlewares" not in routes[own].input("spec", "routes")[0]
        assert routes[own].input("metadata", "annotations") == {names.SIGN_IN_ANNOTATION: "oidc"}
    assert routes["iris"].input("spec", "routes")[0]["middlewares"] == [{"name": "model-token"}]
    assert routes["iris"].input("spec", "tls") == {"secretName": "iris-tls"}, "the model host has its own certificate"
    iris_cert = resource(local_run, ":Certificate", "iris-tls")
    assert iris_cert.input("spec", "dnsNames") == [f"iris-models.{local_config.effective_domain}"]


def test_grafana_roles_follow_groups_and_refuse_everyone_else(local_run):
    import jmespath  # what Grafana evaluates role_attribute_path with (its Go port, same grammar)

    grafana = release(local_run, names.RELEASE_MONITORING).input("values")["grafana"]
    oauth = grafana["grafana.ini"]["auth.generic_oauth"]
    assert oauth["enabled"] is True and oauth["role_attribute_strict"] is True, "no role: no sign-in"
    roles = {group: jmespath.search(oauth["role_attribute_path"], claims) for group, claims in (
        ("admin", {"groups": ["x", "mlops-admins"]}), ("user", {"groups": ["mlops-users"]}),
        ("outsider", {"groups": ["contractors"]}), ("no claim", {}))}
    assert roles == {"admin": "Admin", "user": "Viewer", "outsider": False, "no claim": False}
    assert oauth["auth_url"] == "https://dex.127.0.0.1.sslip.io/auth" and oauth["use_pkce"] is True
    assert "client_secret" not in oauth, "read from the grafana-oidc Secret"
    assert grafana["envValueFrom"]["GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET"]["secretKeyRef"]["name"] == "grafana-oidc"
    from mlops_platform.components.addons.monitoring import GRAFANA_SIDECAR_ROLE

    assert grafana["rbac"] == {"namespaced": True, "useExistingRole": GRAFANA_SIDECAR_ROLE}
    assert grafana["sidecar"]["dashboards"]["resource"] == "configmap", "its Role reads ConfigMaps, never Secrets"


def test_the_ui_sign_in_allows_the_stacks_groups_and_the_token_check_its_client(local_run):
    values = {r.input("name"): r.input("values") for r in local_run.helm_releases()}
    sso, tokens = values[names.RELEASE_SSO]["extraArgs"], values[names.RELEASE_TOKENS]["extraArgs"]
    assert sso["allowed-group"] == "mlops-admins,mlops-users" and sso["oidc-groups-claim"] == "groups"
    assert sso["oidc-issuer-url"] == tokens["oidc-issuer-url"] == "https://dex.127.0.0.1.sslip.io"
    assert sso["cookie-secure"] == "true" and sso["redirect-url"] == "https://auth.127.0.0.1.sslip.io/oauth2/callback"
    # Model calls: a bearer token the issuer signed for the stack's client, no browser session.
    assert tokens["skip-jwt-bearer-tokens"] == "true" and "allowed-group" not in tokens
    assert "extra-jwt-issuers" not in tokens, "no other audiences unless the stack lists tokenAudiences"
    for release in (names.RELEASE_SSO, names.RELEASE_TOKENS):
        assert values[release]["config"]["existingSecret"], "the client secret and cookie secret from a Secret"
        assert "clientSecret" not in values[release]["config"]


def test_kserve_standard_mode_behind_traefik(local_run, local_config):
    values = release(local_run, names.RELEASE_KSERVE).input("values")["kserve"]["controller"]
    assert values["deploymentMode"] == "Standard"
    assert values["gateway"]["ingressGateway"]["className"] == "traefik"
    assert values["gateway"]["domain"] == local_config.effective_domain == "127.0.0.1.sslip.io"
    runtimes = release(local_run, names.RELEASE_KSERVE_RUNTIMES).input("values")
    assert runtimes["kserve"]["servingruntime"]["enabled"] is True


def test_local_data_services_and_mlflow_wiring(local_run):
    seaweedfs = resource(local_run, ":Deployment", "seaweedfs")
    container = seaweedfs.input("spec", "template", "spec", "containers")[0]
    assert container["image"] == versions.SEAWEEDFS.ref and "-s3" in container["args"]
    postgres = resource(local_run, ":Deployment", "postgres")
    assert postgres.input("spec", "template", "spec", "containers")[0]["image"] == versions.POSTGRES.ref
    assert postgres.input("spec", "template", "spec", "volumes")[0]["persistentVolumeClaim"]["claimName"] == "postgres-data"
    values = release(local_run, names.RELEASE_MLFLOW).input("values")
    assert values["backendStore"]["postgres"]["host"] == "postgres.data.svc.cluster.local"
    oidc = values["oidcAuth"]
    assert oidc["enabled"] is True and oidc["discoveryUrl"] == "https://dex.127.0.0.1.sslip.io/.well-known/openid-configuration"
    assert oidc["database"]["postgres"]["database"] == names.DATABASE_MLFLOW_AUTH
    assert (oidc["groupName"], oidc["adminGroupName"]) == (["mlops-users"], ["mlops-admins"])
    assert oidc["defaultPermission"] == "NO_PERMISSIONS", "a signed-in user sees only what is granted"
    assert oidc["redirectUri"] == "https://mlflow.127.0.0.1.sslip.io/callback"
    assert values["artifactRoot"]["proxiedArtifactStorage"] is True
    assert values["artifactRoot"]["s3"]["bucket"] == "mlops-artifacts"
    assert values["extraEnvVars"]["MLFLOW_S3_ENDPOINT_URL"] == "http://seaweedfs.data.svc.cluster.local:8333"
    assert "ingress" not in values, "served by the platform's own IngressRoute"
    assert resource(local_run, ":IngressRoute", "mlflow").input("spec", "routes")[0]["match"] == "Host(`mlflow.127.0.0.1.sslip.io`)"
    assert "serviceMonitor" not in values, "scraped through Monitoring's ServiceMonitor instead"
    assert values["extraArgs"] == {"exposePrometheus": "/tmp/mlflow-metrics"}
    from mlops_platform.components.addons.mlflow import UPGRADE_JOB

    schema_job = resource(local_run, ":Job", UPGRADE_JOB)
    steps = [c["name"] for c in schema_job.input("spec", "template", "spec", "initContainers")]
    assert steps == ["create-auth-database", "upgrade"]
    assert depends(local_run, release(local_run, names.RELEASE_MLFLOW), schema_job)


def test_monitoring_watches_every_namespace(local_run):
    values = release(local_run, names.RELEASE_MONITORING).input("values")
    spec = values["prometheus"]["prometheusSpec"]
    for key in ("serviceMonitor", "podMonitor", "rule", "probe"):
        assert spec[f"{key}SelectorNilUsesHelmValues"] is False
    assert values["grafana"]["admin"]["existingSecret"] == "grafana-admin"
    grafana_secret = resource(local_run, ":Secret", "grafana-admin")
    assert grafana_secret.is_secret("stringData")
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "standard"


# --- detectors and the served model -----------------------------------------------------------


def test_inference_service_logs_to_the_detector_fan_out(local_run):
    isvc = resource(local_run, ":InferenceService", "iris")
    predictor = isvc.input("spec", "predictor")
    assert predictor["model"]["storageUri"] == "gs://kfserving-examples/models/sklearn/1.0/model"
    assert predictor["logger"] == {
        "mode": "request",
        "url": "http://traefik-internal.traefik.svc.cluster.local:9101/iris/",
    }
    route = resource(local_run, ":IngressRoute", "iris-detectors")
    spec = route.input("spec")
    assert spec["entryPoints"] == [names.DETECTOR_ENTRYPOINT]
    assert spec["routes"][0]["match"] == "PathPrefix(`/iris/`)"
    assert spec["routes"][0]["services"] == [{"name": "iris-detectors", "kind": "TraefikService"}]
    mirror = resource(local_run, ":TraefikService", "iris-detectors").input("spec", "mirroring")
    assert (mirror["name"], mirror["mirrors"][0]["name"], mirror["mirrors"][0]["percent"]) == ("iris-drift", "iris-outlier", 100)
    services = {r.input("metadata", "name") for r in local_run.of_type("kubernetes:core/v1:Service")}
    assert {"iris-drift", "iris-outlier"} <= services


def test_detectors_run_the_apache_licensed_server_and_expose_metrics(local_run):
    for kind in ("drift", "outlier"):
        deployment = resource(local_run, ":Deployment", f"iris-{kind}")
        container = deployment.input("spec", "template", "spec", "containers")[0]
        assert container["image"].split("@")[0] == "seldonio/alibi-detect-server:1.17.1"
        assert container["image"] == versions.ALIBI_DETECT_SERVER.ref, "pinned by the lock's digest"
        assert "--storage_uri=/mnt/detector" in container["args"]
        assert ("DriftDetector" if kind == "drift" else "OutlierDetector") in container["args"]
        monitor = resource(local_run, ":ServiceMonitor", f"iris-{kind}")
        assert monitor.input("spec", "endpoints") == [{"port": "http", "path": "/v1/metrics", "interval": "30s"}]
    rules = resource(local_run, ":PrometheusRule", "iris-detectors").input("spec", "groups")[0]["rules"]
    drift_rule = next(r for r in rules if r["alert"] == "ModelDriftDetected")
    assert "seldon_metric_drift_is_drift" in drift_rule["expr"] and 'service="iris-drift"' in drift_rule["expr"]


def test_each_detector_artifact_comes_from_the_fit_job(local_run, local_config):
    """Where every fitted artifact comes from: the fit Job writes <store>/detectors/iris/<version>/,
    and each detector's init container fetches exactly <that>/<kind> after the Job succeeded."""
    model = local_config.models[0]
    version = detectors_module.artifact_version(model, detectors_module.fit_script())
    destination = f"s3://mlops-artifacts/detectors/iris/{version}"
    job = resource(local_run, ":Job", f"iris-fit-{version[:8]}")
    pod = job.input("spec", "template", "spec")
    fit = next(c for c in pod["initContainers"] if c["name"] == "fit")
    assert fit["image"] == versions.ALIBI_DETECT_SERVER.ref, "fitted with the detector image's own alibi-detect"
    env = {e["name"]: e["value"] for e in fit["env"]}
    assert env["REFERENCE"] == "sklearn:iris" and env["DRIFT"] == "1" and env["OUTLIER"] == "1"
    upload = pod["containers"][0]
    assert upload["image"] == versions.AWS_CLI.ref
    assert upload["args"] == [f"aws s3 cp --recursive --only-show-errors /work/artifacts {destination}/"]
    assert pod["serviceAccountName"] == names.DETECTOR_FITTER.service_account
    script = resource(local_run, ":ConfigMap", "fit-detectors-script")
    assert script.input("data", "fit_detectors.py") == detectors_module.fit_script()
    for kind in ("drift", "outlier"):
        deployment = resource(local_run, ":Deployment", f"iris-{kind}")
        fetch = deployment.input("spec", "template", "spec", "initContainers")[0]
        assert fetch["image"] == versions.KSERVE_STORAGE_INITIALIZER.ref
        assert fetch["args"] == [f"{destination}/{kind}", "/mnt/detector"]
        assert depends(local_run, deployment, job), "detectors start only after the artifacts exist"


def test_artifact_version_changes_with_what_shapes_the_artifacts(local_config):
    model = local_config.models[0]
    script = detectors_module.fit_script()
    base = detectors_module.artifact_version(model, script)
    assert base == detectors_module.artifact_version(model, script)
    changed_p = model.model_copy(update={"drift": model.drift.model_copy(update={"p_value": 0.01})})
    assert detectors_module.artifact_version(changed_p, script) != base
    assert detectors_module.artifact_version(model, script + "\n# changed") != base


def test_fit_script_parses_and_reads_what_the_job_sets():
    import ast

    source = detectors_module.fit_script()
    tree = ast.parse(source)
    read = {
        node.slice.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)
    } | {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get" and node.args and isinstance(node.args[0], ast.Constant)
    }
    assert {"MODEL_NAME", "REFERENCE", "OUT_DIR", "P_VALUE", "THRESHOLD_PERCENTILE", "DRIFT", "OUTLIER"} <= read


def test_a_reference_sample_in_a_bucket_is_fetched_before_fitting():
    from mlops_platform.components.config import PlatformConfig, read_stack_values
    from mlops_platform.planner.harness import plan_platform
    from support import STACKS

    values = read_stack_values(STACKS / "Pulumi.local-dev.yaml")
    values["models"] = [{**values["models"][0], "referenceData": "s3://mlops-artifacts/reference/iris.csv"}]
    run = plan_platform(PlatformConfig.from_values(values, "variant", "local-dev"))
    job = next(r for r in run.kubernetes_objects() if r.input("kind") == "Job" and r.input("metadata", "name").startswith("iris-fit"))
    fetch, fit = job.input("spec", "template", "spec", "initContainers")
    assert fetch["name"] == "fetch-reference" and fetch["image"] == versions.KSERVE_STORAGE_INITIALIZER.ref
    assert fetch["args"] == ["s3://mlops-artifacts/reference/iris.csv", "/work/reference"]
    assert {"name": "work", "mountPath": "/work"} in fetch["volumeMounts"]
    assert {"secretRef": {"name": "detector-fitter-s3"}} in fetch["envFrom"]
    assert {e["name"]: e["value"] for e in fit["env"]}["REFERENCE"] == "/work/reference/iris.csv"


def test_grafanas_session_cookie_is_secure_and_its_root_url_the_route(local_view):
    """As Grafana reads them: the grafana.ini the chart renders into its ConfigMap."""
    import configparser

    config = next(o for o in local_view.installed() if o.kind == "ConfigMap" and "grafana.ini" in (o.manifest.get("data") or {}))
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(config.manifest["data"]["grafana.ini"])
    assert ini["security"]["cookie_secure"] == "true" and ini["security"]["cookie_samesite"] == "lax"
    assert ini["server"]["root_url"] == "https://grafana.127.0.0.1.sslip.io"


@pytest.mark.parametrize("stack", ["local-dev", "aws-prod"])
def test_every_https_route_carries_the_security_headers(stack, viewed):
    """Traefik runs the headers Middleware on its websecure entrypoint (so every route there has it,
    those added later too), and the Middleware it names exists where its CRD provider reads."""
    from mlops_platform.components import names

    view = viewed(stack)
    traefik = next(o for o in view.installed() if o.kind == "Deployment" and o.release == names.RELEASE_TRAEFIK)
    args = traefik.manifest["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--entryPoints.websecure.http.middlewares=traefik-security-headers@kubernetescrd" in args
    middleware = next(o for o in view.installed() if o.kind == "Middleware" and o.name == "security-headers")
    assert middleware.namespace == names.NS_TRAEFIK and names.NS_TRAEFIK in names.TRAEFIK_SERVED
    headers = middleware.manifest["spec"]["headers"]
    assert headers["stsSeconds"] >= 31536000 and headers["contentTypeNosniff"] is True and headers["frameDeny"] is True
    # The web entrypoint only redirects to websecure: no route is served without the headers.
    assert any(a.startswith("--entryPoints.web.http.redirections.entryPoint.to=") for a in args)
