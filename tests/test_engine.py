"""The engine path: `pulumi.automation` for real, against a stand-in `pulumi` executable on PATH.

The stand-in (tests/engine/fake_pulumi.py) answers the CLI calls the Automation API makes and
delivers engine events where the SDK asks: over gRPC to the `tcp://` --event-log address the SDK
serves when the CLI reports a version above 3.205, and into the --event-log file otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from support.cli import invoke, one_line_error
from support.engine import ENGINE, Fake

# --- up -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cli_version, transport", [("3.210.0", "tcp://"), ("3.200.0", "/")])
def test_up_passes_our_flags_and_reads_events_where_the_sdk_asks(project, state, fake, cli_version, transport):
    fake.version(cli_version)
    fake.events("up", "up")
    (fake.root / "up-outputs.json").write_text(json.dumps({"endpoints": {"mlflow": "https://mlflow.127.0.0.1.sslip.io"}}))
    result = invoke("up", "--cloud", "local", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    call = fake.call("up")
    args = call["args"]
    assert args[args.index("--stack") + 1] == "local-dev"
    assert args[args.index("--policy-pack") + 1] == str(project / "policies")
    assert args[args.index("--event-log") + 1].startswith(transport)
    assert args[args.index("--exec-kind") + 1] == "auto.local"
    assert call["cwd"] == str(project)
    env = call["env"]
    assert env["PULUMI_BACKEND_URL"] == (state / "mlops-platform" / "backend").as_uri()
    assert env["PULUMI_PYTHON_CMD"] == sys.executable
    passphrase = Path(env["PULUMI_CONFIG_PASSPHRASE_FILE"])
    assert passphrase.parent == state / "mlops-platform" / "passphrases"
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    assert passphrase.read_text() not in result.stdout + result.stderr, "the passphrase is never printed"
    document = json.loads(result.stdout)
    assert document["summary"] == {"created": 1, "updated": 1, "replaced": 1, "deleted": 1, "unchanged": 90,
                                   "failed": 0, "durationSeconds": 42.0}
    assert document["outputs"]["endpoints"]["mlflow"] == "https://mlflow.127.0.0.1.sslip.io"
    # The progress log (stderr is not a terminal here) names each operation as it completes.
    assert "created kubernetes:core/v1:Namespace mlops-traefik-ns" in result.stderr
    assert "deleted kubernetes:core/v1:ConfigMap mlops-detectors-old-script" in result.stderr


def test_up_failure_is_reported_as_it_happens_and_exits_1(project, state, fake):
    fake.events("up", "up-failure")
    fake.fail("up", "error: update failed\n")
    result = invoke("up", "--cloud", "local", "--yes")
    assert result.exit_code == 1
    assert "failed create kubernetes:apps/v1:Deployment mlops-detectors-iris-drift" in result.stderr
    assert "ProgressDeadlineExceeded" in result.stderr
    assert one_line_error(result) == "error: update failed (hint: rerun with PLATFORM_DEBUG=1 for the engine's full output)"
    assert "Traceback" not in result.stderr


def test_up_refuses_without_confirmation_on_a_pipe_and_writes_nothing(project, state, fake):
    result = invoke("up", "--cloud", "local")
    assert result.exit_code == 2 and "pass --yes" in one_line_error(result)
    assert [c["args"][:1] for c in fake.calls()] == [["version"]], "only the CLI's version was read"
    assert not state.exists()


def test_up_on_a_pipe_reports_a_missing_engine_before_asking_for_yes(project, state, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = invoke("up", "--cloud", "local")
    assert result.exit_code == 1
    line = one_line_error(result)
    assert "Pulumi CLI is not installed" in line and "platform doctor" in line and "--yes" not in line


def test_up_without_the_pulumi_cli(project, state, monkeypatch, tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = invoke("up", "--cloud", "local", "--yes")
    assert result.exit_code == 1 and result.stdout == ""
    line = one_line_error(result)
    assert "Pulumi CLI is not installed" in line and "https://get.pulumi.com" in line and ">= 3.174.0" in line
    assert "Traceback" not in result.stderr and not state.exists()


def test_an_old_cli_is_refused_with_the_minimum_version(project, state, fake):
    fake.version("3.173.0")
    result = invoke("preview", "--cloud", "local")
    assert result.exit_code == 1 and "older than 3.174.0" in one_line_error(result)


def test_cloud_stacks_need_a_passphrase(project, state, fake):
    result = invoke("preview", "--cloud", "aws")
    assert result.exit_code == 2 and "PULUMI_CONFIG_PASSPHRASE" in one_line_error(result)
    assert fake.calls() == [] or all(c["args"][0] == "version" for c in fake.calls())


def test_backend_and_passphrase_file_options(project, state, fake, tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple")
    fake.events("preview", "preview-same")
    result = invoke("preview", "--cloud", "aws", "--backend", "s3://team-state", "--passphrase-file", str(secret))
    assert result.exit_code == 0, result.stderr
    env = fake.call("preview")["env"]
    assert env["PULUMI_BACKEND_URL"] == "s3://team-state"
    assert env["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(secret)
    assert not (state / "mlops-platform" / "passphrases").exists()


def test_parallel_reaches_the_engine_flag_env_or_default(project, state, fake, monkeypatch, tmp_path):
    from mlops_platform.cli.engine import parallelism

    fake.events("preview", "preview-same")
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple")
    cases = [((), "aws", "16"), (("--parallel", "3"), "aws", "3"), ((), "local", str(parallelism.default("local")))]
    for flags, cloud, expected in cases:
        result = invoke("preview", "--cloud", cloud, "--passphrase-file", str(secret), *flags)
        assert result.exit_code == 0, result.stderr
        args = fake.call("preview")["args"]
        assert args[args.index("--parallel") + 1] == expected, (flags, cloud)
    monkeypatch.setenv("PLATFORM_PARALLEL", "5")
    assert invoke("preview", "--cloud", "aws", "--passphrase-file", str(secret)).exit_code == 0
    args = fake.call("preview")["args"]
    assert args[args.index("--parallel") + 1] == "5"


# --- preview ------------------------------------------------------------------------------------


def test_preview_diff_from_recorded_events(project, state, fake):
    fake.events("preview", "preview")
    result = invoke("preview", "--cloud", "local", "--json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    steps = {s["name"]: s for s in plan["steps"]}
    assert steps["mlops-traefik-ns"]["op"] == "create"
    assert steps["mlops-traefik-release"]["op"] == "update"
    assert steps["mlops-traefik-release"]["diffs"] == ["values.deployment.replicas"]
    kind = steps["mlops-cluster-kind"]
    assert kind["op"] == "replace" and kind["replaceReasons"] == ["stdin", "triggers[0]"]
    # Grouped as plan --compare groups (planner/urns.py): by the component's short name.
    assert kind["critical"] == "the kind cluster" and kind["component"] == "KindCluster"
    assert steps["mlops-traefik-release"]["component"] == steps["mlops-traefik-ns"]["component"] == "Traefik"
    assert steps["mlops-detectors-old-script"]["op"] == "delete"
    assert plan["changes"] == {"create": 1, "import": 0, "update": 1, "replace": 1, "delete": 1, "same": 1}
    policies = {p["rule"]: p for p in plan["policies"]}
    assert policies["no-latest-image-tag"]["enforcementLevel"] == "mandatory"
    assert policies["namespace-default-deny"]["enforcementLevel"] == "advisory"
    args = fake.call("preview")["args"]
    assert "--diff" in args and args[args.index("--policy-pack") + 1] == str(project / "policies")
    config = fake.call("preview")["policyConfig"]
    assert config["all"] == "advisory" and config["cost-node-count-within-limit"]["maxNodes"] == 10
    assert not Path(args[args.index("--policy-pack-config") + 1]).exists(), "the config file lives only for the call"


def test_prod_previews_enforce_policies_as_mandatory(project, state, fake, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    fake.events("preview", "preview-same")
    result = invoke("preview", "--cloud", "aws", "--env", "prod")
    assert result.exit_code == 0, result.stderr
    config = fake.call("preview")["policyConfig"]
    assert config["all"] == "mandatory" and config["reliability-prod-data-protected"]["requireProtection"] is True


def test_preview_table_groups_by_component_and_flags_replacements(project, state, fake):
    fake.events("preview", "preview")
    result = invoke("preview", "--cloud", "local")
    assert result.exit_code == 0
    out = result.stdout
    for marker in ("+ create", "~ update", "+- replace", "- delete"):
        assert marker in out
    assert "\nTraefik\n" in out and out.index("\nTraefik\n") < out.index("mlops-traefik-release")
    assert "replaced because of: stdin, triggers[0]" in out
    assert "!! this replaces the kind cluster" in out
    assert "mandatory no-latest-image-tag" in out
    assert "1 to create, 1 to update, 1 to replace, 1 to delete, 1 unchanged" in out


def test_expect_no_changes(project, state, fake):
    fake.events("preview", "preview")
    changed = invoke("preview", "--cloud", "local", "--expect-no-changes")
    assert changed.exit_code == 1 and "pending changes" in one_line_error(changed)
    fake.events("preview", "preview-same")
    same = invoke("preview", "--cloud", "local", "--expect-no-changes")
    assert same.exit_code == 0 and "no changes" in same.stdout


def test_mandatory_violation_fails_preview_naming_the_rule(project, state, fake):
    fake.events("preview", "preview")
    fake.fail("preview", "error: preview failed: 1 mandatory policy violation\n")
    result = invoke("preview", "--cloud", "local")
    assert result.exit_code == 1
    assert "mandatory policy violations: no-latest-image-tag" in one_line_error(result)
    assert "mandatory no-latest-image-tag" in result.stdout


# --- engine errors ------------------------------------------------------------------------------


def test_a_locked_stack_says_how_to_clear_the_lock(project, state, fake):
    fake.fail("up", "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n")
    result = invoke("up", "--cloud", "local", "--yes")
    assert result.exit_code == 1
    line = one_line_error(result)
    assert "is locked by another update" in line and "pulumi cancel --stack local-dev" in line


def test_pending_operations_are_named_with_the_repair_command(project, state, fake):
    fake.fail("up", "error: the current deployment has 1 resource(s) with pending operations:\n"
                    "  * urn:pulumi:local-dev::mlops-platform::mlops:platform:MlopsPlatform$mlops:cluster:KindCluster$command:local:Command::mlops-cluster-kind, interrupted while creating\n")
    result = invoke("up", "--cloud", "local", "--yes")
    assert result.exit_code == 1
    line = one_line_error(result)
    assert "mlops-cluster-kind (creating)" in line and "--clear-pending-creates" in line


def test_full_engine_output_only_with_debug(project, state, fake, monkeypatch):
    fake.fail("up", "some engine detail\nerror: update failed\n")
    quiet = invoke("up", "--cloud", "local", "--yes")
    assert "some engine detail" not in quiet.stderr
    monkeypatch.setenv("PLATFORM_DEBUG", "1")
    loud = invoke("up", "--cloud", "local", "--yes")
    assert "some engine detail" in loud.stderr


def test_destroy_of_an_undeployed_stack(project, state, fake):
    result = invoke("destroy", "--cloud", "local", "--yes")
    assert result.exit_code == 1
    assert one_line_error(result) == "error: stack local-dev has not been deployed to this backend (hint: platform up --cloud local)"


def test_a_second_ctrl_c_stops_waiting_and_exits_130_at_once(project, state, fake):
    """The console script, as a user runs it: the engine stand-in sends two SIGINTs, then keeps
    running for 60 s; the second stops the wait at once (within 40 s: room for a loaded machine)."""
    import subprocess
    import time

    fake.interrupt("up", "twice")
    started = time.monotonic()
    done = subprocess.run([shutil.which("platform"), "up", "--cloud", "local", "--yes"], capture_output=True, text=True,
                          timeout=90, cwd=project)
    assert done.returncode == 130, done.stderr
    assert time.monotonic() - started < 40, "it waited for the engine's in-flight steps"
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith("error: interrupted again: stopped waiting for stack local-dev's engine")
    assert "platform refresh --cloud local" in lines[0] and "Traceback" not in done.stderr


def test_an_abort_at_a_prompt_exits_130(project, state, fake, monkeypatch):
    """typer's Abort (the end of input at a confirmation, on a real terminal) is an interruption, not a
    failure: the console script on a pseudo-terminal, given Ctrl-D at destroy's question."""
    import os
    import pty
    import subprocess
    import time

    _deployed(fake, monkeypatch)
    leader, follower = pty.openpty()
    process = subprocess.Popen([shutil.which("platform"), "destroy", "--cloud", "local"], stdin=follower,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=project, text=True)
    os.close(follower)
    time.sleep(3)  # the question is asked once the engine has read the stack
    os.write(leader, b"\x04")
    _, stderr = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "error: interrupted"
    assert "destroy" not in [c["args"][0] for c in fake.calls()]


def test_first_ctrl_c_lets_the_engine_finish_then_exits_130(project, state, fake):
    fake.interrupt("up")
    result = invoke("up", "--cloud", "local", "--yes")
    assert result.exit_code == 130
    assert "letting in-flight steps finish" in result.stderr
    assert "platform refresh --cloud local" in one_line_error(result)


# --- the replacement guard -----------------------------------------------------------------------

KIND_CLUSTER = ("urn:pulumi:local-dev::mlops-platform::mlops:platform:MlopsPlatform$mlops:cluster:KindCluster$"
                "command:local:Command::mlops-cluster-kind")


def test_up_refuses_to_replace_what_holds_data_unless_its_urn_is_allowed(project, state, fake):
    fake.events("preview", "preview")  # replaces the kind cluster (its stdin and triggers changed)
    fake.events("up", "up")
    refused = invoke("up", "--cloud", "local", "--yes")
    assert refused.exit_code == 2
    line = one_line_error(refused)
    assert "would lose data or identity: replace mlops-cluster-kind (the kind cluster)" in line
    assert "nothing was deployed" in line and f"--allow-replace {KIND_CLUSTER}" in line
    assert not [c for c in fake.calls() if c["args"][:1] == ["up"]], "refused before the engine deploys"
    allowed = invoke("up", "--cloud", "local", "--yes", "--allow-replace", KIND_CLUSTER)
    assert allowed.exit_code == 0, allowed.stderr
    assert fake.call("up")


def test_a_replacement_allowed_in_the_stack_file_goes_through_and_another_urn_does_not_allow_it(project, state, fake):
    fake.events("preview", "preview")
    fake.events("up", "up")
    other = invoke("up", "--cloud", "local", "--yes", "--allow-replace", KIND_CLUSTER.replace("mlops-cluster-kind", "other"))
    assert other.exit_code == 2 and "mlops-cluster-kind" in one_line_error(other)
    stack_file = project / "stacks" / "Pulumi.local-dev.yaml"
    stack_file.write_text(stack_file.read_text() + f"  platform:allowReplace:\n    - '{KIND_CLUSTER}'\n")
    result = invoke("up", "--cloud", "local", "--yes")
    assert result.exit_code == 0, result.stderr


# --- destroy, refresh, outputs, stacks ----------------------------------------------------------


def _deployed(fake: Fake, monkeypatch) -> None:
    """A stack deployed earlier (its passphrase given the way a team would: the environment)."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    fake.stacks({"local-dev": {
        "outputs": {"endpoints": {"grafana": "https://grafana.127.0.0.1.sslip.io"}, "credentials": {"ui_password": "s3cr3t-value"}},
        "secrets": ["credentials"],
        "resources": [
            {"urn": "urn:pulumi:local-dev::mlops-platform::pulumi:pulumi:Stack::mlops-platform-local-dev", "type": "pulumi:pulumi:Stack"},
            {"urn": "urn:pulumi:local-dev::mlops-platform::aws:rds/instance:Instance::mlops-data-postgres", "type": "aws:rds/instance:Instance", "protect": True},
            {"urn": "urn:pulumi:local-dev::mlops-platform::kubernetes:core/v1:Namespace::mlops-traefik-ns", "type": "kubernetes:core/v1:Namespace"},
        ],
    }})


def test_destroy_lists_protected_resources_first_and_keeps_them(project, state, fake, monkeypatch):
    _deployed(fake, monkeypatch)
    fake.events("destroy", "destroy")
    result = invoke("destroy", "--cloud", "local", "--yes", "--json")
    assert result.exit_code == 0, result.stderr
    assert "1 protected resources are kept" in result.stderr
    assert "mlops-data-postgres" in result.stderr.split("Destroying")[0], "listed before anything is deleted"
    assert "--exclude-protected" in fake.call("destroy")["args"]
    document = json.loads(result.stdout)
    assert document["summary"]["deleted"] == 2 and document["kept"] == [
        "urn:pulumi:local-dev::mlops-platform::aws:rds/instance:Instance::mlops-data-postgres"]


def test_destroy_needs_the_stack_name_typed(project, state, fake, monkeypatch):
    _deployed(fake, monkeypatch)
    result = invoke("destroy", "--cloud", "local")
    assert result.exit_code == 2 and "pass --yes" in one_line_error(result)
    assert not [c for c in fake.calls() if c["args"][:1] == ["destroy"]]


def test_refresh_summary(project, state, fake, monkeypatch):
    _deployed(fake, monkeypatch)
    fake.events("refresh", "refresh")
    result = invoke("refresh", "--cloud", "local", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["summary"]["unchanged"] == 2


def test_outputs_mask_secrets_unless_asked(project, state, fake, monkeypatch):
    _deployed(fake, monkeypatch)
    masked = invoke("outputs", "--cloud", "local", "--json")
    assert masked.exit_code == 0, masked.stderr
    document = json.loads(masked.stdout)["outputs"]
    assert document["credentials"] == "[secret]" and "s3cr3t-value" not in masked.stdout
    assert document["endpoints"]["grafana"] == "https://grafana.127.0.0.1.sslip.io"
    shown = invoke("outputs", "--cloud", "local", "--json", "--show-secrets")
    assert json.loads(shown.stdout)["outputs"]["credentials"]["ui_password"] == "s3cr3t-value"


def test_stacks_lists_files_and_deployments(project, state, fake, monkeypatch):
    _deployed(fake, monkeypatch)
    (state / "mlops-platform" / "backend").mkdir(parents=True)
    result = invoke("stacks", "--json")
    assert result.exit_code == 0, result.stderr
    rows = {r["stack"]: r for r in json.loads(result.stdout)["stacks"]}
    assert rows["local-dev"]["deployed"] is True and rows["local-dev"]["resources"] == 3
    assert rows["aws-prod"]["deployed"] is False and rows["aws-prod"]["stackFile"] == "stacks/Pulumi.aws-prod.yaml"


def test_doctor_reports_missing_tools_and_exits_1(project, state, fake, monkeypatch, tmp_path):
    result = invoke("doctor", "--cloud", "local", "--json")
    document = json.loads(result.stdout)
    checks = {c["check"]: c for c in document["checks"]}
    assert checks["pulumi CLI"]["ok"] is True and "3.210.0" in checks["pulumi CLI"]["detail"]
    if not shutil.which("kind"):
        assert checks["local: kind"]["ok"] is False and checks["local: kind"]["required"] is True
        assert result.exit_code == 1
    informational = invoke("doctor", "--json")
    assert all(not c["required"] for c in json.loads(informational.stdout)["checks"] if ":" in c["check"])


# --- bad input: every command, exit 2, nothing written ------------------------------------------

COMMANDS = [
    ("up", "--yes"),
    ("preview",),
    ("destroy", "--yes"),
    ("refresh",),
    ("outputs",),
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
@pytest.mark.parametrize(
    "setup, args, fragment",
    [
        (None, ("--cloud", "mars"), "'mars' is not one of 'local', 'aws', 'azure', 'gcp'"),
        ("nodev", ("--cloud", "local", "--env", "staging"),
         "no stack file stacks/Pulumi.local-staging.yaml for stack local-staging (nor stacks/Pulumi.local-dev.yaml to derive it from)"),
        ("invalid", ("--cloud", "local"), "stacks/Pulumi.local-dev.yaml: platform:cluster.nodeCount: must be at least 1 (got 0)"),
        (None, ("--cloud", "local", "--nope"), "No such option: --nope"),
    ],
    ids=["unknown-cloud", "missing-stack-file", "invalid-config", "unknown-option"],
)
def test_bad_input_exits_2_before_the_engine(project, state, fake, command, setup, args, fragment):
    if setup == "invalid":
        stack = project / "stacks" / "Pulumi.local-dev.yaml"
        stack.write_text(stack.read_text().replace("nodeCount: 1", "nodeCount: 0"))
    if setup == "nodev":
        (project / "stacks" / "Pulumi.local-dev.yaml").unlink()
    result = invoke(command[0], *args, *command[1:])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert fragment in one_line_error(result)
    assert len(result.stderr.strip().splitlines()) == 1
    assert fake.calls() == [], "the engine was not called"
    assert not state.exists(), "nothing was written to the state directory"


# --- the live view, straight from recorded events -------------------------------------------------


def _events(fixture: str):
    from pulumi.automation.events import EngineEvent

    lines = (ENGINE / "events" / f"{fixture}.jsonl").read_text().splitlines()
    return [EngineEvent.from_json(json.loads(line)) for line in lines]


def test_live_view_tracks_in_flight_done_and_failures():
    from rich.console import Console

    from mlops_platform.cli.engine.progress import ProgressTracker, render

    tracker = ProgressTracker(total=10)
    events = _events("up-failure")
    for event in events[:5]:  # up to the Deployment's pre-event
        tracker(event)
    snapshot = tracker.snapshot()
    assert snapshot.done == 1 and [urn.rsplit("::", 1)[-1] for _, urn, _ in snapshot.in_flight] == ["mlops-detectors-iris-drift"]
    for event in events[5:]:
        tracker(event)
    snapshot = tracker.snapshot()
    assert snapshot.in_flight == [] and len(snapshot.failures) == 1
    assert "ProgressDeadlineExceeded" in snapshot.failures[0].message
    console = Console(width=160, record=True, file=open(os.devnull, "w"))
    console.print(render(snapshot, "up local-dev"))
    text = console.export_text()
    assert "up local-dev: 1/10 done, 0 in flight, 1 failed" in text
    assert "failed" in text and "mlops-detectors-iris-drift" in text
    assert tracker.summary()["failed"] == 1 and tracker.errors == ["error: update failed"]


def test_summary_counts_come_from_the_engine_summary():
    from mlops_platform.cli.engine.progress import ProgressTracker

    tracker = ProgressTracker()
    for event in _events("up"):
        tracker(event)
    assert tracker.summary() == {"created": 1, "updated": 1, "replaced": 1, "deleted": 1, "unchanged": 90,
                                 "failed": 0, "durationSeconds": 42.0}
    assert [p.policy for p in tracker.policies] == ["namespace-default-deny"]


def test_up_on_azure_without_the_azure_cli_stops_before_the_engine(project, state, fake, monkeypatch, tmp_path):
    # The stand-in engine's folder alone on PATH: no `az`, whatever this machine has.
    monkeypatch.setenv("PATH", os.path.dirname(shutil.which("pulumi") or ""))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "a passphrase kept elsewhere")
    result = invoke("up", "--cloud", "azure", "--yes")
    assert result.exit_code == 1 and result.stdout == ""
    line = one_line_error(result)
    assert "`az` is not on PATH" in line and "restart the database server for pgaudit" in line and "platform doctor" in line
    assert not [c for c in fake.calls() if c["args"][:1] in (["up"], ["preview"])], "refused before the engine runs"


def test_the_azure_cli_on_path_is_enough(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from mlops_platform.cli.opening import require_deploy_tools

    (tmp_path / "az").write_text("#!/bin/sh\n")
    (tmp_path / "az").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    require_deploy_tools(SimpleNamespace(cloud="azure"))  # no exit
    require_deploy_tools(SimpleNamespace(cloud="aws"))  # nothing needed beyond the engine
