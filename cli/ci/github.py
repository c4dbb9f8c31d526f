"""GitHub Actions workflows for a platform repository (`platform ci init --provider github`).

- platform-plan.yml      on pull request: the offline plan of every stack, compared with the base
                         branch's, posted as one comment. No secrets, no cloud access.
- platform-preview.yml   on pull request, per chosen cloud: `platform preview` of the dev stack, in
                         the GitHub Environment `<cloud>-dev-read` (a read-only cloud role, the dev
                         stack's passphrase).
- platform-deploy.yml    on push to main: `platform up` per stack, dev before prod, each in the
                         GitHub Environment named after the stack (give prod required reviewers).
- platform-drift.yml     daily: `platform preview --expect-no-changes` per stack in `<stack>-read`;
                         an issue when a stack drifted.
- platform-images-lock.yml weekly and on demand: `platform images lock` against the public
                         registries (which the machine that built the project could not reach),
                         proposed as a pull request when a digest changed. No secrets, no cloud.
- platform-mlflow-image.yml on a change to images/mlflow/ (and on demand): the platform's own MLflow
                         image, built and pushed to ghcr.io/<owner>/mlops-platform-mlflow:<version>.
- platform-pr-env.yml    opt-in per pull request (label `preview-env`): an environment pr-<number>
                         on the first chosen cloud, in the Environment `<cloud>-pr` (a role limited
                         to pr-* stacks), destroyed when the label goes or the PR closes.

Trust: every job that reads a secret, a variable or an OIDC token does so inside a GitHub
Environment, whose secrets and variables (the passphrase, the role to assume) exist only there;
the repository level holds none but the backend URL. A job that runs a pull request's code never
runs in a deploy environment, and holds no write permission on the repository. The cloud roles
trust only the `repo:<owner>/<repo>:environment:<name>` subject of their environment (README).

Hardening, checked by tests/test_ci.py: every action pinned to a commit SHA (version in a comment),
`permissions: {}` at the top and the least each job needs, cloud access only through OIDC
federation (no long-lived keys: the only secret is each stack's passphrase), a concurrency group
per stack, a timeout on every job, and no `${{ }}` expression inside a shell script (values reach
scripts through `env:`), so that a branch or title cannot inject commands.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

import yaml

from mlops_platform.components import names, versions

from . import actions

CLOUDS = names.MANAGED_CLOUDS  # a local stack has nothing to preview, deploy or watch in CI
PYTHON = "3.11"
RUNNER = "ubuntu-24.04"
PREVIEW_LABEL = "preview-env"
HEADER = (
    "# Written by `platform ci init --provider github`. Regenerate it rather than editing by hand.\n"
    "# Repository settings it expects: README, \"CI/CD\".\n"
)
# The only secret any workflow reads: a stack's passphrase, from the job's Environment.
PASSPHRASE = "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"
ENGINE_ENV = {"PULUMI_BACKEND_URL": "${{ vars.PULUMI_BACKEND_URL }}", "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}


def _uses(action: actions.Action, **with_: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"uses": action.ref}
    if with_:
        step["with"] = with_
    return step


def _checkout(name: str = "Check out", **with_: Any) -> dict[str, Any]:
    # No token left in .git/config for later steps to find.
    return {"name": name, **_uses(actions.CHECKOUT, **{"persist-credentials": False, **with_})}


def _python() -> dict[str, Any]:
    return {"name": f"Python {PYTHON}", **_uses(actions.SETUP_PYTHON, **{"python-version": PYTHON})}


def _charts_cache(key_file: str) -> dict[str, Any]:
    return {
        "name": "Cache the pinned Helm charts",
        **_uses(actions.CACHE, path="~/.cache/mlops-platform/charts",
                key=f"mlops-charts-${{{{ hashFiles('{key_file}') }}}}"),
    }


def _install(project: str = ".", extra_var: str = "EXTRA") -> dict[str, Any]:
    return {
        "name": "Install mlops-platform",
        "run": f'python -m pip install --quiet "{project}${{{extra_var}:+[${extra_var}]}}"',
    }


def _pulumi_cli() -> dict[str, Any]:
    """The Pulumi CLI at the pinned version, checked against the checksums published with the
    release (no installer script piped into a shell)."""
    version = versions.PULUMI_CLI_VERSION
    script = "\n".join([
        "set -euo pipefail",
        'cd "$RUNNER_TEMP"',
        'base="https://github.com/pulumi/pulumi/releases/download/v${PULUMI_VERSION}"',
        'curl -fsSLO "$base/pulumi-v${PULUMI_VERSION}-linux-x64.tar.gz"',
        'curl -fsSLO "$base/pulumi-${PULUMI_VERSION}-checksums.txt"',
        'grep " pulumi-v${PULUMI_VERSION}-linux-x64.tar.gz$" "pulumi-${PULUMI_VERSION}-checksums.txt" | sha256sum --check -',
        'tar -xzf "pulumi-v${PULUMI_VERSION}-linux-x64.tar.gz"',
        'echo "$RUNNER_TEMP/pulumi" >> "$GITHUB_PATH"',
    ])
    return {"name": f"Pulumi CLI {version}", "env": {"PULUMI_VERSION": version}, "run": script}


def _cloud_login(cloud: str) -> list[dict[str, Any]]:
    """OIDC federation: the job's short-lived GitHub token is exchanged for cloud credentials."""
    if cloud == "aws":
        return [{"name": "AWS credentials (OIDC)", **_uses(
            actions.AWS_CREDENTIALS, **{"role-to-assume": "${{ vars.AWS_ROLE_ARN }}", "aws-region": "${{ vars.AWS_REGION }}"})}]
    if cloud == "azure":
        return [
            {"name": "Azure login (OIDC)", **_uses(actions.AZURE_LOGIN, **{
                "client-id": "${{ vars.AZURE_CLIENT_ID }}", "tenant-id": "${{ vars.AZURE_TENANT_ID }}",
                "subscription-id": "${{ vars.AZURE_SUBSCRIPTION_ID }}"})},
            # AKS with Entra ID: kubectl and Pulumi authenticate through kubelogin.
            {"name": "kubelogin", "run": "az aks install-cli --only-show-errors"},
        ]
    return [
        {"name": "Google Cloud credentials (OIDC)", **_uses(actions.GCP_AUTH, **{
            "workload_identity_provider": "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}",
            "service_account": "${{ vars.GCP_SERVICE_ACCOUNT }}"})},
        {"name": "gcloud with the GKE auth plugin", **_uses(
            actions.GCP_SETUP_GCLOUD, install_components="gke-gcloud-auth-plugin")},
    ]


def _engine_steps(cloud: str) -> list[dict[str, Any]]:
    return [_checkout(), _python(), {**_install(), "env": {"EXTRA": cloud}}, _pulumi_cli(), *_cloud_login(cloud)]


def _oidc_permissions() -> dict[str, str]:
    return {"contents": "read", "id-token": "write"}


def _stack_env(cloud: str, env: str) -> dict[str, str]:
    return {"CLOUD": cloud, "STACK_ENV": env, **ENGINE_ENV}


# --- the workflows ------------------------------------------------------------------------------


# The plan job's one step: plan the base branch and the pull request, and compare them.
PLAN_COMPARE_SCRIPT = "\n".join([
    "set -uo pipefail",
    'mkdir -p "$RUNNER_TEMP/out"',
    'python -m venv "$RUNNER_TEMP/base-venv"',
    '"$RUNNER_TEMP/base-venv/bin/pip" install --quiet "./base${EXTRA:+[$EXTRA]}"',
    'python -m venv "$RUNNER_TEMP/head-venv"',
    '"$RUNNER_TEMP/head-venv/bin/pip" install --quiet "./head${EXTRA:+[$EXTRA]}"',
    '(cd base && "$RUNNER_TEMP/base-venv/bin/platform" charts pull --cloud "$CLOUD" >&2 \\',
    '  && "$RUNNER_TEMP/base-venv/bin/platform" plan --cloud "$CLOUD" --env "$STACK_ENV" --json > "$RUNNER_TEMP/base.json")',
    'base_status=$?',
    'cd head',
    '"$RUNNER_TEMP/head-venv/bin/platform" charts pull --cloud "$CLOUD" >&2',
    'comment="$RUNNER_TEMP/out/$STACK.md"',
    'if [ "$base_status" -eq 0 ]; then',
    '  "$RUNNER_TEMP/head-venv/bin/platform" plan --cloud "$CLOUD" --env "$STACK_ENV" \\',
    '    --compare "$RUNNER_TEMP/base.json" --format markdown --out "$RUNNER_TEMP/out/$STACK.json" > "$comment"',
    '  status=$?',
    'else',
    '  printf \'### `platform plan` · %s\\n\\nThe base branch could not be planned; this is the plan alone.\\n\' "$STACK" > "$comment"',
    '  "$RUNNER_TEMP/head-venv/bin/platform" plan --cloud "$CLOUD" --env "$STACK_ENV" --out "$RUNNER_TEMP/out/$STACK.json" > /dev/null',
    '  status=$?',
    'fi',
    'echo "status=$status" >> "$GITHUB_OUTPUT"',
])
# The comment job's step: one comment per pull request, updated in place (found by MARKER).
POST_COMMENT_SCRIPT = "\n".join([
    "set -euo pipefail",
    '{ echo "$MARKER"; echo "## Platform plan"; echo; cat plans/*.md; } > body.md',
    'id=$(gh api "repos/$REPO/issues/$PR/comments" --paginate \\',
    '  --jq ".[] | select(.body | startswith(\\"$MARKER\\")) | .id" | head -n 1)',
    'if [ -n "$id" ]; then',
    '  gh api --method PATCH "repos/$REPO/issues/comments/$id" -F body=@body.md > /dev/null',
    'else',
    '  gh pr comment "$PR" --repo "$REPO" --body-file body.md',
    'fi',
])


def plan_workflow(stacks: list[tuple[str, str]]) -> dict[str, Any]:
    matrix = [{"stack": f"{c}-{e}", "cloud": c, "env": e, "extra": "" if c == "local" else c} for c, e in stacks]
    return {
        "name": "platform plan",
        "on": {"pull_request": {}},
        "permissions": {},
        "concurrency": {"group": "platform-plan-${{ github.event.pull_request.number }}", "cancel-in-progress": True},
        "jobs": {
            "plan": {
                "name": "plan ${{ matrix.stack }}",
                "runs-on": RUNNER,
                "timeout-minutes": 30,
                "permissions": {"contents": "read"},
                "strategy": {"fail-fast": False, "matrix": {"include": matrix}},
                "env": {"STACK": "${{ matrix.stack }}", "CLOUD": "${{ matrix.cloud }}", "STACK_ENV": "${{ matrix.env }}",
                        "EXTRA": "${{ matrix.extra }}"},
                "steps": [
                    _checkout("Check out the pull request", path="head"),
                    _checkout("Check out its base", path="base", ref="${{ github.event.pull_request.base.sha }}"),
                    _python(),
                    _charts_cache("head/components/versions.py"),
                    {"name": "Plan the base branch and this pull request, and compare", "id": "compare", "run": PLAN_COMPARE_SCRIPT},
                    {"name": "Keep the comparison", "if": "always()", **_uses(
                        actions.UPLOAD_ARTIFACT, name="plan-${{ matrix.stack }}", path="${{ runner.temp }}/out",
                        **{"retention-days": 14})},
                    {"name": "Fail on mandatory policy violations", "if": "steps.compare.outputs.status != '0'",
                     "run": 'echo "platform plan exited $STATUS: see the comparison" >&2; exit 1',
                     "env": {"STATUS": "${{ steps.compare.outputs.status }}"}},
                ],
            },
            "comment": {
                "name": "post the comparison",
                "needs": "plan",
                # A fork's pull request gets a read-only token: its plans are kept as artifacts only.
                "if": "always() && github.event.pull_request.head.repo.full_name == github.repository",
                "runs-on": RUNNER,
                "timeout-minutes": 10,
                "permissions": {"pull-requests": "write"},
                "steps": [
                    {"name": "Fetch the comparisons", **_uses(
                        actions.DOWNLOAD_ARTIFACT, pattern="plan-*", path="plans", **{"merge-multiple": True})},
                    {"name": "Post or update the comment", "run": POST_COMMENT_SCRIPT, "env": {
                        "GH_TOKEN": "${{ github.token }}", "REPO": "${{ github.repository }}",
                        "PR": "${{ github.event.pull_request.number }}", "MARKER": "<!-- mlops-platform plan -->"}},
                ],
            },
        },
    }


def preview_workflow(clouds: list[str]) -> dict[str, Any]:
    jobs = {}
    for cloud in clouds:
        jobs[f"preview-{cloud}"] = {
            "name": f"preview {cloud}-dev",
            # Secrets and OIDC are not given to forks' pull requests.
            "if": "github.event.pull_request.head.repo.full_name == github.repository",
            "runs-on": RUNNER,
            # The pull request's code runs here: a read-only role and the dev passphrase, never prod's.
            "environment": f"{cloud}-dev-read",
            "timeout-minutes": 30,
            "permissions": _oidc_permissions(),
            "concurrency": {"group": f"platform-preview-{cloud}-${{{{ github.event.pull_request.number }}}}",
                            "cancel-in-progress": True},
            "env": _stack_env(cloud, "dev"),
            "steps": [*_engine_steps(cloud),
                      {"name": "Preview", "run": 'platform preview --cloud "$CLOUD" --env "$STACK_ENV"'}],
        }
    return {"name": "platform preview", "on": {"pull_request": {}}, "permissions": {}, "jobs": jobs}


def deploy_workflow(stacks: list[tuple[str, str]]) -> dict[str, Any]:
    jobs: dict[str, Any] = {}
    for cloud, env in stacks:
        job: dict[str, Any] = {
            "name": f"up {cloud}-{env}",
            "runs-on": RUNNER,
            "timeout-minutes": 120,
            # Protection rules live on the GitHub Environment: required reviewers for prod.
            "environment": f"{cloud}-{env}",
            "permissions": _oidc_permissions(),
            # One deploy per stack at a time, and a queued one waits rather than cancelling it.
            "concurrency": {"group": f"platform-{cloud}-{env}", "cancel-in-progress": False},
            "env": _stack_env(cloud, env),
            "steps": [*_engine_steps(cloud), {"name": "Deploy", "run": 'platform up --cloud "$CLOUD" --env "$STACK_ENV" --yes'}],
        }
        earlier = [f"up-{cloud}-{e}" for c, e in stacks if c == cloud and e != env and e == "dev" and env != "dev"]
        if earlier:
            job["needs"] = earlier
        jobs[f"up-{cloud}-{env}"] = job
    return {"name": "platform deploy", "on": {"push": {"branches": ["main"]}}, "permissions": {}, "jobs": jobs}


def drift_workflow(stacks: list[tuple[str, str]]) -> dict[str, Any]:
    matrix = [{"stack": f"{c}-{e}", "cloud": c, "env": e} for c, e in stacks]
    report = "\n".join([
        "set -euo pipefail",
        'title="Drift: a deployed stack no longer matches main"',
        'body="platform preview --expect-no-changes failed: $RUN_URL"',
        'open=$(gh issue list --repo "$REPO" --state open --search "$title in:title" --json number --jq ".[0].number")',
        'if [ -n "$open" ]; then gh issue comment "$open" --repo "$REPO" --body "$body";',
        'else gh issue create --repo "$REPO" --title "$title" --body "$body"; fi',
    ])
    steps: list[dict[str, Any]] = []
    for cloud in sorted({c for c, _ in stacks}):
        guard = f"matrix.cloud == '{cloud}'"
        for step in _cloud_login(cloud):
            steps.append({**step, "if": guard})
    return {
        "name": "platform drift",
        "on": {"schedule": [{"cron": "17 5 * * *"}], "workflow_dispatch": {}},
        "permissions": {},
        "jobs": {
            "drift": {
                "name": "drift ${{ matrix.stack }}",
                "runs-on": RUNNER,
                # Reading is enough to see drift: the stack's read-only role, without the deploy's reviewers.
                "environment": "${{ matrix.stack }}-read",
                "timeout-minutes": 30,
                "permissions": _oidc_permissions(),
                "concurrency": {"group": "platform-${{ matrix.stack }}", "cancel-in-progress": False},
                "strategy": {"fail-fast": False, "matrix": {"include": matrix}},
                "env": {"CLOUD": "${{ matrix.cloud }}", "STACK_ENV": "${{ matrix.env }}", "EXTRA": "${{ matrix.cloud }}", **ENGINE_ENV},
                "steps": [_checkout(), _python(), _install(), _pulumi_cli(), *steps,
                          {"name": "Preview, expecting no changes",
                           "run": 'platform preview --cloud "$CLOUD" --env "$STACK_ENV" --expect-no-changes'}],
            },
            "report": {
                "name": "open an issue",
                "needs": "drift",
                "if": "failure()",
                "runs-on": RUNNER,
                "timeout-minutes": 5,
                "permissions": {"issues": "write"},
                "steps": [{"name": "Open or update the drift issue", "run": report, "env": {
                    "GH_TOKEN": "${{ github.token }}", "REPO": "${{ github.repository }}",
                    "RUN_URL": "${{ github.server_url }}/${{ github.repository }}/actions/runs/${{ github.run_id }}"}}],
            },
        },
    }


def pr_env_workflow(cloud: str) -> dict[str, Any]:
    labelled = f"contains(github.event.pull_request.labels.*.name, '{PREVIEW_LABEL}')"
    same_repo = "github.event.pull_request.head.repo.full_name == github.repository"
    env = {"CLOUD": cloud, "STACK_ENV": "pr-${{ github.event.pull_request.number }}", **ENGINE_ENV}
    concurrency = {"group": f"platform-{cloud}-pr-${{{{ github.event.pull_request.number }}}}", "cancel-in-progress": False}
    return {
        "name": "platform pull-request environment",
        "on": {"pull_request": {"types": ["labeled", "unlabeled", "synchronize", "reopened", "closed"]}},
        "permissions": {},
        "jobs": {
            "up": {
                "name": f"up {cloud}-pr-${{{{ github.event.pull_request.number }}}}",
                "if": f"{same_repo} && github.event.action != 'closed' && {labelled}",
                "runs-on": RUNNER, "timeout-minutes": 120, "permissions": _oidc_permissions(),
                # A role limited to pr-* stacks and their own passphrase; give it required reviewers.
                "environment": f"{cloud}-pr",
                "concurrency": concurrency, "env": env,
                "steps": [*_engine_steps(cloud), {"name": "Deploy the pull request's environment",
                                                  "run": 'platform up --cloud "$CLOUD" --env "$STACK_ENV" --yes'}],
            },
            "down": {
                "name": f"destroy {cloud}-pr-${{{{ github.event.pull_request.number }}}}",
                "if": (f"{same_repo} && ((github.event.action == 'closed' && {labelled}) || "
                       f"(github.event.action == 'unlabeled' && github.event.label.name == '{PREVIEW_LABEL}'))"),
                "runs-on": RUNNER, "timeout-minutes": 90, "permissions": _oidc_permissions(),
                "environment": f"{cloud}-pr",
                "concurrency": concurrency, "env": env,
                "steps": [*_engine_steps(cloud), {"name": "Destroy the pull request's environment",
                                                  "run": 'platform destroy --cloud "$CLOUD" --env "$STACK_ENV" --yes'}],
            },
        },
    }


IMAGES_LOCK_SCRIPT = """set -uo pipefail
platform charts pull
platform images lock; status=$?   # 1: some image unresolved; the rest is still written
git diff --quiet -- components/images.lock.json && { echo "the image lock is current"; exit "$status"; }
git config user.name "mlops-platform images lock"
git config user.email "actions@users.noreply.github.com"
git switch -C images-lock-refresh
git commit -q -m "Image lock: refresh the digests from the registries" -- components/images.lock.json
git push -q --force "https://x-access-token:${GH_TOKEN}@github.com/${REPO}.git" HEAD:refs/heads/images-lock-refresh
gh pr view images-lock-refresh --repo "$REPO" >/dev/null 2>&1 || gh pr create --repo "$REPO" --head images-lock-refresh \\
  --title "Image lock: refreshed digests" --body "Written by platform-images-lock.yml: review each changed digest."
exit "$status"
"""


def images_lock_workflow() -> dict[str, Any]:
    """The image lock refreshed where the registries are reachable. It runs the default branch's
    code only (schedule, manual), reads no secret, and can write only a branch and a pull request.
    A pull request opened with the workflow token starts no other workflow: close and reopen it to
    run the plan (Ref: https://docs.github.com/en/actions/using-workflows/triggering-a-workflow#triggering-a-workflow-from-a-workflow)."""
    return {
        "name": "platform images lock",
        "on": {"schedule": [{"cron": "17 5 * * 1"}], "workflow_dispatch": {}},
        "permissions": {},
        "concurrency": {"group": "platform-images-lock", "cancel-in-progress": False},
        "jobs": {"lock": {
            "name": "resolve every image's digest",
            "runs-on": RUNNER,
            "timeout-minutes": 30,
            "permissions": {"contents": "write", "pull-requests": "write"},
            "steps": [
                _checkout(),
                _python(),
                _charts_cache("components/versions.py"),
                {"name": "Install mlops-platform", "run": "python -m pip install --quiet ."},
                # The checkout's lock, not the installed package's copy.
                {"name": "Lock the images and propose the change", "run": IMAGES_LOCK_SCRIPT,
                 "env": {"GH_TOKEN": "${{ github.token }}", "REPO": "${{ github.repository }}",
                         "PLATFORM_IMAGES_LOCK": "components/images.lock.json"}},
            ],
        }},
    }


MLFLOW_IMAGE_SCRIPT = """set -euo pipefail
image="ghcr.io/${OWNER,,}/mlops-platform-mlflow:${TAG}"
echo "$GH_TOKEN" | docker login ghcr.io --username "$ACTOR" --password-stdin
docker build --pull --tag "$image" images/mlflow
docker push "$image"
digest="$(docker inspect --format '{{index .RepoDigests 0}}' "$image")"
echo "pushed ${digest}: set mlflow.image to it in the stack files (README, Verified images)" | tee -a "$GITHUB_STEP_SUMMARY"
"""


def mlflow_image_workflow() -> dict[str, Any]:
    """The platform's own MLflow image (images/mlflow/) built and pushed to the repository owner's
    container registry when its folder changes on the default branch, or by hand. No cloud, no
    secret but the workflow token, which may write packages only."""
    from mlops_platform.components import versions

    return {
        "name": "platform MLflow image",
        "on": {"push": {"branches": ["main"], "paths": ["images/mlflow/**"]}, "workflow_dispatch": {}},
        "permissions": {},
        "concurrency": {"group": "platform-mlflow-image", "cancel-in-progress": False},
        "jobs": {"build": {
            "name": f"build and push MLflow {versions.MLFLOW_IMAGE.tag}",
            "runs-on": RUNNER,
            "timeout-minutes": 30,
            "permissions": {"contents": "read", "packages": "write"},
            "steps": [
                _checkout(),
                {"name": "Build and push", "run": MLFLOW_IMAGE_SCRIPT,
                 "env": {"GH_TOKEN": "${{ github.token }}", "ACTOR": "${{ github.actor }}",
                         "OWNER": "${{ github.repository_owner }}", "TAG": versions.MLFLOW_IMAGE.tag}},
            ],
        }},
    }


def workflows(stacks: Iterable[tuple[str, str]], clouds: list[str]) -> dict[str, str]:
    """File name -> workflow YAML, for the project's stacks ((cloud, env) pairs) and chosen clouds."""
    every = sorted(stacks, key=lambda s: (s[0] != "local", s[0], s[1] != "dev", s[1]))
    cloud_stacks = [(c, e) for c, e in every if c in clouds]
    files = {"platform-plan.yml": plan_workflow(every), "platform-images-lock.yml": images_lock_workflow(),
             "platform-mlflow-image.yml": mlflow_image_workflow()}
    if clouds:
        files["platform-preview.yml"] = preview_workflow([c for c in clouds if (c, "dev") in cloud_stacks])
        files["platform-deploy.yml"] = deploy_workflow(cloud_stacks)
        files["platform-drift.yml"] = drift_workflow(cloud_stacks)
        files["platform-pr-env.yml"] = pr_env_workflow(clouds[0])
    return {name: render(document) for name, document in files.items()}


# --- YAML ---------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render(document: dict[str, Any]) -> str:
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=200, default_flow_style=False, allow_unicode=True)
    # YAML 1.1 readers take a bare `on` for a boolean; PyYAML quotes it, GitHub accepts either.
    for action in actions.ALL:
        text = re.sub(rf"(uses: {re.escape(action.ref)})$", rf"\1  # {action.version}", text, flags=re.M)
    return HEADER + text
