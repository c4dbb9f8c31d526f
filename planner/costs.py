"""A rough monthly cost of a cloud stack, from what the plan would create and dated list prices.

Prices: components/prices.json, a subset of ../shared/prices/prices.json plus log rates (on-demand list prices,
us-east-1 / eastus / us-central1, each item with its source, date and status), kept beside the
catalog of names that can exist (components/catalog.py). A name PlatformConfig accepts but the
table has no price for is a line without a price, and the total is marked incomplete. Usage-based
charges (egress, object storage by the GB, logs, backups beyond the free allowance) are not in the
total: this is the floor an idle stack costs, not a bill. The audit trail's logs are listed beside it
as rates (`usage_rates`), one per sink the plan creates, so their price is visible before they bill.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

from mlops_platform.components import prices
from mlops_platform.components.config import PlatformConfig

from .harness import ProgramRun


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: float
    unit: str
    monthly: float
    price_key: Optional[str]  # None when the price table has no figure (then monthly is 0)
    component: str = ""  # what it pays for: cluster, ingress, database, monitoring (plan --compare groups by it)


# What each line pays for, by platform component.
CLUSTER, INGRESS, DATABASE, MONITORING = "cluster", "ingress", "database", "monitoring"
AUDIT = "audit trail"


@dataclass(frozen=True)
class UsageRate:
    """A charge by volume the stack incurs (a log sink it creates): its price per unit, not a month."""

    item: str
    unit: str
    price: Optional[float]
    price_key: str
    component: str = AUDIT


class _Lines:
    def __init__(self, cloud: str):
        self.cloud = cloud
        self.lines: list[CostLine] = []

    def hourly(self, component: str, item: str, quantity: float, key: str) -> None:
        monthly = prices.monthly_hourly(self.cloud, key, quantity)
        unit = f"× {prices.hours_per_month():g} h"
        self.lines.append(CostLine(item, quantity, unit, monthly or 0.0, key if monthly is not None else None, component))

    def monthly(self, component: str, item: str, quantity: float, unit: str, key: str, factor: float = 1.0) -> None:
        monthly = prices.monthly_flat(self.cloud, key, quantity, factor)
        self.lines.append(CostLine(item, quantity, unit, monthly or 0.0, key if monthly is not None else None, component))


def estimate(run: ProgramRun, config: PlatformConfig) -> list[CostLine]:
    if config.cloud == "local":
        return []
    lines = _Lines(config.cloud)
    prometheus_gb = config.monitoring.storage_gb if config.monitoring.enabled else 0
    if config.cloud == "aws":
        _aws(run, lines, prometheus_gb)
    elif config.cloud == "azure":
        _azure(run, config, lines, prometheus_gb)
    else:
        _gcp(run, config, lines, prometheus_gb)
    return lines.lines


def usage_rates(run: ProgramRun, config: PlatformConfig) -> list[UsageRate]:
    """The audit trail's log sinks the plan creates, each at its price per GB."""
    rates: list[UsageRate] = []

    def rate(present: bool, item: str, key: str) -> None:
        if present:
            price = prices.price(config.cloud, key)
            unit = str(prices.table()["clouds"][config.cloud]["items"].get(key, {}).get("unit", "GB"))
            rates.append(UsageRate(item, unit, price, key))

    def has(resource_type: str) -> bool:
        return bool(run.of_type(resource_type))

    if config.cloud == "aws":
        logs = has("aws:cloudwatch/logGroup:LogGroup") or any(
            db.input("enabledCloudwatchLogsExports") for db in run.of_type("aws:rds/instance:Instance"))
        rate(logs, "CloudWatch Logs: VPC flow logs, EKS control-plane logs, RDS logs", "cloudwatch_logs_ingest_gb")
        rate(logs, "CloudWatch Logs: kept (flow and control-plane logs: the log groups' retention)",
             "cloudwatch_logs_storage_gb_month")
        rate(has("aws:s3/bucketLogging:BucketLogging"), "S3 access logs, stored in the log bucket", "s3_standard_gb_month")
    elif config.cloud == "azure":
        rate(has("azure-native:operationalinsights:Workspace"),
             "Log Analytics: AKS audit, Postgres and storage diagnostics, traffic analytics", "log_analytics_ingest_gb")
        flow_logs = run.of_type("azure-native:network:FlowLog")
        rate(bool(flow_logs), "VNet flow logs collected", "network_flow_logs_gb")
        rate(any(f.input("flowAnalyticsConfiguration", "networkWatcherFlowAnalyticsConfiguration", "enabled")
                 for f in flow_logs), "Traffic analytics processed", "traffic_analytics_60min_gb")
    elif config.cloud == "gcp":
        subnet_logs = any(s.input("logConfig") for s in run.of_type("gcp:compute/subnetwork:Subnetwork"))
        rate(subnet_logs or has("gcp:sql/databaseInstance:DatabaseInstance"),
             "Cloud Logging: subnet flow logs, Cloud SQL logs", "cloud_logging_gb")
        rate(any(b.input("logging") for b in run.of_type("gcp:storage/bucket:Bucket")),
             "GCS usage logs, stored in the log bucket", "gcs_standard_regional_gb_month")
    return rates


def total(lines: list[CostLine]) -> float:
    return round(sum(line.monthly for line in lines), 2)


def _aws(run: ProgramRun, lines: _Lines, prometheus_gb: int) -> None:
    lines.hourly(CLUSTER, "EKS control plane (standard support)", 1, "eks_cluster_hour_standard")
    template = next(iter(run.of_type("aws:ec2/launchTemplate:LaunchTemplate")), None)
    disk = (template.input("blockDeviceMappings") or [{}])[0].get("ebs", {}).get("volumeSize", 0) if template else 0
    nodes = 0
    for group in run.of_type("aws:eks/nodeGroup:NodeGroup"):
        count = group.input("scalingConfig", "desiredSize", default=0)
        nodes += count
        instance = group.input("instanceTypes")[0]
        lines.hourly(CLUSTER, f"nodes {instance}{' (GPU)' if 'gpu' in group.name else ''}", count, f"ec2_{instance}_hour")
    lines.monthly(CLUSTER, "node root volumes gp3", nodes * disk, "GB-month", "ebs_gp3_gb_month")
    nats = len(run.of_type("aws:ec2/natGateway:NatGateway"))
    lines.hourly(CLUSTER, "NAT gateways", nats, "nat_gateway_hour")
    azs = len([s for s in run.of_type("aws:ec2/subnet:Subnet") if s.input("tags", "kubernetes.io/role/elb") == "1"])
    lines.hourly(INGRESS, "NLB for Traefik", 1, "nlb_hour")
    lines.hourly(CLUSTER, "public IPv4 (NAT gateway EIPs)", nats, "public_ipv4_hour")
    lines.hourly(INGRESS, "public IPv4 (NLB, one per AZ)", azs, "public_ipv4_hour")
    for db in run.of_type("aws:rds/instance:Instance"):
        az = "multi_az" if db.input("multiAz") else "single_az"
        lines.hourly(DATABASE, f"RDS Postgres {db.input('instanceClass')} ({az.replace('_', '-')})", 1,
                     f"rds_postgres_{db.input('instanceClass')}_{az}_hour")
        lines.monthly(DATABASE, "RDS gp3 storage", db.input("allocatedStorage"), "GB-month", f"rds_gp3_gb_month_{az}")
    lines.monthly(CLUSTER, "KMS keys (EKS secrets; in prod also the data)", len(run.of_type("aws:kms/key:Key")), "key-month",
                  "kms_key_month")
    # The workloads' private way to STS (components/cluster/aws_endpoints.py): billed per AZ it serves.
    interfaces = sum(len(e.input("subnetIds") or []) for e in run.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
                     if e.input("vpcEndpointType") == "Interface")
    lines.hourly(CLUSTER, "VPC interface endpoint STS, per AZ (data $0.01 per GB, not estimated)", interfaces,
                 "vpc_interface_endpoint_az_hour")
    lines.monthly(MONITORING, "Prometheus volume gp3", prometheus_gb, "GB-month", "ebs_gp3_gb_month")


def _azure(run: ProgramRun, config: PlatformConfig, lines: _Lines, prometheus_gb: int) -> None:
    aks = run.of_type("azure-native:containerservice:ManagedCluster")[0]
    tier = aks.input("sku", "tier")
    key = "aks_standard_tier_cluster_hour" if tier == "Standard" else "aks_free_tier_cluster_hour"
    lines.hourly(CLUSTER, f"AKS control plane ({tier} tier)", 1, key)
    pools = [(p["vmSize"], p["count"]) for p in aks.input("agentPoolProfiles")]
    pools += [(p.input("vmSize"), p.input("count")) for p in run.of_type("azure-native:containerservice:AgentPool")]
    nodes = 0
    for vm_size, count in pools:
        nodes += count
        lines.hourly(CLUSTER, f"nodes {vm_size}", count, f"vm_{vm_size}_hour")
    lines.monthly(CLUSTER, "node OS disks (Premium SSD P10, 128 GiB)", nodes, "disk-month", "disk_premium_ssd_p10_month")
    lines.hourly(INGRESS, "Standard load balancer (first 5 rules)", 1, "lb_standard_first5_rules_hour")
    lines.hourly(INGRESS, "public IP (ingress)", 1, "public_ip_standard_static_hour")
    lines.hourly(CLUSTER, "public IP (outbound)", 1, "public_ip_standard_static_hour")
    for server in run.of_type("azure-native:dbforpostgresql:Server"):
        ha = server.input("highAvailability", "mode") == "ZoneRedundant"
        sku = server.input("sku", "name").replace("Standard_", "")
        lines.hourly(DATABASE, f"PostgreSQL Flexible {sku}{' + standby' if ha else ''}", 2 if ha else 1, f"postgres_flex_{sku}_hour")
        lines.monthly(DATABASE, "PostgreSQL storage", server.input("storage", "storageSizeGB") * (2 if ha else 1), "GB-month",
                      "postgres_flex_storage_gb_month")
    endpoints = len(run.of_type("azure-native:network:PrivateEndpoint"))
    lines.hourly(CLUSTER, "private endpoint (storage; data $0.01 per GB each way, not estimated)", endpoints,
                 "private_endpoint_hour")
    lines.monthly(CLUSTER, "private DNS zones (Postgres, storage)", len(run.of_type("azure-native:privatedns:PrivateZone")),
                  "zone-month", "private_dns_zone_month")
    keys = len(run.of_type("azure-native:keyvault:Key"))
    if keys:  # a standard vault's software keys: charged per operation only, which is not estimated
        lines.monthly(CLUSTER, "Key Vault keys (customer-managed; operations $0.03 per 10k, not estimated)", keys, "key-month",
                      "key_vault_standard_key_month")
    # managed-csi is Standard SSD; pro-rated from E10 (128 GiB), the table's smallest Standard SSD.
    lines.monthly(MONITORING, "Prometheus disk (Standard SSD, pro-rated)", prometheus_gb, "GB-month",
                  "disk_standard_ssd_e10_month", 1 / 128)


def _gcp(run: ProgramRun, config: PlatformConfig, lines: _Lines, prometheus_gb: int) -> None:
    lines.hourly(CLUSTER, "GKE cluster management (regional)", 1, "gke_cluster_management_hour")
    zones = len(config.gcp.zones) if config.gcp and config.gcp.zones else 3
    nodes = 0
    disk_gb = 0
    for pool in run.of_type("gcp:container/nodePool:NodePool"):
        count = pool.input("nodeCount") * zones
        machine = pool.input("nodeConfig", "machineType")
        nodes += count
        disk_gb += count * pool.input("nodeConfig", "diskSizeGb")
        lines.hourly(CLUSTER, f"nodes {machine}", count, f"gce_{machine}_hour")
    lines.monthly(CLUSTER, "node boot disks pd-balanced", disk_gb, "GB-month", "pd_balanced_gb_month")
    lines.hourly(CLUSTER, "Cloud NAT (per node)", nodes, "cloud_nat_vm_hour")
    lines.hourly(INGRESS, "load balancer forwarding rule", 1, "forwarding_rule_first5_hour")
    lines.monthly(CLUSTER, "Cloud DNS private zone (Google APIs' private range)", len(run.of_type("gcp:dns/managedZone:ManagedZone")),
                  "zone-month", "dns_managed_zone_month")
    for instance in run.of_type("gcp:sql/databaseInstance:DatabaseInstance"):
        settings = instance.input("settings")
        regional = settings["availabilityType"] == "REGIONAL"
        tier = settings["tier"]
        key = {"db-custom-2-8192": "cloudsql_custom_2vcpu_8gb_hour"}.get(tier, f"cloudsql_pg_{tier}_hour")
        lines.hourly(DATABASE, f"Cloud SQL {tier} ({'regional' if regional else 'zonal'})", 2 if regional else 1, key)
        lines.monthly(DATABASE, "Cloud SQL SSD", settings["diskSize"] * (2 if regional else 1), "GB-month", "cloudsql_ssd_gb_month")
    # Every retained version is billed and each 90-day rotation adds one; the first version is shown.
    keys = len(run.of_type("gcp:kms/cryptoKey:CryptoKey"))
    if keys:
        lines.monthly(CLUSTER, "Cloud KMS key version (customer-managed keys; rotation adds one each 90 days)", keys,
                      "key-version-month", "kms_key_version_month")
    lines.monthly(MONITORING, "Prometheus disk pd-balanced", prometheus_gb, "GB-month", "pd_balanced_gb_month")


def unpriced(lines: list[CostLine]) -> list[str]:
    return [line.item for line in lines if line.price_key is None]


def priced_region(cloud: str) -> str:
    return str(prices.table()["clouds"][cloud]["region"])


def summary(lines: list[CostLine], cloud: str = "", region: Optional[str] = None,
            usage: Sequence[UsageRate] = ()) -> dict[str, Any]:
    table = prices.table()
    missing = unpriced(lines)
    return {
        "currency": table["currency"],
        "asOf": table["as_of"],
        "monthly": total(lines),
        # A line without a price adds nothing: the total is then a lower bound.
        "complete": not missing,
        "unpriced": missing,
        **({"pricedRegion": priced_region(cloud), "region": region} if cloud else {}),
        "lines": [
            {"item": line.item, "component": line.component, "quantity": line.quantity, "unit": line.unit,
             "monthly": line.monthly, "price": line.price_key}
            for line in lines
        ],
        "excludes": "egress, object storage by the GB, logs, backups beyond the free allowance",
        # Not in the total: what the audit trail's logs cost by volume.
        "usage": [{"item": r.item, "component": r.component, "unit": r.unit, "price": r.price, "priceKey": r.price_key}
                  for r in usage],
    }


def hours_note() -> str:
    table = prices.table()
    return f"{table['price_type']}; {table['hours_per_month']} h/month; prices as of {table['as_of']}"

