"""MLflow logs in to Cloud SQL as its own Google service account, to RDS as its environment's user
through its IRSA role (IAM database authentication), and to Flexible Server as its managed identity
(Entra ID), with no password of its own (components/data/gcp.py _iam_login, aws.py _login_right,
azure.py _entra_login, components/addons/mlflow_login.py), and local keeps MLflow's password login:
what each shipped stack's plan creates and what its cluster receives. The sidecar's loop and libpq's use of its file run for real in test_db_login_token.py;
the grants for the IAM user on a real PostgreSQL in test_db_least_privilege.py."""

from __future__ import annotations

import json

import pytest

from mlops_platform.components import names
from mlops_platform.components.addons import mlflow, mlflow_login
from mlops_platform.components.addons.mlflow_grants import APP_ROLE
from mlops_platform.components.data.outputs import IAM_AUTHENTICATION_FLAG
from mlops_platform.planner.mocks import azure_identity_ids
from support import SHIPPED_STACKS, one
from support.rendered import of

GCP_STACKS = [s for s in SHIPPED_STACKS if s.startswith("gcp")]
AWS_STACKS = [s for s in SHIPPED_STACKS if s.startswith("aws")]
AZURE_STACKS = [s for s in SHIPPED_STACKS if s.startswith("azure")]
OTHER_STACKS = [s for s in SHIPPED_STACKS if s.startswith("local")]
TOKEN = {"aws": ("rds", "300"), "gcp": ("cloudsql", "600"), "azure": ("entra", "600")}


def _login(stack, run):
    if stack.startswith("gcp"):
        return _mlflow_login(run)
    if stack.startswith("azure"):  # the managed identity's name
        return one(run, "azure-native:managedidentity:UserAssignedIdentity", f"-{names.MLFLOW.role}-identity").input("resourceName")
    return names.mlflow_database_login(stack.split("-", 1)[1])


def _mlflow_login(run):
    """The IAM database user: MLflow's service account's e-mail, without `.gserviceaccount.com`."""
    account = one(run, "gcp:serviceaccount/account:Account", f"-{names.MLFLOW.role}-sa")
    [user] = [u for u in run.of_type("gcp:sql/user:User") if u.input("type") == "CLOUD_IAM_SERVICE_ACCOUNT"]
    login = user.input("name")
    assert login.startswith(f"{account.input('accountId')}@") and login.endswith(".iam"), login
    return login


def _server_pod(view):
    [deployment] = [d for d in of(view, "Deployment") if d["metadata"]["name"] == names.RELEASE_MLFLOW]
    return deployment["spec"]["template"]["spec"]


def _env(container):
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def _login_secret(view):
    [secret] = [s for s in of(view, "Secret") if s["metadata"]["name"] == mlflow.DB_SECRET]
    return secret.get("stringData") or {}


def _grants(view):
    [job] = [j for j in of(view, "Job") if j["metadata"]["name"] == mlflow.UPGRADE_JOB]
    [grants] = [c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == "grants"]
    return _env(grants)


@pytest.mark.parametrize("stack", GCP_STACKS)
def test_cloud_sql_lets_mlflows_service_account_log_in_to_this_instance_only(stack, planned):
    run = planned(stack)
    instance = one(run, "gcp:sql/databaseInstance:DatabaseInstance")
    flags = {f["name"]: f["value"] for f in instance.input("settings", "databaseFlags")}
    assert flags[IAM_AUTHENTICATION_FLAG] == "on"
    login = _mlflow_login(run)
    email = f"{login}.gserviceaccount.com"
    [user] = [u for u in run.of_type("gcp:sql/user:User") if u.input("type") == "CLOUD_IAM_SERVICE_ACCOUNT"]
    assert user.input("password") is None and user.input("instance") == instance.input("name")
    project = login.split("@")[1].removesuffix(".iam")
    right = one(run, "gcp:projects/iAMMember:IAMMember", "-mlflow-sql-login")
    assert right.input("role") == "roles/cloudsql.instanceUser"
    assert right.input("member") == f"serviceAccount:{email}"
    name = instance.input("name")
    assert right.input("condition", "expression") == (f"resource.name == 'projects/{project}/instances/{name}' && "
                                                      "resource.type == 'sqladmin.googleapis.com/Instance'")
    # No other workload may log in.
    assert len([r for r in run.of_type("gcp:projects/iAMMember:IAMMember") if "cloudsql" in str(r.input("role"))]) == 1


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_rds_lets_mlflows_role_log_in_as_its_environments_user_only(stack, planned, stack_config):
    run = planned(stack)
    instance = one(run, "aws:rds/instance:Instance")
    assert instance.input("iamDatabaseAuthenticationEnabled") is True
    right = one(run, "aws:iam/rolePolicy:RolePolicy", "-mlflow-db-login")
    role = one(run, "aws:iam/role:Role", f"-{names.MLFLOW.role}-role")
    assert role.urn in right.property_dependencies.get("role", []), "MLflow's role, and no other"
    [statement] = json.loads(right.input("policy"))["Statement"]
    assert statement["Action"] == "rds-db:connect"
    env = stack.split("-", 1)[1]
    region = stack_config(stack).region
    assert statement["Resource"] == f"arn:aws:rds-db:{region}:123456789012:dbuser:*/mlops-{env}-mlflow"
    # Only MLflow's role may log in.
    assert [p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if "rds-db" in str(p.input("policy"))] == [right]


@pytest.mark.parametrize("stack", [*GCP_STACKS, *AWS_STACKS, *AZURE_STACKS])
def test_mlflow_reads_a_fresh_token_and_holds_no_password(stack, planned, viewed):
    login = _login(stack, planned(stack))
    view = viewed(stack)
    assert _login_secret(view) == {"username": login, "password": ""}
    pod = _server_pod(view)
    [server] = [c for c in pod["containers"] if c["name"] == "mlflow"]
    env = _env(server)
    assert env["PGPASSFILE"] == mlflow_login.PGPASS_FILE
    assert env["PGOPTIONS"] == f"-c role={APP_ROLE}", "the sessions act as the role that holds the rights"
    assert env["PGUSER"] is None  # from the Secret: the IAM user
    inits = pod["initContainers"]
    [sidecar] = [c for c in inits if c["name"] == mlflow_login.SIDECAR]
    assert sidecar["restartPolicy"] == "Always", "a native sidecar: it keeps refreshing beside the server"
    assert sidecar["startupProbe"]["exec"]["command"] == ["test", "-s", mlflow_login.PGPASS_FILE]
    side_env = _env(sidecar)
    assert side_env["DB_LOGIN_USER"] == login and side_env["PGPASSFILE"] == mlflow_login.PGPASS_FILE
    kind, refresh = TOKEN[stack.split("-")[0]]
    assert (side_env["DB_LOGIN_TOKEN"], side_env["TOKEN_REFRESH_SECONDS"]) == (kind, refresh)
    if kind == "rds":  # signed for the instance's region (its endpoint names it)
        assert side_env["DB_LOGIN_HOST"].endswith(f".{side_env['DB_LOGIN_REGION']}.rds.amazonaws.com")
    [chart_env] = [c for c in of(view, "ConfigMap") if c["metadata"]["name"] == f"{names.RELEASE_MLFLOW}-env-configmap"]
    assert side_env["DB_LOGIN_HOST"] == chart_env["data"]["PGHOST"], "the file's line names the host libpq dials"
    assert side_env["DB_LOGIN_PORT"] == str(chart_env["data"]["PGPORT"])
    # The file the sidecar writes is the one the server reads, in memory, read-only for the server.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes[mlflow_login.VOLUME]["emptyDir"]["medium"] == "Memory"
    [writes] = [m for m in sidecar["volumeMounts"] if m["name"] == mlflow_login.VOLUME]
    [reads] = [m for m in server["volumeMounts"] if m["name"] == mlflow_login.VOLUME]
    assert writes["mountPath"] == reads["mountPath"] == mlflow_login.LOGIN_DIR and reads["readOnly"] is True
    assert _grants(view)["IAM_LOGIN"] == "true" and _grants(view)["LOGIN_ROLE"] == login


@pytest.mark.parametrize("stack", OTHER_STACKS)
def test_the_other_clouds_keep_mlflows_own_password(stack, viewed):
    view = viewed(stack)
    secret = _login_secret(view)
    assert secret["username"] == APP_ROLE and secret["password"]
    pod = _server_pod(view)
    assert mlflow_login.SIDECAR not in {c["name"] for c in pod.get("initContainers") or []}
    [server] = [c for c in pod["containers"] if c["name"] == "mlflow"]
    assert "PGPASSFILE" not in _env(server) and "PGOPTIONS" not in _env(server)
    assert _grants(view)["IAM_LOGIN"] == "false"


@pytest.mark.parametrize("stack", ["gcp-dev", "azure-dev", "local-dev"])
def test_the_data_output_names_mlflows_iam_login_for_the_restore(stack, stack_config):
    """`platform restore` reads the IAM user it adds to a restored instance from the `data` output."""
    import pulumi

    from mlops_platform.components.platform import MlopsPlatform
    from mlops_platform.planner.harness import run_program

    seen: dict = {}

    def program():
        platform = MlopsPlatform("mlops", stack_config(stack))
        pulumi.Output.from_input(platform.data_stores).apply(lambda values: seen.update(data=values))
        return platform

    run = run_program(program, stack)
    database = seen["data"]["database"]
    if not stack.startswith("local"):
        assert database["iam_login"] == _login(stack, run)
    else:
        assert "iam_login" not in database


def _identity(run, suffix):
    return one(run, "azure-native:managedidentity:UserAssignedIdentity", suffix)


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_flexible_server_takes_entra_logins_and_the_schema_jobs_identity_is_its_only_admin(stack, planned):
    run = planned(stack)
    server = one(run, "azure-native:dbforpostgresql:Server")
    auth = server.input("authConfig")
    assert (auth["activeDirectoryAuth"], auth["passwordAuth"]) == ("Enabled", "Enabled")
    assert auth["tenantId"]
    admin = _identity(run, "-db-admin-identity")
    assert admin.input("resourceName") == f"mlops-{stack.split('-', 1)[1]}-{names.MLFLOW_DB_ADMIN}"
    [entra_admin] = run.of_type("azure-native:dbforpostgresql:Administrator")
    assert entra_admin.input("principalType") == "ServicePrincipal"
    assert entra_admin.input("principalName") == admin.input("resourceName")
    assert admin.urn in entra_admin.property_dependencies.get("objectId", []), "the Job's identity, not MLflow's"
    assert entra_admin.input("objectId") == azure_identity_ids(admin.name)[1]
    assert entra_admin.input("serverName") == server.input("serverName")
    # The identity answers to the schema Job's service account alone.
    federations = [f for f in run.of_type("azure-native:managedidentity:FederatedIdentityCredential")
                   if admin.urn in f.property_dependencies.get("resourceName", [])]
    assert [f.input("subject") for f in federations] == [f"system:serviceaccount:{names.NS_MLFLOW}:{names.MLFLOW_DB_ADMIN}"]
    # Set after the server's last parameter: the server takes one change at a time.
    last = one(run, "azure-native:dbforpostgresql:Configuration", "-pgaudit-log")
    assert last.urn in entra_admin.dependencies


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_the_schema_job_makes_mlflows_entra_user_as_the_admin_before_the_grants(stack, planned, viewed):
    run, view = planned(stack), viewed(stack)
    admin, mlflow_identity = _identity(run, "-db-admin-identity"), _identity(run, f"-{names.MLFLOW.role}-identity")
    [job] = [j for j in of(view, "Job") if j["metadata"]["name"] == mlflow.UPGRADE_JOB]
    template = job["spec"]["template"]
    pod = template["spec"]
    assert pod["serviceAccountName"] == names.MLFLOW_DB_ADMIN
    assert template["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    [account] = [a for a in of(view, "ServiceAccount") if a["metadata"]["name"] == names.MLFLOW_DB_ADMIN]
    assert account["metadata"]["namespace"] == names.NS_MLFLOW
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"] == azure_identity_ids(admin.name)[0]
    steps = [c["name"] for c in pod["initContainers"]]
    assert steps[-2:] == [mlflow_login.ENTRA_TOKEN_STEP, mlflow_login.ENTRA_PRINCIPAL_STEP], "after the upgrade, before the grants"
    token, create = pod["initContainers"][-2:]
    assert "restartPolicy" not in token, "a step that ends, not a sidecar: the Job would never finish"
    token_env, create_env = _env(token), _env(create)
    assert (token_env["DB_LOGIN_TOKEN"], token_env["DB_LOGIN_ONCE"]) == ("entra", "true")
    assert token_env["DB_LOGIN_USER"] == create_env["PGUSER"] == admin.input("resourceName")
    assert token_env["PGPASSFILE"] == create_env["PGPASSFILE"] == mlflow_login.PGPASS_FILE
    assert token_env["DB_LOGIN_HOST"] == create_env["PGHOST"]
    assert create_env["LOGIN_ROLE"] == mlflow_identity.input("resourceName") == _grants(view)["LOGIN_ROLE"]
    assert create_env["LOGIN_OID"] == azure_identity_ids(mlflow_identity.name)[1]
    assert create_env["PGSSLMODE"] == "verify-full"
    # libpq reads only a file of its own: both steps run as the same user.
    assert token["securityContext"]["runAsUser"] == create["securityContext"]["runAsUser"]


@pytest.mark.parametrize("stack", ["aws-dev", "gcp-dev", "local-dev"])
def test_elsewhere_the_schema_job_runs_without_an_identity(stack, viewed):
    view = viewed(stack)
    [job] = [j for j in of(view, "Job") if j["metadata"]["name"] == mlflow.UPGRADE_JOB]
    pod = job["spec"]["template"]["spec"]
    assert "serviceAccountName" not in pod
    assert not {mlflow_login.ENTRA_TOKEN_STEP, mlflow_login.ENTRA_PRINCIPAL_STEP} & {c["name"] for c in pod["initContainers"]}
    assert names.MLFLOW_DB_ADMIN not in {a["metadata"]["name"] for a in of(view, "ServiceAccount")}
