"""`platform doctor`: are the tools and credentials a deployment needs in place?"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional

import typer

from .common import Cloud, JsonOption

TIMEOUT = 30


@dataclass
class Check:
    name: str
    required: bool
    ok: bool
    detail: str
    fix: str = ""

    def to_json(self) -> dict:
        return {"check": self.name, "required": self.required, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def register(app: typer.Typer) -> None:
    app.command("doctor", short_help="Check the tools and credentials deployments need.")(doctor)


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _run(command: list[str]) -> tuple[bool, str]:
    if shutil.which(command[0]) is None:
        return False, f"{command[0]} not found on PATH"
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                                env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})
    except (OSError, subprocess.SubprocessError) as err:
        return False, str(err)
    ok = result.returncode == 0
    # A failing tool says why on stderr (docker prints an empty line on stdout).
    text = _first_line(result.stdout if ok else result.stderr) or _first_line(result.stdout + result.stderr)
    return ok, text or f"exit {result.returncode}"


def _docker(ok: bool, detail: str) -> tuple[bool, str]:
    if not ok and ("Cannot connect to the Docker daemon" in detail or "daemon running" in detail):
        return False, f"daemon not running ({detail})"
    return ok, detail


def _aws_cli_v2(ok: bool, detail: str) -> tuple[bool, str]:
    """`aws eks get-token` (the kubeconfig's credential plugin) needs the AWS CLI v2."""
    if ok and not detail.startswith("aws-cli/2."):
        return False, f"{detail.split()[0] if detail else 'aws CLI'} found; version 2 is needed (aws eks get-token)"
    return ok, detail


def python_check() -> Check:
    """The running Python against the range the project declares (requires-python)."""
    from importlib.metadata import PackageNotFoundError, metadata

    from packaging.specifiers import SpecifierSet

    try:
        declared = metadata("mlops-platform")["Requires-Python"] or ""
    except PackageNotFoundError:
        declared = ""
    running = ".".join(map(str, sys.version_info[:3]))
    bounds = sorted(SpecifierSet(declared), key=lambda spec: (spec.operator.startswith("<"), spec.version))
    wanted = ", ".join(str(spec) for spec in bounds) if declared else "any"
    ok = not declared or running in SpecifierSet(declared)
    return Check("python", True, ok, f"{running} (the project needs Python {wanted})",
                 "" if ok else f"create the virtual environment with a Python {wanted}, e.g. python3.11 -m venv .venv")


def checks_for(cloud: Optional[str]) -> list[Check]:
    from mlops_platform.components import names, versions

    from ..engine.workspace import EngineUnavailable, pulumi_cli

    out = [python_check()]
    try:
        path, version = pulumi_cli()
        out.append(Check("pulumi CLI", True, True, f"{version} at {path}"))
    except EngineUnavailable as err:
        out.append(Check("pulumi CLI", True, False, str(err).split(";")[0], "curl -fsSL https://get.pulumi.com | sh"))
    wanted = [cloud] if cloud else list(names.CLOUDS)
    required = cloud is not None
    probes = {
        "local": [
            ("kind", ["kind", "version"], f"install kind v{versions.KIND_VERSION}: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"),
            ("docker running", ["docker", "info", "--format", "{{.ServerVersion}}"], "start the Docker daemon (Docker Desktop, or: sudo systemctl start docker)"),
        ],
        "aws": [
            ("aws CLI v2", ["aws", "--version"], "install the AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"),
            ("aws credentials", ["aws", "sts", "get-caller-identity", "--output", "text", "--query", "Arn"], "aws configure sso (or set AWS_PROFILE)"),
        ],
        "azure": [
            ("az CLI", ["az", "version", "--output", "tsv"], "https://learn.microsoft.com/cli/azure/install-azure-cli"),
            ("azure credentials", ["az", "account", "show", "--query", "name", "--output", "tsv"], "az login"),
            ("kubelogin", ["kubelogin", "--version"], "az aks install-cli"),
        ],
        "gcp": [
            ("gcloud CLI", ["gcloud", "--version"], "https://cloud.google.com/sdk/docs/install"),
            ("gcloud credentials", ["gcloud", "auth", "application-default", "print-access-token"], "gcloud auth application-default login"),
            ("gke-gcloud-auth-plugin", ["gke-gcloud-auth-plugin", "--version"], "gcloud components install gke-gcloud-auth-plugin"),
        ],
    }
    interpret = {"docker running": _docker, "aws CLI v2": _aws_cli_v2}
    for name in wanted:
        for label, command, fix in probes[name]:
            ok, detail = _run(command)
            if label in interpret:
                ok, detail = interpret[label](ok, detail)
            if label.endswith("credentials") and ok:
                detail = "authenticated"  # never echo account details or tokens
            out.append(Check(f"{name}: {label}", required, ok, detail, "" if ok else fix))
    return out


def doctor(
    cloud: Optional[Cloud] = typer.Option(None, "--cloud", "-c", help="Check only what this cloud needs (and make it required).",
                                          show_default=False),
    json_output: bool = JsonOption,
) -> None:
    """Check the Pulumi CLI and, per cloud, the tools and credentials; exit 1 if a required one is missing."""
    from .. import display
    from ..errors import EXIT_FAILED, PlatformExit
    results = checks_for(cloud.value if cloud is not None else None)
    failed = [c for c in results if c.required and not c.ok]
    if json_output:
        display.print_json({"checks": [c.to_json() for c in results], "ok": not failed})
    else:
        from rich.markup import escape
        from rich.table import Table

        table = Table(show_edge=False)
        for column in ("check", "status", "detail"):
            table.add_column(column)
        for check in results:
            status = "[green]ok[/green]" if check.ok else ("[red]missing[/red]" if check.required else "[yellow]missing[/yellow]")
            table.add_row(check.name, status, escape(check.detail))
        console = display.out()
        console.print(table)
        # Fixes on lines of their own, never wrapped or cut: commands and URLs stay copyable.
        for check in results:
            if check.fix:
                console.print(f"to fix {check.name}: {escape(check.fix)}", soft_wrap=True, highlight=False)
    if failed:
        display.err().print(f"[red]{len(failed)} required check(s) failed[/red]: " + ", ".join(c.name for c in failed))
        raise PlatformExit(EXIT_FAILED)
