"""The VPC's private ways to the AWS services the workloads use, so that their HTTPS egress can be
an allow-list of address ranges (components/egress.py) instead of the whole internet.

- S3: a gateway endpoint on the private route tables. Traffic to the region's S3 takes it, and the
  ranges it routes (its prefix list's, the endpoint's `cidr_blocks`) are where S3 answers. Free.
  Ref: https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-s3.html
- STS, where IRSA trades a pod's token for the role's credentials: an interface endpoint with
  private DNS in each private subnet, so sts.<region>.amazonaws.com resolves to addresses in the VPC.
  EKS's pod identity webhook points the SDKs at the regional endpoint.
  Ref: https://docs.aws.amazon.com/vpc/latest/privatelink/create-interface-endpoint.html,
  https://docs.aws.amazon.com/eks/latest/userguide/configure-sts-endpoint.html
"""

from __future__ import annotations

from typing import Callable, Sequence

import pulumi
import pulumi_aws as aws

from ..network import HTTPS_PORT


def service_endpoints(
    name: str,
    opts: Callable[..., pulumi.ResourceOptions],
    region: str,
    vpc: aws.ec2.Vpc,
    vpc_cidr: str,
    private_subnet_ids: Sequence[pulumi.Output[str]],
    private_route_table_ids: Sequence[pulumi.Output[str]],
) -> pulumi.Output[list[str]]:
    """Creates both endpoints; returns the ranges the workloads reach them at: the VPC's (STS's
    interfaces) and the S3 prefix list's."""
    s3 = aws.ec2.VpcEndpoint(
        f"{name}-s3-endpoint",
        vpc_id=vpc.id,
        service_name=f"com.amazonaws.{region}.s3",
        vpc_endpoint_type="Gateway",
        route_table_ids=list(private_route_table_ids),
        opts=opts(),
    )
    group = aws.ec2.SecurityGroup(
        f"{name}-sts-endpoint-sg",
        vpc_id=vpc.id,
        description="HTTPS from the VPC to the STS interface endpoint",
        ingress=[{"protocol": "tcp", "from_port": HTTPS_PORT, "to_port": HTTPS_PORT, "cidr_blocks": [vpc_cidr]}],
        opts=opts(),
    )
    aws.ec2.VpcEndpoint(
        f"{name}-sts-endpoint",
        vpc_id=vpc.id,
        service_name=f"com.amazonaws.{region}.sts",
        vpc_endpoint_type="Interface",
        private_dns_enabled=True,
        subnet_ids=list(private_subnet_ids),
        security_group_ids=[group.id],
        opts=opts(),
    )
    return s3.cidr_blocks.apply(lambda blocks: [vpc_cidr, *(blocks or [])])
