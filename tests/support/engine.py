"""The stand-in `pulumi` (tests/engine/fake_pulumi.py) seen from a test: what it answers, what it
was asked. The conftest fixture `standin_engine` installs it first on PATH."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "engine"  # fake_pulumi.py and recorded events


class Fake:
    def __init__(self, root: Path):
        self.root = root
        (root / "events").mkdir(parents=True)
        (root / "fail").mkdir()
        (root / "interrupt").mkdir()
        # `up` previews first (its guard needs every replacement): by default nothing changes.
        self.events("preview", "preview-same")

    def version(self, version: str) -> None:
        (self.root / "version").write_text(version)

    def events(self, command: str, fixture: str) -> None:
        shutil.copy(ENGINE / "events" / f"{fixture}.jsonl", self.root / "events" / f"{command}.jsonl")

    def fail(self, command: str, stderr: str) -> None:
        (self.root / "fail" / command).write_text(stderr)

    def interrupt(self, command: str, times: str = "") -> None:
        (self.root / "interrupt" / command).write_text(times)

    def stacks(self, stacks: dict) -> None:
        (self.root / "stacks.json").write_text(json.dumps(stacks))

    def calls(self) -> list[dict]:
        path = self.root / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def ran(self, command: str) -> bool:
        """Whether `pulumi <command>` was run."""
        return any(c["args"][:1] == [command] for c in self.calls())

    def imports(self) -> list[dict]:
        """Each state given to `pulumi stack import`, in order."""
        path = self.root / "imports.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def call(self, command: str) -> dict:
        matches = [c for c in self.calls() if c["args"] and c["args"][0] == command]
        assert matches, f"pulumi {command} was never run: {[c['args'][:2] for c in self.calls()]}"
        return matches[-1]


def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: bool = False) -> Fake:
    """The stand-in `pulumi` first on PATH, answering from a fresh Fake. With `state`, the local
    backend and its passphrase are set too, as for a stack that `up` has deployed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable = bin_dir / "pulumi"
    executable.write_text(f"#!/bin/sh\nexec '{sys.executable}' '{ENGINE / 'fake_pulumi.py'}' \"$@\"\n")
    executable.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    fake = Fake(tmp_path / "fake")
    monkeypatch.setenv("FAKE_PULUMI_DIR", str(fake.root))
    if state:
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    return fake
