"""Running the CLI in-process, as the tests read it."""

from __future__ import annotations

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
