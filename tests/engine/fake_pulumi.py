"""A stand-in `pulumi` executable for the engine-path tests.

It answers what the Automation API asks of the CLI (version, stack select/init/ls, stack output,
stack history, stack export, stack import, preview, up, destroy, refresh, cancel), records every invocation,
and delivers recorded engine events where the SDK asks for them: to the gRPC Events server at a
`tcp://` --event-log address (CLIs above 3.205), or appended to an --event-log file (older).

Configuration, all under $FAKE_PULUMI_DIR:
  version                 the version to report (default 3.210.0)
  stacks.json             {stack: {"outputs": {...}, "secrets": [...], "resources": [...], "pending": [...], "ageDays": n}}
  events/<command>.jsonl  engine events to emit for preview / up / destroy / refresh
  fail/<command>          if present: after the events, print this to stderr and exit 255 (fail/stack-import: that)
  interrupt/<command>     if present: send SIGINT to the caller before the events, then fail as cancelled
                          (containing "twice": a second SIGINT 0.3 s later, then 60 s still running)
  calls.jsonl             written: one line per invocation (argv and the relevant environment)
  imports.jsonl           written: each state `stack import` was given
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

ROOT = Path(os.environ["FAKE_PULUMI_DIR"])
ENV_KEYS = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE", "PULUMI_PYTHON_CMD",
            "PULUMI_AUTOMATION_API", "PULUMI_SKIP_UPDATE_CHECK")


def load_stacks() -> dict:
    path = ROOT / "stacks.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _last_update(state: dict) -> str:
    """A stack's last update: `ageDays` before now when given (for staleness), else a fixed date."""
    if "ageDays" in state:
        import datetime

        moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=float(state["ageDays"]))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return "2026-11-23T10:00:00.000000Z"


def save_stacks(stacks: dict) -> None:
    (ROOT / "stacks.json").write_text(json.dumps(stacks, indent=1))


def option(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def emit(target: str, command: str) -> None:
    source = ROOT / "events" / f"{command}.jsonl"
    events = [json.loads(line) for line in source.read_text().splitlines() if line.strip()] if source.exists() else []
    stamped = []
    for sequence, event in enumerate(events, start=1):
        stamped.append({"sequence": sequence, "timestamp": int(time.time()), **event})
    if target.startswith("tcp://"):
        import grpc
        from pulumi.runtime.proto import events_pb2, events_pb2_grpc

        with grpc.insecure_channel(target[len("tcp://"):]) as channel:
            stub = events_pb2_grpc.EventsStub(channel)
            stub.StreamEvents(iter([events_pb2.EventRequest(event=json.dumps(e)) for e in stamped]), timeout=30)
    else:
        with open(target, "a", encoding="utf-8") as handle:
            for event in stamped:
                handle.write(json.dumps(event) + "\n")
                handle.flush()


def fail_if_asked(command: str) -> None:
    path = ROOT / "fail" / command
    if path.exists():
        sys.stderr.write(path.read_text())
        sys.exit(255)


def _write_encryption_salt(stack: str, provider: str | None) -> None:
    """As the real CLI does on `stack init`: the passphrase provider adds the stack's salt to its
    settings file (stacks/Pulumi.<stack>.yaml, from Pulumi.yaml's stackConfigDir), a KMS provider
    (--secrets-provider) its URL and the data key it encrypted; the file is created when there is
    none, and the rest of it kept."""
    path = Path.cwd() / "stacks" / f"Pulumi.{stack}.yaml"
    text = path.read_text() if path.exists() else ""
    if provider and provider != "passphrase":
        path.write_text(f"secretsprovider: {provider}\nencryptedkey: ZmFrZS1kYXRhLWtleQ==\n" + text)
        return
    if not (os.environ.get("PULUMI_CONFIG_PASSPHRASE") or os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        sys.stderr.write("error: passphrase must be set with PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE\n")
        sys.exit(255)
    if "encryptionsalt:" not in text:
        path.write_text(f"encryptionsalt: v1:fakesalt-{stack}==\n" + text)


def stack_command(args: list[str], stacks: dict, stack: str | None) -> int:
    """`pulumi stack <select|init|ls|output|history|export|import>`."""
    if args[:2] == ["stack", "select"]:
        if stack not in stacks:
            sys.stderr.write(f"error: no stack named '{stack}' found\n")
            return 255
        return 0
    if args[:2] == ["stack", "init"]:
        _write_encryption_salt(args[2], option(args, "--secrets-provider"))
        stacks.setdefault(args[2], {"outputs": {}, "secrets": [], "resources": []})
        save_stacks(stacks)
        return 0
    if args[:2] == ["stack", "ls"]:
        print(json.dumps([
            {"name": name, "current": False, "updateInProgress": False, "resourceCount": len(s.get("resources", [])),
             "lastUpdate": _last_update(s)} for name, s in stacks.items()
        ]))
        return 0
    if args[:2] == ["stack", "output"]:
        state = stacks.get(stack, {})
        outputs = dict(state.get("outputs", {}))
        if "--show-secrets" not in args:
            outputs = {k: ("[secret]" if k in state.get("secrets", []) else v) for k, v in outputs.items()}
        print(json.dumps(outputs))
        return 0
    if args[:2] == ["stack", "history"]:
        print(json.dumps([{"kind": "update", "startTime": "2026-11-23T10:00:00.000000Z", "message": "",
                           "environment": {}, "config": {}, "result": "succeeded",
                           "endTime": "2026-11-23T10:05:00.000000Z", "version": 1, "resourceChanges": {}}]))
        return 0
    if args[:2] == ["stack", "export"]:
        state = stacks.get(stack, {})
        print(json.dumps({"version": 3, "deployment": {"resources": state.get("resources", []),
                                                       "pending_operations": state.get("pending", [])}}))
        return 0
    if args[:2] == ["stack", "import"]:
        fail_if_asked("stack-import")
        imported = json.loads(Path(option(args, "--file")).read_text())
        stacks[stack]["resources"] = imported["deployment"].get("resources", [])
        save_stacks(stacks)
        with open(ROOT / "imports.jsonl", "a", encoding="utf-8") as log:
            log.write(json.dumps(imported) + "\n")
        return 0
    return unsupported(args)


def unsupported(args: list[str]) -> int:
    sys.stderr.write(f"fake pulumi: unsupported command {args}\n")
    return 2


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--non-interactive"]
    # The policy pack configuration lives only for the call: keep its content for the tests.
    pack_config = option(args, "--policy-pack-config")
    recorded = json.loads(Path(pack_config).read_text()) if pack_config else None
    with open(ROOT / "calls.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"args": args, "env": {k: os.environ.get(k) for k in ENV_KEYS}, "cwd": os.getcwd(),
                              "policyConfig": recorded}) + "\n")
    if not args:
        return 0
    if args[0] == "version":
        version = (ROOT / "version").read_text().strip() if (ROOT / "version").exists() else "3.210.0"
        print(f"v{version}")
        return 0
    stacks = load_stacks()
    stack = option(args, "--stack")
    if args[0] == "stack":
        return stack_command(args, stacks, stack)
    if args[0] == "cancel":
        return 0
    if args[0] in ("preview", "up", "destroy", "refresh"):
        command = args[0]
        if (ROOT / "interrupt" / command).exists():
            os.kill(os.getppid(), signal.SIGINT)
            if (ROOT / "interrupt" / command).read_text().strip() == "twice":  # an impatient user
                time.sleep(0.3)
                os.kill(os.getppid(), signal.SIGINT)
                time.sleep(60)  # the engine still finishing its in-flight steps
            time.sleep(0.5)
            sys.stderr.write("error: update canceled\n")
            return 255
        target = option(args, "--event-log")
        if target:
            emit(target, command)
        fail_if_asked(command)
        if command == "up":
            stacks.setdefault(stack, {}).setdefault("outputs", {}).update(
                json.loads((ROOT / "up-outputs.json").read_text()) if (ROOT / "up-outputs.json").exists() else {}
            )
            save_stacks(stacks)
        if command == "destroy":
            stacks[stack]["resources"] = [r for r in stacks[stack].get("resources", []) if r.get("protect")]
            save_stacks(stacks)
        return 0
    return unsupported(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
