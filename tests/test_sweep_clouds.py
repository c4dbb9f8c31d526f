"""The Azure and Google Cloud sweeps: their real SDKs (azure-mgmt-resource, google-cloud-compute)
against responses replayed on loopback.

The responses are written from the services' REST references (ARM `Resources - List`, `Disks -
Get`; Compute `disks.aggregatedList`, `forwardingRules.list`, ...), with what a torn-down stack
leaves and look-alikes that are not its. They were not recorded from a live account: no cloud is
reachable here (README says what this leaves unexercised).
"""

from __future__ import annotations

from typing import Any

import pytest

from mlops_platform.cli.sweep import sweep
from mlops_platform.components.prices import table as price_table
from support.gcp_world import gcp_clients

SUB = "00000000-0000-0000-0000-000000000000"


def cloud_price(cloud: str, key: str) -> float:
    return float(price_table()["clouds"][cloud]["items"][key]["price"])


# --- Azure ---------------------------------------------------------------------------------------

NODE_GROUP = "MC_mlops-dev-rg_mlops-dev_eastus"


def _arm(group: str, provider: str, name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{group}/providers/{provider}/{name}"


def azure_routes() -> dict[tuple[str, str], tuple[int, Any]]:
    disk = _arm(NODE_GROUP, "Microsoft.Compute/disks", "pvc-1a2b")
    ip = _arm(NODE_GROUP, "Microsoft.Network/publicIPAddresses", "kubernetes-a1b2c3")
    lb = _arm(NODE_GROUP, "Microsoft.Network/loadBalancers", "kubernetes")
    server = _arm("mlops-dev-rg", "Microsoft.DBforPostgreSQL/flexibleServers", "mlops-dev-x1")
    stack_tags = {"mlops-platform-stack": "azure-dev", "mlops-platform-env": "dev"}
    return {
        ("GET", f"/subscriptions/{SUB}/resources"): (200, {"value": [
            {"id": server, "name": "mlops-dev-x1", "type": "Microsoft.DBforPostgreSQL/flexibleServers", "location": "eastus",
             "tags": stack_tags},
            {"id": ip, "name": "kubernetes-a1b2c3", "type": "Microsoft.Network/publicIPAddresses", "location": "eastus",
             "tags": {**stack_tags, "k8s-azure-service": "traefik/traefik-lb", "k8s-azure-cluster-name": "kubernetes"}},
        ]}),
        ("HEAD", f"/subscriptions/{SUB}/resourcegroups/{NODE_GROUP}"): (204, None),
        ("GET", f"/subscriptions/{SUB}/resourceGroups/{NODE_GROUP}/resources"): (200, {"value": [
            {"id": ip, "name": "kubernetes-a1b2c3", "type": "Microsoft.Network/publicIPAddresses", "location": "eastus",
             "tags": {**stack_tags, "k8s-azure-service": "traefik/traefik-lb"}},
            {"id": disk, "name": "pvc-1a2b", "type": "Microsoft.Compute/disks", "location": "eastus",
             "tags": {"k8s-azure-created-by": "kubernetes-azure-dd", "kubernetes.io-created-for-pvc-name": "prometheus-db-0",
                      "kubernetes.io-created-for-pvc-namespace": "monitoring"}},
            {"id": lb, "name": "kubernetes", "type": "Microsoft.Network/loadBalancers", "location": "eastus", "tags": {}},
        ]}),
        ("GET", disk): (200, {"id": disk, "name": "pvc-1a2b", "type": "Microsoft.Compute/disks", "location": "eastus",
                              "sku": {"name": "StandardSSD_LRS"}, "properties": {"diskSizeGB": 5}}),
        ("DELETE", disk): (200, None),
        ("DELETE", ip): (200, None),
        ("DELETE", lb): (200, None),
    }


def azure_client(url: str) -> Any:
    from azure.core.pipeline.policies import SansIOHTTPPolicy
    from azure.mgmt.resource import ResourceManagementClient

    # The replay speaks plain HTTP on loopback: no bearer token to send.
    return ResourceManagementClient(object(), SUB, base_url=url, authentication_policy=SansIOHTTPPolicy())


def azure_config(stack_config) -> Any:
    return stack_config("azure-dev").model_copy(update={"azure": stack_config("azure-dev").azure.model_copy(
        update={"subscription_id": SUB})})


def test_azure_sweep_finds_the_stack_and_its_node_group(replay, stack_config):
    server = replay(azure_routes())
    config = azure_config(stack_config)
    result = sweep(config, clients=azure_client(server.url))
    assert result.scope == f"subscription {SUB}"
    by_kind = {item.kind: item for item in result.leftovers}
    assert set(by_kind) == {"managed disk", "public IP", "load balancer", "Microsoft.DBforPostgreSQL/flexibleServers"}
    hours = price_table()["hours_per_month"]
    assert by_kind["managed disk"].monthly == pytest.approx(round(cloud_price("azure", "disk_standard_ssd_e10_month") * 5 / 128, 2))
    assert by_kind["managed disk"].name == "prometheus-db-0" and "5 GiB StandardSSD_LRS" in by_kind["managed disk"].detail
    assert by_kind["public IP"].monthly == pytest.approx(round(cloud_price("azure", "public_ip_standard_static_hour") * hours, 2))
    assert by_kind["public IP"].deletable and by_kind["managed disk"].deletable
    assert not by_kind["load balancer"].deletable, "no stack or Kubernetes tag: listed, never deleted"
    assert not by_kind["Microsoft.DBforPostgreSQL/flexibleServers"].deletable, "the program's own: destroy's, not the sweep's"
    list_call = next(q for m, p, q in server.requests if m == "GET" and p.endswith("/resources") and "$filter" in q)
    assert list_call["$filter"] == ["tagName eq 'mlops-platform-stack' and tagValue eq 'azure-dev'"]


def test_azure_delete_removes_only_what_carries_the_stacks_or_kubernetes_tags(replay, stack_config):
    server = replay(azure_routes())
    state = [_arm("mlops-dev-rg", "Microsoft.DBforPostgreSQL/flexibleServers", "mlops-dev-x1").upper()]
    result = sweep(azure_config(stack_config), delete=True, state_ids=state, clients=azure_client(server.url))
    assert not result.failed
    assert {p.rsplit("/", 1)[-1] for p in server.deleted()} == {"pvc-1a2b", "kubernetes-a1b2c3"}
    assert [i.kind for i in result.remaining] == ["load balancer"]
    assert [i.kind for i in result.leftovers if i.kept] == ["Microsoft.DBforPostgreSQL/flexibleServers"]


def test_azure_node_group_gone_means_only_tagged_resources(replay, stack_config):
    routes = azure_routes()
    routes[("HEAD", f"/subscriptions/{SUB}/resourcegroups/{NODE_GROUP}")] = (404, None)
    routes[("GET", f"/subscriptions/{SUB}/resources")] = (200, {"value": []})
    server = replay(routes)
    result = sweep(azure_config(stack_config), clients=azure_client(server.url))
    assert result.clean and result.leftovers == []


# --- Google Cloud --------------------------------------------------------------------------------

PROJECT, REGION = "my-mlops-project", "us-central1"


def gcp_routes() -> dict[tuple[str, str], tuple[int, Any]]:
    base = f"/compute/v1/projects/{PROJECT}"
    link = f"https://www.googleapis.com{base}"
    done = {"name": "operation-1", "status": "DONE"}
    return {
        ("GET", f"{base}/aggregated/disks"): (200, {"items": {
            f"zones/{REGION}-a": {"disks": [
                {"name": "pvc-5c1e", "selfLink": f"{link}/zones/{REGION}-a/disks/pvc-5c1e", "zone": f"{link}/zones/{REGION}-a",
                 "sizeGb": "5", "type": f"{link}/zones/{REGION}-a/diskTypes/pd-balanced",
                 "labels": {"goog-k8s-cluster-name": "mlops-dev", "goog-gke-volume": ""}},
                {"name": "pvc-other", "selfLink": f"{link}/zones/{REGION}-a/disks/pvc-other", "zone": f"{link}/zones/{REGION}-a",
                 "sizeGb": "5", "type": f"{link}/zones/{REGION}-a/diskTypes/pd-balanced",
                 "labels": {"goog-k8s-cluster-name": "mlops-prod"}},
            ]},
            f"zones/{REGION}-b": {"warning": {"code": "NO_RESULTS_ON_PAGE"}},
        }}),
        ("GET", f"{base}/regions/{REGION}/addresses"): (200, {"items": [
            {"name": "unrelated", "selfLink": f"{link}/regions/{REGION}/addresses/unrelated", "address": "34.1.1.1"}]}),
        ("GET", f"{base}/regions/{REGION}/forwardingRules"): (200, {"items": [
            {"name": "a7f3e9", "selfLink": f"{link}/regions/{REGION}/forwardingRules/a7f3e9", "IPAddress": "34.2.2.2",
             "labels": {"mlops-platform-stack": "gcp-dev"}},
            {"name": "b0000", "selfLink": f"{link}/regions/{REGION}/forwardingRules/b0000", "IPAddress": "34.3.3.3"}]}),
        ("GET", f"{base}/regions/{REGION}/targetPools"): (200, {"items": [
            {"name": "a7f3e9", "selfLink": f"{link}/regions/{REGION}/targetPools/a7f3e9"},
            {"name": "b0000", "selfLink": f"{link}/regions/{REGION}/targetPools/b0000"}]}),
        ("GET", f"{base}/global/firewalls"): (200, {"items": [
            {"name": "gke-mlops-dev-4f2a9b1c-all", "selfLink": f"{link}/global/firewalls/gke-mlops-dev-4f2a9b1c-all"},
            {"name": "gke-mlops-dev2-aaaa-all", "selfLink": f"{link}/global/firewalls/gke-mlops-dev2-aaaa-all"},
            # env dev-2's cluster, mlops-dev-2: its rules begin like dev's, and are not dev's to delete.
            {"name": "gke-mlops-dev-2-1a2b3c4d-all", "selfLink": f"{link}/global/firewalls/gke-mlops-dev-2-1a2b3c4d-all"},
            {"name": "gke-mlops-dev-ab-1a2b3c4d-vms", "selfLink": f"{link}/global/firewalls/gke-mlops-dev-ab-1a2b3c4d-vms"},
            {"name": "default-allow-ssh", "selfLink": f"{link}/global/firewalls/default-allow-ssh"}]}),
        # Cloud SQL's backups (Backups.ListBackups), over two pages: one of dev's deleted instances, on
        # the second page, kept; one of its live instance, one of env dev-x's and one of prod's deleted
        # instances, one made by hand: none of those to list.
        ("GET", f"/v1/projects/{PROJECT}/backups"): _sql_backups,
        ("DELETE", f"{base}/zones/{REGION}-a/disks/pvc-5c1e"): (200, done),
        ("DELETE", f"{base}/regions/{REGION}/forwardingRules/a7f3e9"): (200, done),
        ("DELETE", f"{base}/regions/{REGION}/targetPools/a7f3e9"): (200, done),
        ("DELETE", f"{base}/global/firewalls/gke-mlops-dev-4f2a9b1c-all"): (200, done),
    }


def _sql_backup(uid: str, instance: str, deleted: bool, about: str) -> dict[str, Any]:
    return {"kind": "sql#backup", "name": f"projects/{PROJECT}/backups/{uid}", "instance": instance, "type": "ON_DEMAND",
            "state": "SUCCESSFUL", "location": REGION, "description": about,
            **({"instanceDeletionTime": "2026-12-06T02:00:00Z"} if deleted else {})}


def _sql_backups(request: Any) -> tuple[int, Any]:
    if not request.query.get("pageToken"):
        return 200, {"backups": [_sql_backup("b-live", "mlops-dev-c3d4e5", False, "mlops-platform bk-20261206t010203z-bbbbbb"),
                                 _sql_backup("b-dev-x", "mlops-dev-x-a1b2c3", True, "mlops-platform bk-20261206t010203z-dddddd"),
                                 _sql_backup("b-prod", "mlops-prod-e5f6a7", True, "mlops-platform bk-20261206t010203z-cccccc")],
                     "nextPageToken": "p2"}
    return 200, {"backups": [_sql_backup("b-kept", "mlops-dev-a1b2c3", True, "mlops-platform bk-20261206t010203z-abcdef"),
                             _sql_backup("b-hand", "mlops-dev-a1b2c3", True, "before the migration")]}


def test_gcp_sweep_finds_labelled_and_named_leftovers(replay, stack_config):
    server = replay(gcp_routes())
    result = sweep(stack_config("gcp-dev"), clients=gcp_clients(server.url))
    assert result.scope == f"project {PROJECT} ({REGION})"
    found = {(item.kind, item.name) for item in result.leftovers}
    assert found == {("persistent disk", "pvc-5c1e"), ("forwarding rule", "a7f3e9"), ("target pool", "a7f3e9"),
                     ("firewall rule", "gke-mlops-dev-4f2a9b1c-all"), ("Cloud SQL backup", "b-kept")}
    (kept,) = [i for i in result.leftovers if i.kept]
    assert kept.id == f"projects/{PROJECT}/backups/b-kept" and not kept.deletable
    assert "backup bk-20261206t010203z-abcdef" in kept.detail and f"gcloud sql backups delete b-kept --project {PROJECT}" in kept.detail
    disk = next(i for i in result.leftovers if i.kind == "persistent disk")
    assert disk.monthly == pytest.approx(5 * cloud_price("gcp", "pd_balanced_gb_month")) and disk.location == f"{REGION}-a"
    rule = next(i for i in result.leftovers if i.kind == "forwarding rule")
    hours = price_table()["hours_per_month"]
    assert rule.monthly == pytest.approx(round(cloud_price("gcp", "forwarding_rule_first5_hour") * hours, 2))


def test_gcp_a_refused_cloud_sql_listing_is_one_line(replay, stack_config):
    from mlops_platform.cli.sweep import SweepError

    routes = gcp_routes()
    routes[("GET", f"/v1/projects/{PROJECT}/backups")] = (403, {"error": {"code": 403, "message": "cloudsql.backups.list denied"}})
    server = replay(routes)
    with pytest.raises(SweepError, match="Google Cloud refused the sweep's query") as raised:
        sweep(stack_config("gcp-dev"), clients=gcp_clients(server.url))
    assert "\n" not in str(raised.value)


def test_gcp_delete_removes_exactly_those(replay, stack_config):
    server = replay(gcp_routes())
    result = sweep(stack_config("gcp-dev"), delete=True, clients=gcp_clients(server.url))
    assert not result.failed, result.failed
    assert {p.rsplit("/", 1)[-1] for p in server.deleted()} == {"pvc-5c1e", "a7f3e9", "gke-mlops-dev-4f2a9b1c-all"}
    deletes = [p for m, p, _ in server.requests if m == "DELETE"]
    assert deletes.index(next(p for p in deletes if "forwardingRules" in p)) < deletes.index(next(p for p in deletes if "targetPools" in p))
    assert result.clean
