"""Every file a command writes is written whole or not at all, and folders it cannot use are refused
before any work: `render` swaps its three folders in at once, `ci init` writes all its workflows or
none, `plan --out` and stack files go through a temporary sibling, and the user's cache, state and
backend folders are checked, each with one line naming the folder and the variable behind it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.planner import files
from support import ROOT

OWNED = ("manifests", "helm", "rendered")


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.stdout == "" and len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-1500:]
    assert "unexpected failure" not in lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of the folders render owns, by path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for name in OWNED for p in (folder / name).rglob("*") if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(files.SCRATCH_PREFIX)]


# --- render: the old render or the new one, whole ---------------------------------------------------

# Runs the real console script with two additions of the test's own: every YAML file written is a
# little slower (so that a signal can land in the write phase), and a marker line announces the
# moment the writing starts.
LAUNCHER = """
import sys, time, yaml
from mlops_platform.planner import files
dump, replace = yaml.dump, files.replace_folders
def slow_dump(*args, **kwargs):
    time.sleep(0.004)
    return dump(*args, **kwargs)
def announced(*args, **kwargs):
    sys.stderr.write("WRITE-PHASE\\n"); sys.stderr.flush()
    return replace(*args, **kwargs)
yaml.dump, files.replace_folders = slow_dump, announced
sys.argv = ["platform", *sys.argv[1:]]
from mlops_platform.cli.entry import main
main()
"""


def _render_until(out: Path, delay: float | None, env: dict) -> tuple[int, str]:
    """Render local-dev into `out`; `delay` seconds after the write phase starts, send a SIGINT."""
    process = subprocess.Popen([sys.executable, "-c", LAUNCHER, "render", "--cloud", "local", "--out", str(out)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    while b"WRITE-PHASE" not in seen:
        line = process.stderr.readline()
        if not line:
            break
        seen += line
    if delay is not None and process.poll() is None:
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    return process.returncode, (seen + rest).decode()


def test_an_interrupted_render_leaves_the_old_render_or_the_new_one_whole(project, tmp_path, charts_dir):
    env = {**os.environ, "PLATFORM_CHARTS_DIR": str(charts_dir), "PLATFORM_PROJECT_DIR": str(project)}
    out = tmp_path / "out"
    first = invoke("render", "--cloud", "aws", "--out", str(out), env={"PLATFORM_CHARTS_DIR": str(charts_dir)})
    assert first.exit_code == 0, first.stderr
    (out / "notes.txt").write_text("mine")
    old = snapshot(out)
    shutil.copytree(out, tmp_path / "old-copy")
    reference = tmp_path / "reference"
    code, stderr = _render_until(reference, None, env)
    assert code == 0, stderr
    new = snapshot(reference)
    assert old != new and len(old) > 300 and len(new) > 300
    outcomes = []
    for delay in (0.0, 0.4, 0.9, 1.5, 2.5):
        shutil.rmtree(out)
        shutil.copytree(tmp_path / "old-copy", out)
        code, stderr = _render_until(out, delay, env)
        state = snapshot(out)
        assert state in (old, new), f"a torn render after a SIGINT {delay}s into the write phase"
        assert leftovers(out) == [] and (out / "notes.txt").read_text() == "mine"
        if code == 130:
            assert stderr.strip().splitlines()[-1] == "error: interrupted"
        else:
            assert code == 0 and state == new, stderr[-800:]
        outcomes.append("old" if state == old else "new")
    assert "old" in outcomes, outcomes  # at least one signal landed inside the write phase


def test_a_failure_while_writing_changes_nothing_and_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "out"
    (target / "manifests").mkdir(parents=True)
    (target / "manifests" / "a.yaml").write_text("old")

    def fill(folder: Path) -> None:
        (folder / "manifests").mkdir()
        (folder / "manifests" / "a.yaml").write_text("new")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.replace_folders(target, OWNED, fill)
    assert (target / "manifests" / "a.yaml").read_text() == "old" and leftovers(target) == []


def test_the_swap_holds_a_ctrl_c_back_until_it_is_done(tmp_path):
    delivered: list[str] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: delivered.append("after"))
    try:
        with files.interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            delivered.append("inside")
        time.sleep(0.05)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert delivered == ["inside", "after"]


def test_leftovers_of_a_killed_render_are_tidied_and_an_old_folder_put_back(tmp_path):
    target = tmp_path / "out"
    (target / f"{files.SCRATCH_PREFIX}old-1234" / "helm").mkdir(parents=True)
    (target / f"{files.SCRATCH_PREFIX}old-1234" / "helm" / "x.yaml").write_text("old helm")
    (target / f"{files.SCRATCH_PREFIX}new-5678" / "rendered").mkdir(parents=True)
    (target / "manifests").mkdir()
    files.recover(target, OWNED)
    assert (target / "helm" / "x.yaml").read_text() == "old helm" and leftovers(target) == []


# --- render: folders it cannot use ------------------------------------------------------------------


def _undeletable(folder: Path) -> None:
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"as root, no way to make a folder undeletable here: chattr: {done.stderr.decode().strip()}")


def _deletable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


@pytest.mark.parametrize("case", ["manifests is a file", "rendered is a link", "helm cannot be emptied"])
def test_render_refuses_folders_it_cannot_replace_and_writes_nothing_anywhere(project, tmp_path, case, charts_dir):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    if case == "manifests is a file":
        (out / "manifests").write_text("a file")
        fragment = "manifests is a file"
    elif case == "rendered is a link":
        (out / "rendered").symlink_to(elsewhere)
        fragment = "rendered is a symbolic link"
    else:
        (out / "helm" / "mlflow").mkdir(parents=True)
        (out / "helm" / "mlflow" / "values.yaml").write_text("old")
        _undeletable(out / "helm" / "mlflow")
        fragment = "cannot be"
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    try:
        started = time.monotonic()
        result = invoke("render", "--cloud", "local", "--out", str(out), env={"PLATFORM_CHARTS_DIR": str(charts_dir)})
        line = error_line(result)
        assert result.exit_code == 2 and fragment in line and f"--out {out}" in line, line
        assert "Rendering" not in result.stderr and time.monotonic() - started < 2, "refused before any work"
        assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before, "nothing written"
        assert list(elsewhere.iterdir()) == []
    finally:
        if case == "helm cannot be emptied":
            _deletable(out / "helm" / "mlflow")


# --- several files: all or none -------------------------------------------------------------------


def test_write_texts_writes_all_files_or_none(tmp_path, monkeypatch):
    a, b, c = tmp_path / "a.yml", tmp_path / "b.yml", tmp_path / "c.yml"
    a.write_text("old a")
    original = Path.write_text
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(KeyboardInterrupt):
        files.write_texts({a: "new a", b: "new b", c: "new c"})
    monkeypatch.undo()
    assert a.read_text() == "old a" and not b.exists() and not c.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yml"], "no temporary file left"
    files.write_texts({a: "new a", b: "new b"})
    assert a.read_text() == "new a" and b.read_text() == "new b"


def test_an_interrupt_handler_removes_the_temporary_files_of_a_write_in_progress(tmp_path):
    scratch = files._scratch_name(tmp_path / "plan.json", "new")
    scratch.write_text("half")
    files._scratch.add(scratch)
    files.discard_scratch()
    assert list(tmp_path.iterdir()) == []


def test_ci_init_writes_its_workflows_together(project, monkeypatch):
    written = []
    monkeypatch.setattr(files, "write_texts", lambda batch: written.append(dict(batch)))
    result = invoke("ci", "init", "--provider", "github")
    assert result.exit_code == 0, result.stderr
    assert len(written) == 1 and len(written[0]) == 7, "one batch of every workflow"


# --- the user's folders ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["/proc/mlops-nowhere", "{file}"])
def test_an_unusable_cache_folder_is_named_with_its_variable(tmp_path, value, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    monkeypatch.delenv("PLATFORM_CHARTS_DIR", raising=False)
    result = invoke("charts", "pull", env={"XDG_CACHE_HOME": value.format(file=a_file)})
    line = error_line(result)
    assert result.exit_code == 2 and f"from $XDG_CACHE_HOME={value.format(file=a_file)}" in line, line


@pytest.mark.parametrize("variable, value", [("XDG_STATE_HOME", "/proc/mlops-nowhere"),
                                             ("PULUMI_BACKEND_URL", "file:///proc/mlops-nowhere/backend")])
def test_an_unusable_state_or_backend_folder_is_named_with_its_variable(project, tmp_path, monkeypatch, variable, value, standin_engine):

    standin_engine()
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.setenv(variable, value)
    result = invoke("up", "--cloud", "local", "--yes")
    line = error_line(result)
    assert result.exit_code == 2 and f"${variable}=" in line and "/proc/mlops-nowhere" in line, line
