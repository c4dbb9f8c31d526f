"""No permanent admin (issue 23, item 7), under the SDK's mocks: EKS has no creator-admin bootstrap;
cluster admin goes to the stack file's roles and to whoever runs `up`, each an access entry of the
stack that the Kubernetes provider waits for; the policy that requires it; the one-line hint when a
cluster made before still holds the creator's entry."""

from __future__ import annotations

import pytest

from mlops_platform.planner import mocks
from mlops_platform.planner.harness import plan_platform

CLUSTER = "aws:eks/cluster:Cluster"
ENTRY = "aws:eks/accessEntry:AccessEntry"
ASSOCIATION = "aws:eks/accessPolicyAssociation:AccessPolicyAssociation"
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
CALLER = "aws:index/getCallerIdentity:getCallerIdentity"


def _entries(run):
    return {e.input("principalArn"): e for e in run.of_type(ENTRY)}


@pytest.mark.parametrize("stack", ["aws-dev", "aws-prod"])
def test_no_creator_admin_and_the_deployer_is_an_entry_of_the_stack(planned, stack):
    run = planned(stack)
    [cluster] = run.of_type(CLUSTER)
    assert cluster.input("accessConfig") == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    assert "accessConfig.bootstrapClusterCreatorAdminPermissions" in cluster.ignore_changes, "an older cluster is not replaced"
    # The mocks' caller (an IAM user) is its own issuer.
    deployer = _entries(run)["arn:aws:iam::123456789012:user/mock"]
    [association] = [a for a in run.of_type(ASSOCIATION) if a.input("principalArn") == deployer.input("principalArn")]
    assert association.input("policyArn") == ADMIN_POLICY and association.input("accessScope") == {"type": "cluster"}
    assert deployer.urn in association.dependencies
    [provider] = [r for r in run.resources if r.type == "pulumi:providers:kubernetes"]
    assert association.urn in provider.dependencies, "the Kubernetes provider waits for the deployer's access"


def test_prod_admins_come_from_the_stack_file(planned, stack_config):
    run = planned("aws-prod")
    admins = set(stack_config("aws-prod").aws_settings.admin_role_arns)
    assert admins and set(_entries(run)) == admins | {"arn:aws:iam::123456789012:user/mock"}
    assert {a.input("principalArn") for a in run.of_type(ASSOCIATION)} == set(_entries(run))


def test_an_assumed_role_is_entered_by_its_role_and_never_twice(monkeypatch, stack_config):
    # A CI job runs as a session of a role: the entry names the role, and a role the stack file
    # already lists as an admin gets no second entry (EKS refuses one).
    config = stack_config("aws-prod")
    [admin] = config.aws_settings.admin_role_arns
    session = "arn:aws:sts::123456789012:assumed-role/{}/gha-run-42"
    monkeypatch.setitem(mocks._CALL_OUTPUTS, CALLER, lambda a: {"accountId": "123456789012", "userId": "AROA:x",
                                                                "arn": session.format("deployer")})
    assert set(_entries(plan_platform(config))) == {admin, "arn:aws:iam::123456789012:role/deployer"}
    monkeypatch.setitem(mocks._CALL_OUTPUTS, CALLER, lambda a: {"accountId": "123456789012", "userId": "AROA:x",
                                                                "arn": session.format(admin.rsplit("/", 1)[-1])})
    run = plan_platform(config)
    assert list(_entries(run)) == [admin] and len(run.of_type(ASSOCIATION)) == 1
    [provider] = [r for r in run.resources if r.type == "pulumi:providers:kubernetes"]
    assert run.of_type(ASSOCIATION)[0].urn in provider.dependencies


def test_a_cluster_made_before_names_its_creator_entry_and_the_way_out(project, state, fake, monkeypatch):
    from support.cli import invoke, one_line_error

    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "a passphrase kept elsewhere")

    principal = "arn:aws:iam::123456789012:user/alice"
    fake.fail("up", "  aws:eks:AccessEntry (mlops-cluster-deployer):\n    error: creating EKS Access Entry "
                    f"(mlops-dev:{principal}): operation error EKS: CreateAccessEntry, https response error StatusCode: "
                    "409, RequestID: 1f0e, ResourceInUseException: The specified access entry resource is already in use "
                    "on this cluster.\nerror: update failed\n")
    result = invoke("up", "--cloud", "aws", "--yes")
    assert result.exit_code == 1, result.output
    line = one_line_error(result)
    assert f"EKS cluster mlops-dev already has an access entry for {principal}" in line
    assert f"aws eks delete-access-entry --cluster-name mlops-dev --principal-arn {principal}" in line
    assert "platform up --cloud aws" in line and "Traceback" not in result.output
