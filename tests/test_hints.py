"""Every `platform ...` command line the CLI and README show a user (in hints, messages and docs)
names a command that exists, with options that command takes."""

from __future__ import annotations

import re

from typer.main import get_command

from mlops_platform.cli.app import app
from support import ROOT

# `platform` then words, {placeholders} and --options with a value; as hints and docs write them.
COMMAND_LINE = re.compile(r"platform((?: (?:[a-z][a-z-]*|\{[^}]*\}|--?[a-z][\w-]*(?:[ =](?!platform)[^\s`'\"(),;]+)?))+)")


def _expanded(text: str) -> list[str]:
    # What the code's placeholders stand for: the stack flags, and plain values.
    text = re.sub(r"\{(flags|stack_flags\([^}]*\))\}", "--cloud aws --env prod", text)
    return re.sub(r"\{[^}]*\}", "x", text).split()


def _problems(text: str, where: str) -> list[str]:
    root = get_command(app)
    found = []
    for match in COMMAND_LINE.finditer(text):
        words = _expanded(match.group(1))
        command, path = root, []
        while words and not words[0].startswith("-") and hasattr(command, "commands") and words[0] in command.commands:
            command = command.commands[words.pop(0)]
            path.append(command.name)
        if command is root:
            continue  # prose: "platform component", "platform repository"
        options = {o for p in command.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
        found += [f"{where}: `{match.group(0)[:80]}`: platform {' '.join(path)} has no {w.split('=')[0]}"
                  for w in words if w.startswith("--") and w.split("=")[0] not in options]
    return found


def test_every_command_line_shown_to_a_user_exists():
    problems = []
    for path in [*sorted((ROOT / "cli").rglob("*.py")), ROOT / "README.md", *sorted((ROOT / "examples").rglob("*"))]:
        if path.is_file():
            problems += _problems(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert problems == []


def test_the_check_finds_an_option_a_command_does_not_take():
    assert _problems('hint = f"run platform doctor {flags} first"', "x") == ["x: `platform doctor {flags} first`: "
                                                                          "platform doctor has no --env"]
    assert _problems("platform charts pull --mirror x --nope", "x")[0].endswith("platform charts pull has no --nope")
