"""What a reviewer checks in the workflows `ci init` writes, read from the YAML alone: nothing here
imports the generator's own tables or helpers, so a bug there cannot hide behind the test.

- A job that runs a pull request's code holds no write permission on the repository and never runs
  in a deploy environment; whatever secret, variable or OIDC token it uses comes from a GitHub
  Environment of its own (so not from the repository level, where a deploy's could live).
- Every action is pinned to the commit its version tag names, as recorded in PINS below.
- The Pulumi CLI is checked against its release's checksums before it is unpacked, at the version
  pyproject.toml pins for the SDK.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any, Iterator

import pytest
import yaml

from mlops_platform.cli.ci import github
from support import ROOT

# Every action the workflows may use: the commit each release tag points at. Read on 2026-12-05 from
# snapshots of each repository with `git rev-parse <tag>^{commit}` (not from cli/ci/actions.py).
PINS: dict[str, dict[str, str]] = {
    "actions/checkout": {"v4.2.2": "11bd71901bbe5b1630ceea73d27597364c9af683"},
    "actions/setup-python": {"v5.6.0": "a26af69be951a213d495a4c3e4e4022e16d87065"},
    "actions/cache": {"v4.2.3": "5a3ec84eff668545956fd18022155c47e93e2684"},
    "actions/upload-artifact": {"v4.6.2": "ea165f8d65b6e75b540449e92b4886f43607fa02"},
    "actions/download-artifact": {"v4.3.0": "d3f86a106a0bac45b974a628896c90dbdf5c8093"},
    "aws-actions/configure-aws-credentials": {"v4.0.2": "e3dd6a429d7300a6a4c196c26e071d42e0343502"},
    "azure/login": {"v2.3.0": "a457da9ea143d694b1b9c7c869ebb04ebe844ef5"},
    "google-github-actions/auth": {"v2.1.7": "6fc4af4b145ae7821d527454aa9bd537d1f2dc5f"},
    "google-github-actions/setup-gcloud": {"v2.1.2": "6189d56e4096ee891640bb02ac264be376592d6a"},
}
USES = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@(\S+?)(?:\s+#\s*(\S+))?\s*$")
PR_EVENTS = ("pull_request", "pull_request_target")


def load(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    if True in document:  # YAML 1.1 reads a bare `on` as true
        document["on"] = document.pop(True)
    return document


def generated_files(clouds: tuple[str, ...] = ("aws", "azure", "gcp")) -> dict[str, str]:
    stacks = [("local", "dev"), *((c, e) for c in ("aws", "azure", "gcp") for e in ("dev", "prod"))]
    return github.workflows(stacks, list(clouds))


def jobs(files: dict[str, str]) -> Iterator[tuple[str, dict[str, Any], str, dict[str, Any]]]:
    for name, text in files.items():
        document = load(text)
        for job_name, job in document["jobs"].items():
            yield name, document, job_name, job


def events(document: dict[str, Any]) -> set[str]:
    on = document["on"]
    return {on} if isinstance(on, str) else set(on)


def runs_pull_request_code(document: dict[str, Any], job: dict[str, Any]) -> bool:
    """Triggered by a pull request and checking out its code (the default ref, or its head)."""
    if not events(document) & set(PR_EVENTS):
        return False
    for step in job.get("steps", []):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            ref = str((step.get("with") or {}).get("ref", ""))
            if "base" not in ref:
                return True
    return False


def uses_credentials(job: dict[str, Any]) -> bool:
    text = yaml.safe_dump(job)
    names = set(re.findall(r"\b(?:secrets|vars)\.(\w+)", text)) - {"PULUMI_BACKEND_URL"}
    return bool(names) or (job.get("permissions") or {}).get("id-token") == "write"


def deploy_environments(files: dict[str, str]) -> set[str]:
    """The environments of jobs that change a stack on a push (where a deploy's secrets live)."""
    out = set()
    for _, document, _, job in jobs(files):
        runs = " ".join(str(s.get("run", "")) for s in job.get("steps", []))
        if "push" in events(document) and ("platform up" in runs or "platform destroy" in runs):
            out.add(str(job.get("environment")))
    return out


def trust_problems(files: dict[str, str]) -> list[str]:
    problems = []
    deploying = deploy_environments(files)
    for name, document, job_name, job in jobs(files):
        where = f"{name}:{job_name}"
        environment = job.get("environment")
        environment = environment.get("name") if isinstance(environment, dict) else environment
        if uses_credentials(job) and not environment:
            problems.append(f"{where} reads secrets, variables or an OIDC token outside any environment")
        if not runs_pull_request_code(document, job):
            continue
        if "pull_request_target" in events(document):
            problems.append(f"{where} runs a pull request's code on pull_request_target (with the base's secrets)")
        writes = sorted(k for k, v in (job.get("permissions") or {}).items() if v == "write" and k != "id-token")
        if writes:
            problems.append(f"{where} runs a pull request's code with write permission on {', '.join(writes)}")
        if environment in deploying or str(environment).endswith("-prod"):
            problems.append(f"{where} runs a pull request's code in the deploy environment {environment}")
    return problems


def test_no_job_that_runs_pull_request_code_holds_a_write_permission_or_a_deploy_secret():
    files = generated_files()
    assert deploy_environments(files) == {f"{c}-{e}" for c in ("aws", "azure", "gcp") for e in ("dev", "prod")}
    pr_jobs = [f"{n}:{j}" for n, d, j, job in jobs(files) if runs_pull_request_code(d, job)]
    assert sorted(pr_jobs) == ["platform-plan.yml:plan", "platform-pr-env.yml:down", "platform-pr-env.yml:up",
                               "platform-preview.yml:preview-aws", "platform-preview.yml:preview-azure",
                               "platform-preview.yml:preview-gcp"]
    assert trust_problems(files) == []
    assert trust_problems({f"own/{p.name}": p.read_text() for p in (ROOT / ".github" / "workflows").glob("*.yml")}) == []


def test_the_trust_check_finds_each_way_to_break_it():
    files = generated_files(("aws",))
    preview = load(files["platform-preview.yml"])
    job = preview["jobs"]["preview-aws"]

    def broken(edit) -> list[str]:
        copy = yaml.safe_load(yaml.safe_dump(preview))
        edit(copy["jobs"]["preview-aws"])
        return trust_problems({**files, "platform-preview.yml": yaml.safe_dump(copy)})

    assert any("write permission on contents" in p for p in broken(lambda j: j["permissions"].update(contents="write")))
    assert any("deploy environment aws-dev" in p for p in broken(lambda j: j.update(environment="aws-dev")))
    assert any("outside any environment" in p for p in broken(lambda j: j.pop("environment")))
    target = yaml.safe_load(yaml.safe_dump(preview))
    target["on"] = {"pull_request_target": {}}
    assert any("pull_request_target" in p for p in trust_problems({**files, "platform-preview.yml": yaml.safe_dump(target)}))
    assert job["environment"] == "aws-dev-read"


def test_every_action_is_pinned_to_the_commit_its_version_names():
    files = {**generated_files(), **{f"own/{p.name}": p.read_text() for p in (ROOT / ".github" / "workflows").glob("*.yml")}}
    seen = 0
    for name, text in files.items():
        for line in text.splitlines():
            match = USES.match(line)
            if not match:
                continue
            repo, ref, version = match.groups()
            assert repo in PINS, f"{name}: {repo} is not a reviewed action"
            assert version in PINS[repo], f"{name}: {repo} {version} has no recorded commit"
            assert ref == PINS[repo][version], f"{name}: {repo}@{ref} is not {version} ({PINS[repo][version]})"
            seen += 1
    assert seen > 30


def test_the_pin_check_catches_a_moved_sha_or_a_wrong_comment():
    line = "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af684  # v4.2.2"
    repo, ref, version = USES.match(line).groups()
    assert ref != PINS[repo][version]
    assert USES.match("- uses: actions/checkout@v4").groups()[2] is None


def _pulumi_steps(files: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{n}:{j}", step) for n, _, j, job in jobs(files) for step in job.get("steps", [])
            if "pulumi-v" in str(step.get("run", "")) and ".tar.gz" in str(step.get("run", ""))]


def pulumi_download_problems(where: str, step: dict[str, Any]) -> list[str]:
    script = step["run"].splitlines()
    problems = []
    if not any(line.strip().startswith("set -e") for line in script):
        problems.append(f"{where}: the script does not stop on the first error")
    check = next((i for i, line in enumerate(script) if "sha256sum" in line and ("--check" in line or " -c" in line)), None)
    unpack = next((i for i, line in enumerate(script) if line.strip().startswith("tar ")), None)
    if check is None or "checksums" not in script[check] or ".tar.gz" not in script[check]:
        problems.append(f"{where}: the archive is not checked against the release's checksums")
    elif unpack is None or unpack < check:
        problems.append(f"{where}: the archive is unpacked before it is checked")
    if not any("checksums.txt" in line and "curl" in line for line in script):
        problems.append(f"{where}: the checksums are not downloaded from the release")
    pinned = next(d.split("==")[1] for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
                  if d.startswith("pulumi=="))
    if (step.get("env") or {}).get("PULUMI_VERSION") != pinned:
        problems.append(f"{where}: installs Pulumi {(step.get('env') or {}).get('PULUMI_VERSION')}, not the SDK's {pinned}")
    return problems


def test_the_pulumi_cli_download_is_checksum_verified_before_use():
    found = _pulumi_steps(generated_files())
    assert len(found) >= 6
    for where, step in found:
        assert pulumi_download_problems(where, step) == []


@pytest.mark.parametrize("edit, fragment", [
    (lambda s: s.replace("sha256sum --check -", "cat"), "not checked against the release's checksums"),
    (lambda s: "\n".join(line for line in s.splitlines() if not line.startswith("set -")), "does not stop"),
    (lambda s: "tar -xzf early.tar.gz\n" + s, "unpacked before it is checked"),
])
def test_the_download_check_catches_each_weakening(edit, fragment):
    where, step = _pulumi_steps(generated_files())[0]
    problems = pulumi_download_problems(where, {**step, "run": edit(step["run"])})
    assert any(fragment in p for p in problems), problems
