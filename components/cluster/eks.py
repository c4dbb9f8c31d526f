"""EksCluster: a VPC over two or more AZs and an EKS cluster with secure defaults.

- VPC with public subnets (load balancers, NAT; `kubernetes.io/role/elb`) and private subnets
  (nodes; `kubernetes.io/role/internal-elb`), NAT per AZ in prod, one in dev.
- Secrets encrypted with a customer-managed KMS key with rotation on; all five control-plane log
  types, kept 30 days (never-expiring log groups are a silent cost).
- API authentication mode with access entries, and no creator-admin bootstrap: cluster admin goes
  to the stack file's admin roles and to the identity running `up`, each an access entry of the
  stack (so the deployer's goes with `destroy`, and moves when someone else deploys). The public
  endpoint limited to configured CIDRs (or private only); standard support only (no
  extended-support surcharge).
- A managed node group in the private subnets from a launch template requiring IMDSv2 with hop
  limit 1 (pods cannot borrow the node's role) and an encrypted gp3 root volume; an optional
  GPU node group with a taint.
- The EBS CSI addon (with its own IRSA role) and a default gp3 StorageClass: EKS ships none
  since 1.30. Ref: https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html
- An IAM OIDC provider, so workloads get IRSA roles (components/data/aws.py).
- Endpoints for S3 and STS in the VPC (aws_endpoints.py): the workloads' HTTPS egress is limited
  to them and `platform:egress.allow` (components/egress.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from .. import names, subnets
from ..aws_iam import assume_role, irsa_trust, policy
from ..config import PlatformConfig
from . import kubeconfig
from .aws_endpoints import service_endpoints
from .outputs import AwsNetwork, ClusterOutputs, IngressExposure, ManagedClusterArgs, audit_log_days, kubernetes_provider

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
EBS_CSI_SERVICE_ACCOUNT = ("kube-system", "ebs-csi-controller-sa")
STORAGE_CLASS = "gp3"
# An NLB from the AWS cloud controller, internet-facing, spread across AZs.
# Ref: https://kubernetes.io/docs/reference/labels-annotations-taints/#service-beta-kubernetes-io-aws-load-balancer-type
INGRESS = IngressExposure(
    service_type="LoadBalancer",
    service_annotations={
        "service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
        "service.beta.kubernetes.io/aws-load-balancer-cross-zone-load-balancing-enabled": "true",
    },
    # An NLB with scheme internal, in the private subnets.
    internal_annotations=names.INTERNAL_LOAD_BALANCER["aws"],
)


@dataclass(frozen=True)
class EksClusterArgs(ManagedClusterArgs):
    vpc_cidr: str = "10.40.0.0/16"
    az_count: int = 2
    availability_zones: tuple[str, ...] = ()
    nat_per_az: bool = False
    admin_role_arns: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Network:
    vpc: aws.ec2.Vpc
    private_subnet_ids: list[pulumi.Output[str]]
    private_route_table_ids: list[pulumi.Output[str]]
    routes: list[pulumi.Resource]  # every default route: the nodes need them to pull images and reach the API


class EksCluster(pulumi.ComponentResource):
    outputs: ClusterOutputs

    @staticmethod
    def args_from(config: PlatformConfig) -> EksClusterArgs:
        aws_config = config.aws_settings
        return EksClusterArgs(
            **ManagedClusterArgs.common(config),
            vpc_cidr=str(aws_config.vpc_cidr),
            az_count=config.aws_zone_count,
            availability_zones=aws_config.availability_zones,
            nat_per_az=config.is_prod,
            admin_role_arns=aws_config.admin_role_arns,
        )

    def __init__(self, name: str, args: EksClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mlops:cluster:EksCluster", name, None, opts)
        self.aws = aws.Provider(
            f"{name}-aws", region=args.region, default_tags={"tags": dict(args.tags)}, opts=pulumi.ResourceOptions(parent=self)
        )
        network = self._network(name, args)
        self._flow_logs(name, args, network.vpc)
        https_ranges = service_endpoints(name, self._opts, args.region, network.vpc, args.vpc_cidr,
                                         network.private_subnet_ids, network.private_route_table_ids)
        self.cluster = self._control_plane(name, args, network)
        admins = self._admins(name, args)
        ready: list[pulumi.Resource] = self._nodes(name, args, network)
        issuer_host = self._oidc(name)
        self.kubeconfig: pulumi.Output[str] = pulumi.Output.secret(
            kubeconfig.eks(self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data, args.region)
        )
        # The provider reaches the API once the deployer's access entry has its policy.
        self.k8s = kubernetes_provider(f"{name}-k8s", self.kubeconfig, self, [self.cluster, *admins])
        ready += self._storage(name, issuer_host)
        self.outputs = ClusterOutputs(
            cloud="aws",
            name=self.cluster.name,
            endpoint=self.cluster.endpoint,
            kubeconfig=self.kubeconfig,
            provider=self.k8s,
            storage_class=STORAGE_CLASS,
            ingress=INGRESS,
            node_count=args.node_count,
            network=AwsNetwork(
                provider=self.aws,
                region=args.region,
                vpc_id=network.vpc.id,
                vpc_cidr=args.vpc_cidr,
                private_subnet_ids=network.private_subnet_ids,
                cluster_security_group_id=self.cluster.vpc_config.apply(lambda c: c["cluster_security_group_id"]),
                oidc_provider_arn=self.oidc_provider.arn,
                oidc_issuer=issuer_host,
                https_ranges=https_ranges,
            ),
            ready=tuple(ready),
        )
        self.register_outputs(self.outputs.registered())

    # --- pieces -----------------------------------------------------------------------------

    def _opts(self, *depends_on: pulumi.Resource, **extra: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self.aws, depends_on=list(depends_on), **extra)

    def _control_plane(self, name: str, args: EksClusterArgs, network: _Network) -> aws.eks.Cluster:
        """The cluster: secrets under its own KMS key, every log type kept, the API limited."""
        child = self._opts
        secrets_key = aws.kms.Key(
            f"{name}-secrets-key",
            description=f"Kubernetes secrets envelope encryption for EKS {args.cluster_name}",
            enable_key_rotation=True,
            deletion_window_in_days=30 if args.protect else 7,
            opts=child(),
        )
        cluster_role = aws.iam.Role(f"{name}-cluster-role", assume_role_policy=assume_role("eks.amazonaws.com"), opts=child())
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=cluster_role.name,
            policy_arn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy",
            opts=child(),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{args.cluster_name}/cluster",  # the name EKS writes to
            retention_in_days=audit_log_days(args.protect),
            opts=child(),
        )
        return aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config={
                "subnet_ids": network.private_subnet_ids,
                "endpoint_private_access": True,
                "endpoint_public_access": not args.private_endpoint,
                "public_access_cidrs": list(args.api_allowed_cidrs) if not args.private_endpoint else None,
            },
            # No permanent entry for whoever created the cluster: admins are the entries below.
            # Ref: https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html
            access_config={"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": False},
            encryption_config={"provider": {"key_arn": secrets_key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=LOG_TYPES,
            upgrade_policy={"support_type": "STANDARD"},
            deletion_protection=args.protect,
            # Not after the private subnets' default routes (the NAT gateways): the control plane needs
            # none; the nodes do, to pull images and reach the API, so the node groups wait for them.
            # EKS reads the bootstrap flag at creation only, and the provider replaces the cluster on a
            # change (hashicorp/terraform-provider-aws#35824): a cluster made before keeps its flag
            # (README: Cluster admin says how to remove that entry).
            opts=child(cluster_policy, log_group, ignore_changes=["accessConfig.bootstrapClusterCreatorAdminPermissions"]),
        )

    def _admins(self, name: str, args: EksClusterArgs) -> list[pulumi.Resource]:
        """Cluster admin for the stack's admin roles and the deployer, through access entries; returns
        the deployer's policy association (its access is ready then).

        The deployer needs cluster-wide admin: the charts install CRDs, ClusterRoles and webhooks, and
        RBAC lets only who holds every right of a role bind it.
        Ref: https://kubernetes.io/docs/reference/access-authn-authz/rbac/#privilege-escalation-prevention-and-bootstrapping"""
        deployer = self._deployer()
        principals = [(f"{name}-admin-{index}", arn) for index, arn in enumerate(args.admin_role_arns)]
        if deployer not in args.admin_role_arns:
            principals.append((f"{name}-deployer", deployer))
        ready: list[pulumi.Resource] = []
        for resource_name, arn in principals:
            entry = aws.eks.AccessEntry(resource_name, cluster_name=self.cluster.name, principal_arn=arn, opts=self._opts(self.cluster))
            association = aws.eks.AccessPolicyAssociation(
                f"{resource_name}-policy",
                cluster_name=self.cluster.name,
                principal_arn=arn,
                policy_arn="arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                access_scope={"type": "cluster"},
                opts=self._opts(entry),
            )
            if arn == deployer:
                ready.append(association)
        return ready

    def _deployer(self) -> str:
        """The IAM principal running `up`: an assumed role's session ARN names its role, whose ARN
        (with its path) is what an access entry takes.
        Ref: https://docs.aws.amazon.com/eks/latest/userguide/creating-access-entries.html"""
        invoke = pulumi.InvokeOptions(provider=self.aws)
        caller = aws.get_caller_identity(opts=invoke)
        return aws.iam.get_session_context(arn=caller.arn, opts=invoke).issuer_arn

    def _nodes(self, name: str, args: EksClusterArgs, network: _Network) -> list[pulumi.Resource]:
        """The node role, the launch template (IMDSv2, hop limit 1, encrypted gp3) and the node groups."""
        child = self._opts
        node_role = aws.iam.Role(f"{name}-node-role", assume_role_policy=assume_role("ec2.amazonaws.com"), opts=child())
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{suffix}",
                role=node_role.name,
                policy_arn=f"arn:aws:iam::aws:policy/{policy_name}",
                opts=child(),
            )
            for suffix, policy_name in (
                ("worker", "AmazonEKSWorkerNodePolicy"),
                ("cni", "AmazonEKS_CNI_Policy"),
                ("ecr", "AmazonEC2ContainerRegistryReadOnly"),
            )
        ]
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-nodes-lt",
            description=f"EKS {args.cluster_name} nodes: IMDSv2 only, encrypted gp3 root volume",
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                # 1 hop: a pod's network namespace is a hop away, so pods cannot reach IMDS.
                "http_put_response_hop_limit": 1,
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": args.disk_size_gb,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            tag_specifications=[{"resource_type": "instance", "tags": {"Name": f"{args.cluster_name}-node", **args.tags}}],
            opts=child(),
        )
        after = [self.cluster, *node_policies, *network.routes]
        self.node_group = self._node_group(
            f"{name}-nodes", network, node_role, after,
            instance_type=args.instance_type, desired=args.node_count, minimum=args.node_count, maximum=args.max_nodes,
            ami_type="AL2023_x86_64_STANDARD", taints=[], labels={"mlops.dev/pool": "general"},
        )
        ready: list[pulumi.Resource] = [self.node_group]
        if args.gpu.enabled:
            self.gpu_node_group = self._node_group(
                f"{name}-gpu-nodes", network, node_role, after,
                instance_type=args.gpu.instance_type, desired=args.gpu.node_count, minimum=0, maximum=args.gpu.max_nodes,
                ami_type="AL2023_x86_64_NVIDIA",
                taints=[{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}],
                labels={"mlops.dev/pool": "gpu"},
            )
            ready.append(self.gpu_node_group)
        return ready

    def _oidc(self, name: str) -> pulumi.Output[str]:
        """The cluster's IAM OIDC provider, for IRSA; returns its issuer without https://."""
        issuer_url = self.cluster.identities.apply(lambda ids: ids[0]["oidcs"][0]["issuer"])
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc", url=issuer_url, client_id_lists=["sts.amazonaws.com"], opts=self._opts()
        )
        return issuer_url.apply(lambda url: url.replace("https://", ""))

    def _storage(self, name: str, issuer_host: pulumi.Output[str]) -> list[pulumi.Resource]:
        """The EBS CSI driver (with its own IRSA role) and the default gp3 class."""
        child = self._opts
        ebs_role = aws.iam.Role(
            f"{name}-ebs-csi-role",
            assume_role_policy=irsa_trust(self.oidc_provider.arn, issuer_host, *EBS_CSI_SERVICE_ACCOUNT),
            opts=child(),
        )
        ebs_policy = aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi-policy",
            role=ebs_role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy",
            opts=child(),
        )
        ebs_addon = aws.eks.Addon(
            f"{name}-ebs-csi",
            cluster_name=self.cluster.name,
            addon_name="aws-ebs-csi-driver",
            service_account_role_arn=ebs_role.arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=child(self.node_group, ebs_policy),
        )
        storage_class = k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata={
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                "labels": {"app.kubernetes.io/part-of": "mlops-platform"},
            },
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "csi.storage.k8s.io/fstype": "ext4"},
            # Delete: a released volume stops billing with its claim.
            reclaim_policy="Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=pulumi.ResourceOptions(parent=self, provider=self.k8s, depends_on=[ebs_addon]),
        )
        return [ebs_addon, storage_class]

    def _flow_logs(self, name: str, args: EksClusterArgs, vpc: aws.ec2.Vpc) -> None:
        """Every flow in and out of the VPC's interfaces (accepted and rejected), to CloudWatch Logs,
        kept like the control plane's logs. The service writes through a role only it can assume.
        Ref: https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-cwl.html"""
        child = self._opts
        group = aws.cloudwatch.LogGroup(f"{name}-flow-logs", name=f"/mlops-platform/{args.cluster_name}/vpc-flow-logs",
                                        retention_in_days=audit_log_days(args.protect), opts=child())
        role = aws.iam.Role(f"{name}-flow-logs-role", assume_role_policy=assume_role("vpc-flow-logs.amazonaws.com"), opts=child())
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=role.id,
            policy=group.arn.apply(lambda arn: policy({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Resource": [arn, f"{arn}:*"],
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]}]})),
            opts=child(),
        )
        aws.ec2.FlowLog(f"{name}-flow-log", vpc_id=vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                        log_destination=group.arn, iam_role_arn=role.arn, max_aggregation_interval=600, opts=child(group))

    def _network(self, name: str, args: EksClusterArgs) -> _Network:
        opts = self._opts
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{args.cluster_name}-vpc"},
            opts=opts(),
        )
        if args.availability_zones:
            zones = pulumi.Output.from_input(list(args.availability_zones))
        else:
            zones = aws.get_availability_zones_output(
                state="available", opts=pulumi.InvokeOptions(provider=self.aws)
            ).names
        # A /16 VPC: public /20s from the first quarter, private /18s (room for pod IPs) after it.
        carved = subnets.aws_subnets(ipaddress.IPv4Network(args.vpc_cidr), args.az_count)
        public_cidrs, private_cidrs = carved.public, carved.private
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=opts())
        public_rt = aws.ec2.RouteTable(f"{name}-public-rt", vpc_id=vpc.id, opts=opts())
        routes: list[pulumi.Resource] = [
            aws.ec2.Route(f"{name}-public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0",
                          gateway_id=igw.id, opts=opts())
        ]
        public_subnets, private_subnets, private_tables, nats = [], [], [], []
        for i in range(args.az_count):
            zone = zones[i]
            public = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=str(public_cidrs[i]),
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{args.cluster_name}-public-{i}", "kubernetes.io/role/elb": "1", **cluster_tag},
                opts=opts(),
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{i}-rta", subnet_id=public.id, route_table_id=public_rt.id, opts=opts())
            public_subnets.append(public)
            if i == 0 or args.nat_per_az:
                eip = aws.ec2.Eip(f"{name}-nat-{i}-eip", domain="vpc", opts=opts(igw))
                nats.append(aws.ec2.NatGateway(f"{name}-nat-{i}", subnet_id=public.id, allocation_id=eip.id, opts=opts(igw)))
            private = aws.ec2.Subnet(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                cidr_block=str(private_cidrs[i]),
                availability_zone=zone,
                tags={"Name": f"{args.cluster_name}-private-{i}", "kubernetes.io/role/internal-elb": "1", **cluster_tag},
                opts=opts(),
            )
            private_rt = aws.ec2.RouteTable(f"{name}-private-{i}-rt", vpc_id=vpc.id, opts=opts())
            routes.append(
                aws.ec2.Route(f"{name}-private-{i}-default", route_table_id=private_rt.id, destination_cidr_block="0.0.0.0/0",
                              nat_gateway_id=nats[-1].id, opts=opts())
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}-rta", subnet_id=private.id, route_table_id=private_rt.id, opts=opts())
            private_subnets.append(private)
            private_tables.append(private_rt)
        return _Network(vpc, [s.id for s in private_subnets], [t.id for t in private_tables], routes)

    def _node_group(self, resource_name: str, network: _Network, node_role: aws.iam.Role,
                    depends_on: list, *, instance_type: str, desired: int, minimum: int, maximum: int,
                    ami_type: str, taints: list, labels: dict) -> aws.eks.NodeGroup:
        return aws.eks.NodeGroup(
            resource_name,
            cluster_name=self.cluster.name,
            # The control plane's version, read from it: on a minor upgrade the pool follows only after
            # the control plane has moved (an omitted version keeps the nodes where they were created).
            # Ref: https://kubernetes.io/releases/version-skew-policy/#kubelet
            version=self.cluster.version,
            node_role_arn=node_role.arn,
            subnet_ids=network.private_subnet_ids,
            instance_types=[instance_type],
            ami_type=ami_type,
            capacity_type="ON_DEMAND",
            scaling_config={"desired_size": desired, "min_size": minimum, "max_size": max(maximum, desired, 1)},
            update_config={"max_unavailable": 1},
            launch_template={"id": self.launch_template.id, "version": self.launch_template.latest_version.apply(str)},
            taints=taints,
            labels=labels,
            opts=self._opts(*depends_on),
        )

