"""What the CLI prints is printed literally: rich reads `[...]` as markup and `:name:` as an emoji,
so a masked `[secret]`, a model named `[bold]x` or the engine's `platform:cloud:` must not be eaten."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mlops_platform.cli import display
from mlops_platform.cli.app import app
from support.engine import ENGINE

TRICKY = "[bold]x[/bold] platform:cloud: [secret]"


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_outputs_table_shows_masked_values_and_names_as_they_are(project, tmp_path, monkeypatch, standin_engine):
    fake = standin_engine(state=True)
    fake.stacks({"local-dev": {
        "outputs": {"endpoints": {"[bold]x": "https://x.example.org/:cloud:"}, "credentials": {"ui_password": "hunter2-value"}},
        "secrets": ["credentials"], "resources": []}})
    result = invoke("outputs", "--cloud", "local")
    assert result.exit_code == 0, result.stderr
    assert "[secret]" in result.stdout and "hunter2-value" not in result.stdout
    assert "endpoints.[bold]x" in result.stdout and "https://x.example.org/:cloud:" in result.stdout


def test_engine_messages_and_resource_names_are_printed_literally(project, tmp_path, monkeypatch, standin_engine):
    fake = standin_engine(state=True)
    events = (ENGINE / "events" / "up-failure.jsonl").read_text().replace(
        "ProgressDeadlineExceeded after 10m", "Missing required configuration variable 'platform:cloud:' [bold]x")
    events = events.replace("mlops-detectors-iris-drift", "mlops-detectors-[red]iris")
    (fake.root / "events" / "up.jsonl").write_text(events)
    fake.fail("up", "error: update failed\n")
    result = invoke("up", "--cloud", "local", "--yes")
    assert result.exit_code == 1
    assert "'platform:cloud:' [bold]x" in result.stderr
    assert "mlops-detectors-[red]iris" in result.stderr


def test_every_console_prints_brackets_and_colons_as_text(capsys):
    display.out().print(display.literal(TRICKY))
    display.err().print(display.literal(TRICKY))
    display.progress(TRICKY)
    captured = capsys.readouterr()
    assert captured.out.strip() == TRICKY
    assert captured.err.strip().splitlines() == [TRICKY, TRICKY]


def test_models_list_shows_registry_names_literally(project, tmp_path, monkeypatch, standin_engine):
    """A registered model's name is free text in MLflow: the table shows it as it is."""
    from mlops_platform.cli import registry

    fake = standin_engine(state=True)
    fake.stacks({"local-dev": {"outputs": {"endpoints": {"mlflow": "https://mlflow.example.org"}, "modelStore": "s3://b/mlflow",
                                           "credentials": {"sign_in_password": "p"}},
                               "secrets": ["credentials"], "resources": []}})
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "a-token")
    monkeypatch.setattr(registry.Registry, "registered",
                        lambda self: [{"name": "[bold]x:cloud:", "versions": [1], "aliases": {"[champion]": 1}}])
    result = invoke("models", "list", "--cloud", "local")
    assert result.exit_code == 0, result.stderr
    assert "[bold]x:cloud:" in result.stdout and "[champion]=v1" in result.stdout
    listed = json.loads(invoke("models", "list", "--cloud", "local", "--json").stdout)
    assert listed["registered"][0]["name"] == "[bold]x:cloud:"


def test_the_sign_in_login_reads_from_what_outputs_json_prints(project, standin_engine):
    """The README's quick start takes the bundled Dex's login from `platform outputs --json`."""
    import re

    from support import ROOT

    fake = standin_engine(state=True)
    fake.stacks({"local-dev": {"outputs": {"credentials": {"sign_in_user": "admin@127.0.0.1.sslip.io",
                                                           "sign_in_password": "pw-from-the-stack"}},
                               "secrets": ["credentials"], "resources": []}})
    printed = invoke("outputs", "--cloud", "local", "--show-secrets", "--json")
    assert printed.exit_code == 0, printed.stderr
    readme = (ROOT / "README.md").read_text()
    paths = re.findall(r"jq -r (\.outputs\.credentials\.\w+)", readme)
    assert {p.rsplit(".", 1)[1] for p in paths} >= {"sign_in_user", "sign_in_password"}, paths
    for path in paths[:2]:
        value = json.loads(printed.stdout)
        for key in path.strip(".").split("."):
            value = value[key]
        assert value in ("admin@127.0.0.1.sslip.io", "pw-from-the-stack")
