"""Engine failures as one line each, with the command that helps; full output with PLATFORM_DEBUG=1."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Optional

from ..errors import debug_enabled
from ..project import stack_flags

_PENDING = re.compile(r"^\s*\*\s*(urn:pulumi:\S+),\s*interrupted while (\w+)", re.MULTILINE)
_LOCK = re.compile(r"the stack is currently locked by .*", re.IGNORECASE)
# The provider names an access entry `<cluster>:<principal ARN>` (cluster names have no colon).
# Ref: hashicorp/terraform-provider-aws internal/service/eks/access_entry.go (accessEntryCreateResourceID)
_ENTRY_IN_USE = re.compile(r"creating EKS Access Entry \(([^:()\s]+):(arn:[^)\s]+)\):[^\n]*ResourceInUseException")


@dataclass(frozen=True)
class EngineFailure:
    message: str
    hint: Optional[str]


def pending_operations(text: str) -> list[tuple[str, str]]:
    """(resource name, operation) for each pending operation an interrupted run left in state."""
    return [(urn.rsplit("::", 1)[-1], op) for urn, op in _PENDING.findall(text)]


def last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error:")]
    chosen = errors[-1] if errors else (lines[-1] if lines else "the Pulumi CLI failed without a message")
    return chosen[len("error:"):].strip() if chosen.lower().startswith("error:") else chosen


def streams(exc: BaseException) -> tuple[str, str]:
    """(stdout, stderr) of a failed CLI call; CommandError keeps only `str(CommandResult)`:
    "\n code: N\n stdout: ...\n stderr: ..." (pulumi/automation/_cmd.py)."""
    text = str(exc)
    head, _, stderr = text.rpartition("\n stderr: ")
    _, _, stdout = head.partition(" stdout: ")
    return (stdout, stderr) if head else ("", text)


def explain(exc: BaseException, stack: str, cloud: str, env: str) -> EngineFailure:
    """Map an Automation API exception to a message and a hint."""
    from pulumi.automation import errors as auto_errors

    if debug_enabled() and isinstance(exc, auto_errors.CommandError):
        print(str(exc), file=sys.stderr)
    flags = stack_flags(cloud, env)
    if isinstance(exc, auto_errors.StackNotFoundError):
        return EngineFailure(f"stack {stack} has not been deployed to this backend", f"platform up {flags}")
    if isinstance(exc, auto_errors.ConcurrentUpdateError):
        lock = _LOCK.search(streams(exc)[1])
        detail = f" ({lock.group(0).strip()})" if lock else ""
        return EngineFailure(
            f"stack {stack} is locked by another update{detail}",
            f"wait for it to finish; if no update is running, clear the stale lock with: pulumi cancel --stack {stack} --yes",
        )
    if isinstance(exc, auto_errors.InvalidVersionError):
        return EngineFailure(str(exc), "upgrade the Pulumi CLI: curl -fsSL https://get.pulumi.com | sh")
    if isinstance(exc, auto_errors.CommandError):
        stdout, stderr = streams(exc)
        text = f"{stdout}\n{stderr}"
        pending = pending_operations(text)
        if pending:
            names = ", ".join(f"{name} ({op})" for name, op in pending)
            return EngineFailure(
                f"stack {stack} has pending operations from an interrupted run: {names}",
                f"check those resources in the cloud, then run: pulumi refresh --stack {stack} --clear-pending-creates --yes",
            )
        entry = _ENTRY_IN_USE.search(text)
        if entry:
            return _creator_entry(entry.group(1), entry.group(2), flags)
        return EngineFailure(last_error_line(stderr) if stderr.strip() else last_error_line(stdout),
                             "rerun with PLATFORM_DEBUG=1 for the engine's full output")
    return EngineFailure(f"{type(exc).__name__}: {exc}", "rerun with PLATFORM_DEBUG=1 for the traceback")


def _creator_entry(cluster: str, principal: str, flags: str) -> EngineFailure:
    """An EKS cluster made before the stack gave its deployer an entry of its own still holds its
    creator's bootstrap entry, for the same principal (README: Cluster admin)."""
    return EngineFailure(
        f"EKS cluster {cluster} already has an access entry for {principal}: its creator's permanent admin entry, "
        "from before the stack made the deployer's",
        f"as one of platform:aws.adminRoleArns (their entries are the stack's), remove it with: aws eks delete-access-entry "
        f"--cluster-name {cluster} --principal-arn {principal}; then run platform up {flags} again",
    )
