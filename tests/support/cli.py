"""Running the CLI in-process, as the tests read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from mlops_platform.cli.app import app


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def one_line_error(result: Result) -> str:
    """The one `error: ` line a failed command printed (fails when there are none or several)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def refused(result: Result, *words: str) -> None:
    """The command stopped on bad input: exit 2, one `error: ` line holding each of `words`, last
    (progress lines may come before it), and no traceback."""
    assert result.exit_code == 2, result.output
    line = one_line_error(result)
    assert result.stderr.strip().endswith(line), result.stderr
    for word in words:
        assert word in line, line
    assert "Traceback" not in result.output


def destroyed_keeping_data(project: Path, cloud: str) -> tuple[dict[str, Any], str, str]:
    """`platform destroy --keep-data` of the project's dev stack, which succeeds: its JSON report,
    its stderr and the stack file as it was before."""
    before = (project / "stacks" / f"Pulumi.{cloud}-dev.yaml").read_text()
    result = invoke("destroy", "--cloud", cloud, "--yes", "--no-drain", "--keep-data", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result.stderr, before


def azure_cli_on_path(folder: Path, monkeypatch: Any) -> None:
    """An `az` on PATH, which `up` on Azure requires; the stand-in engine never runs it."""
    import os

    folder.mkdir(exist_ok=True)
    (folder / "az").write_text("#!/bin/sh\n")
    (folder / "az").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def up_after_a_late_run(url: str, fake: Any, cloud: str) -> Any:
    """The `up` that adopts kept data, once MLflow's database holds a run the backup does not (what
    the restore must take away); it succeeds."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    client.create_run(client.get_experiment_by_name("team-0").experiment_id, run_name="after the backup")
    fake.events("up", "up")
    result = invoke("up", "--cloud", cloud, "--yes")
    assert result.exit_code == 0, result.output
    return result
