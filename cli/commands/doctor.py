"""`platform doctor`: are the tools and credentials a deployment needs in place?"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional

import typer

from .common import JsonOption

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
    app.command("doctor")(doctor)


def _run(command: list[str]) -> tuple[bool, str]:
    if shutil.which(command[0]) is None:
        return False, f"{command[0]} not found on PATH"
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT,
                                env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})
    except (OSError, subprocess.SubprocessError) as err:
        return False, str(err)
    text = (result.stdout or result.stderr).strip().splitlines()
    return result.returncode == 0, (text[0] if text else f"exit {result.returncode}")[:160]


def checks_for(cloud: Optional[str]) -> list[Check]:
    from mlops_platform.components import versions

    from ..engine.workspace import EngineUnavailable, pulumi_cli

    out = [Check("python", True, sys.version_info >= (3, 11), sys.version.split()[0], "Python 3.11 or newer")]
    try:
        path, version = pulumi_cli()
        out.append(Check("pulumi CLI", True, True, f"{version} at {path}"))
    except EngineUnavailable as err:
        out.append(Check("pulumi CLI", True, False, str(err), "curl -fsSL https://get.pulumi.com | sh"))
    wanted = [cloud] if cloud else ["local", "aws", "azure", "gcp"]
    required = cloud is not None
    probes = {
        "local": [
            ("kind", ["kind", "version"], f"https://kind.sigs.k8s.io (v{versions.KIND_VERSION})"),
            ("docker running", ["docker", "info", "--format", "{{.ServerVersion}}"], "start Docker"),
        ],
        "aws": [
            ("aws CLI", ["aws", "--version"], "https://aws.amazon.com/cli/"),
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
    for name in wanted:
        for label, command, fix in probes[name]:
            ok, detail = _run(command)
            if label.endswith("credentials") and ok:
                detail = "authenticated"  # never echo account details or tokens
            out.append(Check(f"{name}: {label}", required, ok, detail, "" if ok else fix))
    return out


def doctor(
    cloud: Optional[str] = typer.Option(None, "--cloud", "-c", help="Check only what this cloud needs (and make it required)."),
    json_output: bool = JsonOption,
) -> None:
    """Check the Pulumi CLI and, per cloud, the tools and credentials; exit 1 if a required one is missing."""
    from .. import display
    from ..errors import EXIT_FAILED, PlatformExit
    from ..project import check_cloud

    if cloud is not None:
        check_cloud(cloud)
    results = checks_for(cloud)
    failed = [c for c in results if c.required and not c.ok]
    if json_output:
        display.print_json({"checks": [c.to_json() for c in results], "ok": not failed})
    else:
        from rich.table import Table

        table = Table(show_edge=False)
        for column in ("check", "status", "detail", "fix"):
            table.add_column(column)
        for check in results:
            status = "[green]ok[/green]" if check.ok else ("[red]missing[/red]" if check.required else "[yellow]missing[/yellow]")
            table.add_row(check.name, status, check.detail, check.fix)
        display.out().print(table)
    if failed:
        display.err().print(f"[red]{len(failed)} required check(s) failed[/red]: " + ", ".join(c.name for c in failed))
        raise PlatformExit(EXIT_FAILED)
