"""The post-destroy sweep on AWS, through real boto3 calls to moto in server mode on loopback.

The account is seeded with what a torn-down EKS stack can leave (a PVC's EBS volume, an NLB with its
target group and security group, a CNI network interface, an Elastic IP, a bucket the stack still
protects) and with untagged look-alikes: the sweep must find exactly the tagged ones, price them
from prices.json, and `--delete` must remove exactly the ones it may.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from mlops_platform.cli.app import app
from mlops_platform.cli.sweep import sweep
from mlops_platform.components.prices import table as price_table

REGION = "us-east-1"
CLUSTER = "mlops-dev"
STACK = "aws-dev"


def aws_price(key: str) -> float:
    return float(price_table()["clouds"]["aws"]["items"][key]["price"])


@pytest.fixture()
def aws_dev(stack_config) -> Any:
    return stack_config(STACK)


def _tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


@pytest.fixture()
def seeded(moto_endpoint) -> dict[str, Any]:
    """Leftovers of stack aws-dev (cluster mlops-dev), and look-alikes that are not its."""
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    owned = {f"kubernetes.io/cluster/{CLUSTER}": "owned"}
    ids: dict[str, Any] = {}

    def volume(tags: dict[str, str]) -> str:
        spec = [{"ResourceType": "volume", "Tags": _tags(tags)}] if tags else []
        return ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=5, VolumeType="gp3", TagSpecifications=spec)["VolumeId"]

    ids["volume"] = volume({**owned, "kubernetes.io/created-for/pvc/name": "prometheus-db-0", "CSIVolumeName": "pvc-1"})
    ids["volume_other_cluster"] = volume({"kubernetes.io/cluster/mlops-prod": "owned",
                                          "kubernetes.io/created-for/pvc/name": "prometheus-db-0"})
    ids["volume_untagged"] = volume({})

    def security_group(name: str, tags: dict[str, str]) -> str:
        spec = [{"ResourceType": "security-group", "Tags": _tags(tags)}] if tags else []
        return ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc, TagSpecifications=spec)["GroupId"]

    ids["security_group"] = security_group("k8s-traefik-traefik", owned)
    ids["security_group_untagged"] = security_group("k8s-traefik-lookalike", {})

    def nlb(name: str, tags: dict[str, str]) -> str:
        kwargs: dict[str, Any] = {"Tags": _tags(tags)} if tags else {}
        return elbv2.create_load_balancer(Name=name, Subnets=subnets, Type="network", Scheme="internet-facing",
                                          **kwargs)["LoadBalancers"][0]["LoadBalancerArn"]

    ids["nlb"] = nlb("a1b2c3traefik", {**owned, "kubernetes.io/service-name": "traefik/traefik"})
    ids["nlb_untagged"] = nlb("lookalike", {})

    def target_group(name: str, tags: dict[str, str]) -> str:
        kwargs: dict[str, Any] = {"Tags": _tags(tags)} if tags else {}
        return elbv2.create_target_group(Name=name, Protocol="TCP", Port=30443, VpcId=vpc, TargetType="instance",
                                         **kwargs)["TargetGroups"][0]["TargetGroupArn"]

    ids["target_group"] = target_group("k8s-traefik-443", owned)
    ids["target_group_untagged"] = target_group("k8s-lookalike-443", {})

    def interface(tags: dict[str, str]) -> str:
        spec = [{"ResourceType": "network-interface", "Tags": _tags(tags)}] if tags else []
        return ec2.create_network_interface(SubnetId=subnets[0], Description="aws-K8S-i-0abc",
                                            TagSpecifications=spec)["NetworkInterface"]["NetworkInterfaceId"]

    ids["interface"] = interface({"cluster.k8s.amazonaws.com/name": CLUSTER, "node.k8s.amazonaws.com/instance_id": "i-0abc"})
    ids["interface_untagged"] = interface({})
    ids["address"] = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": _tags({"mlops-platform/stack": STACK})}])["AllocationId"]
    ids["address_other_stack"] = ec2.allocate_address(Domain="vpc", TagSpecifications=[
        {"ResourceType": "elastic-ip", "Tags": _tags({"mlops-platform/stack": "aws-prod"})}])["AllocationId"]
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="mlops-dev-artifacts-abc123")
    s3.put_bucket_tagging(Bucket="mlops-dev-artifacts-abc123", Tagging={"TagSet": _tags({"mlops-platform/stack": STACK})})
    ids["bucket"] = "mlops-dev-artifacts-abc123"
    return ids


TAGGED = ("volume", "security_group", "nlb", "target_group", "interface", "address")
LOOKALIKES = ("volume_other_cluster", "volume_untagged", "security_group_untagged", "nlb_untagged",
              "target_group_untagged", "interface_untagged", "address_other_stack")


def test_the_sweep_finds_exactly_the_stacks_leftovers_and_prices_them(seeded, aws_dev):
    result = sweep(aws_dev)
    found = {item.id: item for item in result.leftovers}
    assert {seeded[k] for k in TAGGED} <= set(found)
    assert not {seeded[k] for k in LOOKALIKES} & set(found)
    bucket = [item for item in result.leftovers if item.name == seeded["bucket"]]
    assert len(bucket) == 1 and bucket[0].deletable is False, "tagged by the stack, but not Kubernetes' to delete"
    assert bucket[0].kind == "S3 bucket"
    assert set(found) == {seeded[k] for k in TAGGED} | {bucket[0].id}
    assert result.scope == f"account 123456789012 ({REGION})"
    hours = price_table()["hours_per_month"]
    assert found[seeded["volume"]].monthly == pytest.approx(5 * aws_price("ebs_gp3_gb_month"))
    assert found[seeded["volume"]].name == "prometheus-db-0" and found[seeded["volume"]].kind == "EBS volume"
    assert found[seeded["nlb"]].monthly == pytest.approx(round(aws_price("nlb_hour") * hours, 2))
    assert found[seeded["address"]].monthly == pytest.approx(round(aws_price("public_ipv4_hour") * hours, 2))
    assert found[seeded["address"]].detail == "mlops-platform/stack=aws-dev"
    assert result.monthly() == pytest.approx(sum(i.monthly or 0 for i in result.leftovers))
    assert not result.clean and not result.to_json()["complete"], "the bucket has no price: the total is a lower bound"


def test_protected_resources_still_in_the_state_are_kept_not_leftovers(seeded, aws_dev):
    result = sweep(aws_dev, state_ids=[seeded["bucket"]])
    (bucket,) = [item for item in result.leftovers if item.kept]
    assert bucket.name == seeded["bucket"] and bucket not in result.remaining


def test_delete_removes_exactly_the_tagged_kubernetes_leftovers(seeded, aws_dev):
    import boto3

    result = sweep(aws_dev, delete=True, state_ids=[seeded["bucket"]])
    assert not result.failed, result.failed
    assert set(result.deleted) == {seeded[k] for k in TAGGED}
    assert result.clean
    ec2 = boto3.client("ec2", region_name=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert seeded["volume"] not in volumes and {seeded["volume_other_cluster"], seeded["volume_untagged"]} <= volumes
    balancers = {lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]}
    assert balancers == {seeded["nlb_untagged"]}
    groups = {tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]}
    assert groups == {seeded["target_group_untagged"]}
    interfaces = {i["NetworkInterfaceId"] for i in ec2.describe_network_interfaces()["NetworkInterfaces"]}
    assert seeded["interface"] not in interfaces and seeded["interface_untagged"] in interfaces
    addresses = {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]}
    assert addresses == {seeded["address_other_stack"]}
    assert boto3.client("s3", region_name=REGION).head_bucket(Bucket=seeded["bucket"])
    again = sweep(aws_dev, state_ids=[seeded["bucket"]])
    assert again.clean and [i.name for i in again.leftovers] == [seeded["bucket"]]


def test_the_command_reports_leftovers_with_cost_and_exits_1(seeded, project, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no Pulumi CLI: the sweep says it cannot tell kept from left
    result = CliRunner().invoke(app, ["sweep", "--cloud", "aws", "--json"])
    assert result.exit_code == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["scope"] == f"account 123456789012 ({REGION})" and document["clean"] is False
    assert len(document["leftovers"]) == 7
    assert "the stack's state is not read" in result.stderr
    assert "error: 7 resources of the stack are left in account 123456789012 (us-east-1)" in result.stderr
    table = CliRunner().invoke(app, ["sweep", "--cloud", "aws"])
    assert "left in account 123456789012 (us-east-1)" in table.stdout and "prometheus-db-0" in table.stdout
    assert "EBS volume" in table.stdout and "Network Load Balancer" in table.stdout


def test_without_credentials_one_line_and_exit_1(project, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("PATH", "/nonexistent")
    result = CliRunner().invoke(app, ["sweep", "--cloud", "aws"])
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith("error: no AWS credentials")


def test_delete_refuses_while_the_stack_has_resources(project, monkeypatch, tmp_path, standin_engine):
    """The state is asked first (a stand-in Pulumi CLI here): nothing is looked up or deleted."""

    fake = standin_engine(state=True)
    fake.stacks({STACK: {"resources": [
        {"urn": "urn:pulumi:aws-dev::mlops-platform::aws:eks/cluster:Cluster::mlops-cluster-eks", "type": "aws:eks/cluster:Cluster"}]}})
    result = CliRunner().invoke(app, ["sweep", "--cloud", "aws", "--delete", "--yes"])
    assert result.exit_code == 1
    assert "stack aws-dev still has 1 resource: the sweep deletes only what a destroy left" in result.stderr
    assert [c["args"][0] for c in fake.calls()].count("destroy") == 0


def test_delete_after_a_destroy_leaves_only_what_is_not_kubernetes_and_says_so(seeded, project, monkeypatch, tmp_path, standin_engine):
    """Through the command: the emptied stack lets --delete run; the stack-tagged bucket stays, and the
    last line says it is one resource that `sweep --delete` cannot remove."""

    standin_engine(state=True).stacks({STACK: {"resources": []}})
    result = CliRunner().invoke(app, ["sweep", "--cloud", "aws", "--delete", "--yes"])
    assert result.exit_code == 1, result.stderr
    assert {line.split()[1] for line in result.stdout.splitlines() if line.startswith("deleted ")} == {
        seeded[k] for k in TAGGED}
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith("error: 1 resource of the stack is left in account 123456789012 (us-east-1) ($0.00/month)")
    assert "sweep --delete" not in line and "platform destroy" in line


def test_load_balancers_are_deleted_before_their_target_and_security_groups(seeded, aws_dev):
    """A load balancer holds its target groups and security group until it is gone: the sweep deletes
    it first and waits, or their deletes fail (ResourceInUse, DependencyViolation) on a real account."""
    import boto3

    session = boto3.session.Session(region_name=REGION)
    calls: list[str] = []
    session.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    result = sweep(aws_dev, delete=True, state_ids=[seeded["bucket"]], clients=session)
    order = result.deleted
    assert order.index(seeded["nlb"]) < order.index(seeded["target_group"])
    assert order.index(seeded["nlb"]) < order.index(seeded["security_group"])
    assert order.index(seeded["interface"]) < order.index(seeded["address"]), "an interface before the address it holds"
    # The wait between: the load balancer is polled until gone, after its delete and before the groups'.
    deleted_at = calls.index("DeleteLoadBalancer")
    polled = [i for i, name in enumerate(calls) if name == "DescribeLoadBalancers" and i > deleted_at]
    assert polled and polled[0] < calls.index("DeleteTargetGroup") and polled[0] < calls.index("DeleteSecurityGroup")


def test_a_stack_the_backend_does_not_know_is_swept_read_only(seeded, project, monkeypatch, tmp_path, standin_engine):

    fake = standin_engine(state=True)
    fake.stacks({})
    result = CliRunner().invoke(app, ["sweep", "--cloud", "aws", "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["clean"] is False, result.stderr
    assert "stack aws-dev is not in this backend: sweeping read-only" in result.stderr
    deleting = CliRunner().invoke(app, ["sweep", "--cloud", "aws", "--delete", "--yes"])
    assert deleting.exit_code == 1
    (line,) = [x for x in deleting.stderr.splitlines() if x.startswith("error:")]
    assert "is not in this backend, so the sweep cannot tell that it was destroyed" in line and "--backend" in line
    import boto3

    assert seeded["volume"] in {v["VolumeId"] for v in boto3.client("ec2", region_name=REGION).describe_volumes()["Volumes"]}


def test_delete_without_a_pulumi_cli_refuses_and_deletes_nothing(seeded, project, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = CliRunner().invoke(app, ["sweep", "--cloud", "aws", "--delete", "--yes"])
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "the Pulumi CLI is not installed" in line
    import boto3

    assert seeded["nlb"] in {lb["LoadBalancerArn"] for lb in boto3.client("elbv2", region_name=REGION).describe_load_balancers()["LoadBalancers"]}


def test_tagged_resources_the_sweep_does_not_delete_read_by_their_kind():
    from mlops_platform.cli.sweep.aws import arn_kind

    # Moto's tagging API does not list Cognito pools: the name is checked on the ARN AWS documents.
    assert arn_kind("arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf") == "Cognito user pool"
    assert arn_kind("arn:aws:rds:us-east-1:123456789012:db:mlops-prod") == "RDS instance"
    assert arn_kind("arn:aws:sqs:us-east-1:123456789012:queue1") == "sqs"


def test_a_backups_snapshot_is_listed_as_kept_with_how_to_delete_it(moto_endpoint, aws_dev, project, monkeypatch, standin_engine):
    """`platform backup` tags its RDS snapshot with the stack (tags given to CreateDBSnapshot replace the
    instance's): it outlives a destroy, billing, so the sweep shows it, as a backup kept, not a leftover.
    A snapshot of the stack without the backup tag is still a leftover."""
    import boto3

    from mlops_platform.cli.backup.rds import Snapshotted
    from mlops_platform.components.data.backup_kit.objects import Bucket

    rds = boto3.client("rds", region_name=REGION)
    rds.create_db_instance(DBInstanceIdentifier="mlops-dev-db", Engine="postgres", DBInstanceClass="db.t4g.micro",
                           AllocatedStorage=20, MasterUsername="mlflow", MasterUserPassword="not-used-here-3",
                           CopyTagsToSnapshot=True, Tags=_tags({"mlops-platform/stack": STACK}))
    part = Snapshotted(rds, "mlops-dev-db", delay=0.1, stack=STACK).take(
        Bucket(boto3.client("s3", region_name=REGION), "unused"), "backups/bk-20261207t070000z-abc123/", lambda _: None)
    rds.create_db_snapshot(DBInstanceIdentifier="mlops-dev-db", DBSnapshotIdentifier="by-hand",
                           Tags=_tags({"mlops-platform/stack": STACK}))
    result = sweep(aws_dev)
    snapshots = {item.name: item for item in result.leftovers if item.kind == "RDS snapshot"}
    assert {part.ref, "by-hand"} <= set(snapshots)  # (and the automated snapshot moto takes of a new instance)
    backup = snapshots[part.ref]
    assert backup.kept and not backup.deletable and backup not in result.remaining
    assert "bk-20261207t070000z-abc123" in backup.detail and f"--db-snapshot-identifier {part.ref}" in backup.detail
    assert snapshots["by-hand"] in result.remaining, "only a backup's snapshot is expected"
