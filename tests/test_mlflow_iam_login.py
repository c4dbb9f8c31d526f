"""MLflow logs in to Cloud SQL as its own Google service account, and to RDS as its environment's
user through its IRSA role (IAM database authentication), with no password of its own
(components/data/gcp.py _iam_login, aws.py _login_right, components/addons/mlflow_login.py), and
Azure and local keep MLflow's password login: what each shipped stack's plan creates and what its
cluster receives. The sidecar's loop and libpq's use of its file run for real in test_db_login_token.py;
the grants for the IAM user on a real PostgreSQL in test_db_least_privilege.py."""

from __future__ import annotations

import json

import pytest

from mlops_platform.components import names
from mlops_platform.components.addons import mlflow, mlflow_login
from mlops_platform.components.addons.mlflow_grants import APP_ROLE
from mlops_platform.components.data.outputs import IAM_AUTHENTICATION_FLAG
from support import SHIPPED_STACKS, one
from support.rendered import of

GCP_STACKS = [s for s in SHIPPED_STACKS if s.startswith("gcp")]
AWS_STACKS = [s for s in SHIPPED_STACKS if s.startswith("aws")]
OTHER_STACKS = [s for s in SHIPPED_STACKS if s.split("-")[0] in ("azure", "local")]
TOKEN = {"aws": ("rds", "300"), "gcp": ("cloudsql", "600")}


def _login(stack, run):
    return _mlflow_login(run) if stack.startswith("gcp") else names.mlflow_database_login(stack.split("-", 1)[1])


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


@pytest.mark.parametrize("stack", [*GCP_STACKS, *AWS_STACKS])
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


@pytest.mark.parametrize("stack", ["gcp-dev", "azure-dev"])
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
    if stack.startswith("gcp"):
        assert database["iam_login"] == _mlflow_login(run)
    else:
        assert "iam_login" not in database
