"""The AWS sweep: what an EKS stack can leave in its account and region after `destroy`.

Kubernetes' AWS integrations tag what they create with the cluster: the in-tree service controller
and the AWS Load Balancer Controller tag load balancers, target groups and security groups
`kubernetes.io/cluster/<cluster>` (`elbv2.k8s.aws/cluster` for the latter), the EBS CSI driver tags
volumes `kubernetes.io/cluster/<cluster>: owned`, the VPC CNI tags the network interfaces it leaves
`cluster.k8s.amazonaws.com/name`. The program's own resources carry `mlops-platform/stack`. The
sweep asks each service by those tags and, for anything else still tagged with the stack, the
Resource Groups Tagging API.
Ref: https://docs.aws.amazon.com/eks/latest/userguide/network-load-balancing.html (cluster tag),
https://github.com/kubernetes-sigs/aws-ebs-csi-driver/blob/master/docs/tagging.md
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Optional

from mlops_platform.components import names
from mlops_platform.components.prices import monthly_flat, monthly_hourly

from . import Leftover, Sweeper, SweepError

STACK_TAG = names.tag_key("aws", "stack")
# On the RDS snapshot of a `platform backup` (cli/backup/rds.py): a backup is kept until its owner
# deletes it, so the sweep lists it as kept, with the stack's other kept data, not as a leftover.
BACKUP_TAG = names.tag_key("aws", "backup")
VOLUME_PRICES = {"gp3": "ebs_gp3_gb_month"}
LB_PRICES = {"network": "nlb_hour"}


# Readable names for the resource types the stack tags; any other reads "<service> <type>".
_ARN_KINDS = {("s3", ""): "S3 bucket", ("rds", "db"): "RDS instance", ("rds", "subgrp"): "RDS subnet group",
              ("rds", "snapshot"): "RDS snapshot",
              ("kms", "key"): "KMS key", ("logs", "log-group"): "CloudWatch log group",
              ("cognito-idp", "userpool"): "Cognito user pool"}  # identity.provider cognito: the people, kept in prod


def arn_kind(arn: str) -> str:
    """The resource type an ARN names: arn:partition:service:region:account:type/id, type:id, or id alone (S3)."""
    service, resource = arn.split(":", 5)[2], arn.split(":", 5)[-1]
    kind = resource.split("/", 1)[0] if "/" in resource else resource.split(":", 1)[0] if ":" in resource else ""
    return _ARN_KINDS.get((service, kind), f"{service} {kind}".strip())


def _tags(pairs: Optional[Iterable[dict[str, str]]]) -> dict[str, str]:
    return {p["Key"]: p["Value"] for p in pairs or []}


ELBV2_KINDS = ("Network Load Balancer", "Application Load Balancer", "load balancer")


class AwsSweep(Sweeper):
    # Load balancers first (they hold their target groups and security groups), interfaces before
    # the addresses they hold, volumes once detached.
    DELETE_ORDER = (*ELBV2_KINDS, "Classic Load Balancer", "target group", "security group", "network interface",
                    "EBS volume", "Elastic IP")

    def __init__(self, config: Any, clients: Any = None):
        """`clients`: a boto3 Session (tests); None: the default credential chain in the stack's region."""
        import boto3

        self.stack, self.cluster, self.region = config.stack_name, names.cluster_name(config.env), config.region
        self.session = clients or boto3.session.Session(region_name=self.region)

    # --- matching ------------------------------------------------------------------------------

    def tie(self, tags: dict[str, str]) -> Optional[str]:
        """The tag that ties a resource to this stack, as `key=value`, or None."""
        for key, wanted in ((STACK_TAG, {self.stack}), (f"kubernetes.io/cluster/{self.cluster}", {"owned", "shared"}),
                            ("elbv2.k8s.aws/cluster", {self.cluster}), ("cluster.k8s.amazonaws.com/name", {self.cluster})):
            if tags.get(key) in wanted:
                return f"{key}={tags[key]}"
        return None

    def _filters(self) -> list[list[dict[str, Any]]]:
        """EC2 filters, one call each (EC2 ANDs filters): the stack tag and each cluster tag."""
        return [
            [{"Name": f"tag:{STACK_TAG}", "Values": [self.stack]}],
            [{"Name": "tag-key", "Values": [f"kubernetes.io/cluster/{self.cluster}"]}],
            [{"Name": "tag:cluster.k8s.amazonaws.com/name", "Values": [self.cluster]}],
        ]

    def _ec2_items(self, ec2: Any, operation: str, key: str, id_key: str) -> list[dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for filters in self._filters():
            if ec2.can_paginate(operation):
                pages: Iterable[dict[str, Any]] = ec2.get_paginator(operation).paginate(Filters=filters)
            else:
                pages = [getattr(ec2, operation)(Filters=filters)]
            for page in pages:
                for item in page.get(key, []):
                    found[item[id_key]] = item
        return list(found.values())

    # --- the scan ------------------------------------------------------------------------------

    def scope(self) -> str:
        account = self.session.client("sts").get_caller_identity()["Account"]
        return f"account {account} ({self.region})"

    def scan(self) -> list[Leftover]:
        ec2 = self.session.client("ec2")
        elbv2 = self.session.client("elbv2")
        elb = self.session.client("elb")
        out: list[Leftover] = []
        for volume in self._ec2_items(ec2, "describe_volumes", "Volumes", "VolumeId"):
            tags = _tags(volume.get("Tags"))
            tie = self.tie(tags)
            if tie:
                kind = volume.get("VolumeType", "")
                key = VOLUME_PRICES.get(kind)
                out.append(Leftover(
                    "EBS volume", volume["VolumeId"], tags.get("kubernetes.io/created-for/pvc/name") or tags.get("Name", ""),
                    volume.get("AvailabilityZone", self.region), f"{volume['Size']} GiB {kind}, {volume.get('State')}; {tie}",
                    monthly_flat("aws", key, volume["Size"]) if key else None))
        load_balancers = elbv2.get_paginator("describe_load_balancers").paginate()
        arns = {lb["LoadBalancerArn"]: lb for page in load_balancers for lb in page["LoadBalancers"]}
        for arn, tags in self._elbv2_tags(elbv2, list(arns)).items():
            tie = self.tie(tags)
            if tie:
                lb = arns[arn]
                key = LB_PRICES.get(lb.get("Type", ""))
                kind_name = {"network": "Network Load Balancer", "application": "Application Load Balancer"}.get(
                    lb.get("Type", ""), "load balancer")
                out.append(Leftover(
                    kind_name,
                    arn, lb["LoadBalancerName"], self.region, "; ".join(x for x in (lb.get("Scheme"), tie) if x),
                    monthly_hourly("aws", key) if key else None))
        groups = {tg["TargetGroupArn"]: tg for page in elbv2.get_paginator("describe_target_groups").paginate()
                  for tg in page["TargetGroups"]}
        for arn, tags in self._elbv2_tags(elbv2, list(groups)).items():
            tie = self.tie(tags)
            if tie:
                out.append(Leftover("target group", arn, groups[arn]["TargetGroupName"], self.region, tie, 0.0))
        classic = [lb["LoadBalancerName"] for page in elb.get_paginator("describe_load_balancers").paginate()
                   for lb in page["LoadBalancerDescriptions"]]
        for index in range(0, len(classic), 20):
            for description in elb.describe_tags(LoadBalancerNames=classic[index:index + 20])["TagDescriptions"]:
                tie = self.tie(_tags(description.get("Tags")))
                if tie:
                    out.append(Leftover("Classic Load Balancer", description["LoadBalancerName"], description["LoadBalancerName"],
                                        self.region, tie, None))
        for group in self._ec2_items(ec2, "describe_security_groups", "SecurityGroups", "GroupId"):
            tie = self.tie(_tags(group.get("Tags")))
            if tie:
                out.append(Leftover("security group", group["GroupId"], group.get("GroupName", ""), self.region, tie, 0.0))
        for interface in self._ec2_items(ec2, "describe_network_interfaces", "NetworkInterfaces", "NetworkInterfaceId"):
            tie = self.tie(_tags(interface.get("TagSet")))
            if tie:
                out.append(Leftover("network interface", interface["NetworkInterfaceId"], interface.get("Description", ""),
                                    interface.get("AvailabilityZone", self.region), f"{interface.get('Status')}; {tie}", 0.0))
        for address in self._ec2_items(ec2, "describe_addresses", "Addresses", "AllocationId"):
            tie = self.tie(_tags(address.get("Tags")))
            if tie:
                out.append(Leftover("Elastic IP", address["AllocationId"], address.get("PublicIp", ""), self.region, tie,
                                    monthly_hourly("aws", "public_ipv4_hour")))
        seen = {item.id for item in out}
        tagging = self.session.client("resourcegroupstaggingapi")
        for page in tagging.get_paginator("get_resources").paginate(TagFilters=[{"Key": STACK_TAG, "Values": [self.stack]}]):
            for mapping in page["ResourceTagMappingList"]:
                arn = mapping["ResourceARN"]
                if arn in seen or any(arn.endswith(("/" + i, ":" + i)) for i in seen):
                    continue
                tags = _tags(mapping.get("Tags"))
                tie = self.tie(tags) or STACK_TAG
                name = arn.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
                if arn_kind(arn) == "RDS snapshot" and tags.get(BACKUP_TAG):
                    out.append(Leftover("RDS snapshot", arn, name, self.region,
                                        f"the database of backup {tags[BACKUP_TAG]}, kept until you delete it "
                                        f"(aws rds delete-db-snapshot --db-snapshot-identifier {name}); {tie}",
                                        None, deletable=False, kept=True))
                    continue
                # Not something Kubernetes made: listed so nothing goes unseen, never deleted here.
                out.append(Leftover(arn_kind(arn), arn, name, self.region, tie, None, deletable=False))
        return out

    @staticmethod
    def _elbv2_tags(elbv2: Any, arns: list[str]) -> dict[str, dict[str, str]]:
        tags: dict[str, dict[str, str]] = {}
        for index in range(0, len(arns), 20):
            for description in elbv2.describe_tags(ResourceArns=arns[index:index + 20])["TagDescriptions"]:
                tags[description["ResourceArn"]] = _tags(description.get("Tags"))
        return tags

    # --- deletion ------------------------------------------------------------------------------

    def delete_one(self, item: Leftover) -> None:
        if item.kind in ELBV2_KINDS:
            self.session.client("elbv2").delete_load_balancer(LoadBalancerArn=item.id)
        elif item.kind == "Classic Load Balancer":
            self.session.client("elb").delete_load_balancer(LoadBalancerName=item.id)
        elif item.kind == "target group":
            self.session.client("elbv2").delete_target_group(TargetGroupArn=item.id)
        elif item.kind == "security group":
            self.session.client("ec2").delete_security_group(GroupId=item.id)
        elif item.kind == "network interface":
            self.session.client("ec2").delete_network_interface(NetworkInterfaceId=item.id)
        elif item.kind == "EBS volume":
            self.session.client("ec2").delete_volume(VolumeId=item.id)
        elif item.kind == "Elastic IP":
            self.session.client("ec2").release_address(AllocationId=item.id)
        else:
            raise ValueError(f"the AWS sweep does not delete a {item.kind}")

    def settle(self, kind: str, deleted: list[Leftover]) -> None:
        if kind in ELBV2_KINDS:
            # Target groups and security groups stay in use until the load balancers are gone.
            waiter = self.session.client("elbv2").get_waiter("load_balancers_deleted")
            waiter.wait(LoadBalancerArns=[item.id for item in deleted], WaiterConfig={"Delay": 5, "MaxAttempts": 60})

    def reason(self, err: Exception) -> str:
        return _reason(err)

    @staticmethod
    @contextmanager
    def cloud_errors() -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        try:
            yield
        except NoCredentialsError:
            raise SweepError("no AWS credentials: log in (aws sso login, or set AWS_PROFILE) and run the sweep again") from None
        except ClientError as err:
            raise SweepError(f"AWS refused the sweep's query ({_reason(err)})") from None
        except BotoCoreError as err:
            raise SweepError(f"cannot reach AWS: {err}") from None


def _reason(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    error = response.get("Error") or {}
    return f"{error.get('Code', type(err).__name__)}: {error.get('Message', str(err))}".strip()


SWEEPER = AwsSweep
