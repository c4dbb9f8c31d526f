"""The third-party GitHub Actions the generated workflows use, each pinned to a full commit SHA.

A tag can be moved to other code; a commit cannot. The version each SHA was released as is kept
beside it and written into the workflow as a comment, so that a reader (and Dependabot) knows it.
Ref: https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#using-third-party-actions
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    repo: str
    sha: str
    version: str

    @property
    def ref(self) -> str:
        return f"{self.repo}@{self.sha}"


CHECKOUT = Action("actions/checkout", "11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2")
SETUP_PYTHON = Action("actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0")
CACHE = Action("actions/cache", "5a3ec84eff668545956fd18022155c47e93e2684", "v4.2.3")
UPLOAD_ARTIFACT = Action("actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2")
DOWNLOAD_ARTIFACT = Action("actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0")
AWS_CREDENTIALS = Action("aws-actions/configure-aws-credentials", "e3dd6a429d7300a6a4c196c26e071d42e0343502", "v4.0.2")
AZURE_LOGIN = Action("azure/login", "a457da9ea143d694b1b9c7c869ebb04ebe844ef5", "v2.3.0")
GCP_AUTH = Action("google-github-actions/auth", "6fc4af4b145ae7821d527454aa9bd537d1f2dc5f", "v2.1.7")
GCP_SETUP_GCLOUD = Action("google-github-actions/setup-gcloud", "6189d56e4096ee891640bb02ac264be376592d6a", "v2.1.2")

ALL = (CHECKOUT, SETUP_PYTHON, CACHE, UPLOAD_ARTIFACT, DOWNLOAD_ARTIFACT, AWS_CREDENTIALS, AZURE_LOGIN, GCP_AUTH,
       GCP_SETUP_GCLOUD)
