"""The Google Cloud sweep: what a GKE stack can leave in its project after `destroy`.

GKE passes the cluster's resource labels (`mlops-platform-stack`, ...) on to what it creates, and
labels it with `goog-k8s-cluster-name`: the persistent disks the PD CSI driver creates for claims,
and the addresses and forwarding rules of LoadBalancer Services. A forwarding rule's target pool
has the rule's name. Firewall rules take no labels: GKE names the cluster's own `gke-<cluster>-…`.
Ref: https://cloud.google.com/kubernetes-engine/docs/how-to/creating-managing-labels

Cloud SQL keeps a backup after its instance only when told to (`destroy --keep-data` does,
cli/backup/keep.py), and keeps it, billing, until someone deletes it. The sweep lists such a backup
of the stack's instances (named for its environment; the description `platform backup` gives it) as
kept, with the command that deletes it, never as a leftover to delete.
Ref: https://cloud.google.com/sql/docs/postgres/backup-recovery/manage-backups-deleted-instance
"""

from __future__ import annotations

import re
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from mlops_platform.components import names
from mlops_platform.components.prices import monthly_flat, monthly_hourly

from ..backup.cloudsql import described_backup
from . import Leftover, Sweeper, SweepError, first_line

STACK_LABEL = names.tag_key("gcp", "stack")
CLUSTER_LABEL = "goog-k8s-cluster-name"
DISK_PRICES = {"pd-balanced": "pd_balanced_gb_month"}


def _last(url: str) -> str:
    return url.rsplit("/", 1)[-1]


class GcpSweep(Sweeper):
    # Forwarding rules before their target pools; addresses and disks once nothing uses them.
    DELETE_ORDER = ("forwarding rule", "target pool", "firewall rule", "address", "persistent disk")

    def __init__(self, config: Any, clients: Optional[dict[str, Any]] = None):
        """`clients`: the compute clients by name (tests); None: application-default credentials."""
        self.stack, self.cluster, self.region = config.stack_name, names.cluster_name(config.env), config.region
        self.project = config.gcp.project
        if clients is None:
            with warnings.catch_warnings():  # google-api-core's notice about future Python support
                warnings.simplefilter("ignore", FutureWarning)
                from google.cloud import compute_v1
            from ..backup.cloudsql import sqladmin_from_environment

            clients = {"disks": compute_v1.DisksClient(), "addresses": compute_v1.AddressesClient(),
                       "forwarding_rules": compute_v1.ForwardingRulesClient(), "target_pools": compute_v1.TargetPoolsClient(),
                       "firewalls": compute_v1.FirewallsClient(), "sqladmin": sqladmin_from_environment()}
        self.clients = clients
        # The cluster's own firewall rules, gke-<cluster>-<hash>-<purpose>: a prefix alone would take
        # those of env dev-2's cluster (gke-mlops-dev-2-…) for dev's, and --delete would remove them.
        # Ref: https://cloud.google.com/kubernetes-engine/docs/concepts/firewall-rules
        self.cluster_firewall = re.compile(rf"gke-{re.escape(self.cluster)}-[0-9a-f]+-[a-z]+")
        # The stack's instances: its environment's prefix and the random suffix, nothing longer (the
        # prefix of env "pr" begins the names of env "pr-7" too).
        self.instance_name = re.compile(rf"{re.escape(names.env_prefix(config.env))}-[a-z0-9]{{{names.DATABASE_SUFFIX_LENGTH}}}")

    def scope(self) -> str:
        return f"project {self.project} ({self.region})"

    def tie(self, labels: Any) -> Optional[str]:
        labels = dict(labels or {})
        if labels.get(STACK_LABEL) == self.stack:
            return f"{STACK_LABEL}={self.stack}"
        if labels.get(CLUSTER_LABEL) == self.cluster:
            return f"{CLUSTER_LABEL}={self.cluster}"
        return None

    def scan(self) -> list[Leftover]:
        out: list[Leftover] = []
        for _zone, listing in self.clients["disks"].aggregated_list(project=self.project):
            for disk in listing.disks:
                tie = self.tie(disk.labels)
                if tie:
                    kind = _last(disk.type_)
                    key = DISK_PRICES.get(kind)
                    out.append(Leftover("persistent disk", disk.self_link, disk.name, _last(disk.zone),
                                        f"{disk.size_gb} GB {kind}; {tie}", monthly_flat("gcp", key, disk.size_gb) if key else None))
        for address in self.clients["addresses"].list(project=self.project, region=self.region):
            tie = self.tie(address.labels)
            if tie:
                out.append(Leftover("address", address.self_link, address.name, self.region, f"{address.address}; {tie}", None))
        rules = []
        for rule in self.clients["forwarding_rules"].list(project=self.project, region=self.region):
            tie = self.tie(rule.labels)
            if tie:
                rules.append(rule.name)
                out.append(Leftover("forwarding rule", rule.self_link, rule.name, self.region, f"{rule.I_p_address}; {tie}",
                                    monthly_hourly("gcp", "forwarding_rule_first5_hour")))
        for pool in self.clients["target_pools"].list(project=self.project, region=self.region):
            if pool.name in rules:
                out.append(Leftover("target pool", pool.self_link, pool.name, self.region,
                                    f"the target of forwarding rule {pool.name}", 0.0))
        for firewall in self.clients["firewalls"].list(project=self.project):
            if self.cluster_firewall.fullmatch(firewall.name):
                out.append(Leftover("firewall rule", firewall.self_link, firewall.name, "global", f"name gke-{self.cluster}-*", 0.0))
        return out + self._retained_backups()

    def _retained_backups(self) -> list[Leftover]:
        """Backups of the stack's Cloud SQL instances that outlived them."""
        out, token = [], None
        while True:
            page = self.clients["sqladmin"].Backups().ListBackups(parent=f"projects/{self.project}", pageToken=token).execute()
            for backup in page.get("backups") or []:
                instance, backup_id = str(backup.get("instance", "")), described_backup(str(backup.get("description", "")))
                if not (backup.get("instanceDeletionTime") and self.instance_name.fullmatch(instance) and backup_id):
                    continue
                name = str(backup["name"])
                out.append(Leftover("Cloud SQL backup", name, _last(name), str(backup.get("location") or self.region),
                                    f"the database of backup {backup_id}, kept after instance {instance} was deleted "
                                    f"until you delete it (gcloud sql backups delete {_last(name)} --project {self.project})",
                                    None, deletable=False, kept=True))
            token = page.get("nextPageToken")
            if not token:
                return out

    def delete_one(self, item: Leftover) -> None:
        self._delete(item).result()

    def _delete(self, item: Leftover) -> Any:
        if item.kind == "persistent disk":
            return self.clients["disks"].delete(project=self.project, zone=item.location, disk=item.name)
        if item.kind == "address":
            return self.clients["addresses"].delete(project=self.project, region=self.region, address=item.name)
        if item.kind == "forwarding rule":
            return self.clients["forwarding_rules"].delete(project=self.project, region=self.region, forwarding_rule=item.name)
        if item.kind == "target pool":
            return self.clients["target_pools"].delete(project=self.project, region=self.region, target_pool=item.name)
        return self.clients["firewalls"].delete(project=self.project, firewall=item.name)


    @staticmethod
    @contextmanager
    def cloud_errors() -> Iterator[None]:
        with warnings.catch_warnings():  # google-api-core's notice about future Python support
            warnings.simplefilter("ignore", FutureWarning)
            from google.api_core import exceptions as google_errors
            from google.auth import exceptions as auth_errors
            from googleapiclient import errors as client_errors

        try:
            yield
        except auth_errors.DefaultCredentialsError:
            raise SweepError("no Google Cloud credentials: gcloud auth application-default login") from None
        except (google_errors.GoogleAPIError, client_errors.HttpError) as err:
            raise SweepError(f"Google Cloud refused the sweep's query ({first_line(err)})") from None


SWEEPER = GcpSweep
