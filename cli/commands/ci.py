"""`platform ci init`: CI/CD workflows for the repository that holds this project."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Optional

import typer

ci_app = typer.Typer(
    name="ci",
    short_help="Write CI/CD workflows: plan diffs on PRs, deploys on merge.",
    help="CI/CD for the repository holding this project.",
    no_args_is_help=True,
    add_completion=False,
)


class Provider(str, Enum):
    github = "github"


def register(app: typer.Typer) -> None:
    app.add_typer(ci_app)


@ci_app.command("init", short_help="Write the workflows (or print them with --dry-run).")
def init(
    provider: Provider = typer.Option(..., "--provider", help="The CI service.", show_default=False),
    clouds: Optional[str] = typer.Option(
        None, "--clouds", help="Comma-separated clouds to preview, deploy and watch for drift "
        "(default: every cloud with a stack file). 'none' for the plan comparison only.", show_default=False,
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the workflows instead of writing them."),
    directory: Optional[str] = typer.Option(
        None, "--dir", help="Where to write them (default: .github/workflows in the project).", show_default=False
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite workflow files that differ."),
) -> None:
    """Plan every stack offline on each pull request and post what changes (no secrets needed);
    preview with cloud credentials from OIDC; deploy on merge; check daily for drift; and, for a
    pull request labelled preview-env, a short-lived environment of its own."""
    from mlops_platform.planner import files as written

    from .. import display, paths
    from ..ci import github
    from ..errors import fail
    from ..project import project_dir, shipped_stacks

    project = project_dir()
    stacks = [tuple(name.split("-", 1)) for name in shipped_stacks(project, derived=False)]
    present = sorted({c for c, _ in stacks if c in github.CLOUDS})
    if clouds is None:
        chosen = present
    elif clouds.strip() == "none":
        chosen = []
    else:
        chosen = [c.strip() for c in clouds.split(",") if c.strip()]
        unknown = [c for c in chosen if c not in github.CLOUDS]
        if unknown or not chosen:
            fail(f"--clouds {clouds}: {', '.join(unknown) or 'empty'} is not one of {', '.join(github.CLOUDS)}",
                 "e.g. --clouds aws,gcp, or --clouds none")
        missing = [c for c in chosen if (c, "dev") not in stacks]
        if missing:
            fail(f"--clouds {clouds}: no stack file stacks/Pulumi.{missing[0]}-dev.yaml",
                 "workflows preview and deploy the stacks in stacks/")
    files = github.workflows([(c, e) for c, e in stacks], chosen)
    if dry_run:
        for name, text in files.items():
            sys.stdout.write(f"# --- {name}\n{text}")
        sys.stdout.flush()
        return
    target = paths.output_folder(directory or str(project / ".github" / "workflows"), "--dir") if directory else None
    if target is None:
        target = project / ".github" / "workflows"
        target.mkdir(parents=True, exist_ok=True)
    clashes = [n for n, text in files.items() if (target / n).exists() and (target / n).read_text(encoding="utf-8") != text]
    if clashes and not force:
        fail(f"{target / clashes[0]} exists and differs ({len(clashes)} files in all)",
             "review them, then pass --force to overwrite, or --dry-run to see the new ones")
    written.write_texts({target / name: text for name, text in files.items()})  # all of them, or none
    for name in files:
        display.progress(f"wrote {target / name}")
    display.progress("Next: the repository variables and secret they read are listed in README, \"CI/CD\".")
