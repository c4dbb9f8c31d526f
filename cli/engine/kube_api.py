"""The drain's Kubernetes calls (cli/engine/drain.py: Api), through the official Python client and the
stack's own kubeconfig output (which authenticates as the cloud CLI does: aws, kubelogin, gcloud)."""

from __future__ import annotations

from typing import Any, Iterable, Optional

import yaml


def api_client_for(kubeconfig: str) -> Any:
    """The official client's ApiClient for a kubeconfig document (the stack's output)."""
    from kubernetes import config

    return config.new_client_from_config_dict(yaml.safe_load(kubeconfig))


class KubeApi:
    def __init__(self, kubeconfig: str):
        from kubernetes import client

        api_client = api_client_for(kubeconfig)
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self._not_found = client.exceptions.ApiException

    def _ignore_missing(self, call: Any, *args: Any, **kwargs: Any) -> None:
        try:
            call(*args, **kwargs)
        except self._not_found as err:
            if err.status != 404:
                raise

    def load_balancer_services(self) -> list[tuple[str, str, str]]:
        out = []
        for service in self.core.list_service_for_all_namespaces().items:
            if service.spec.type == "LoadBalancer":
                ingress = (service.status.load_balancer.ingress or []) if service.status and service.status.load_balancer else []
                address = next((i.hostname or i.ip for i in ingress if i.hostname or i.ip), "")
                out.append((service.metadata.namespace, service.metadata.name, address))
        return out

    def delete_service(self, namespace: str, name: str) -> None:
        self._ignore_missing(self.core.delete_namespaced_service, name, namespace)

    def operator_resources(self, namespaces: Iterable[str]) -> list[tuple[str, str, str]]:
        out = []
        for plural in ("prometheuses", "alertmanagers"):
            for namespace in namespaces:
                try:
                    items = self.custom.list_namespaced_custom_object("monitoring.coreos.com", "v1", namespace, plural)["items"]
                except self._not_found as err:
                    if err.status == 404:  # the CRD or the namespace is gone already
                        continue
                    raise
                out += [(plural, namespace, item["metadata"]["name"]) for item in items]
        return out

    def delete_operator_resource(self, plural: str, namespace: str, name: str) -> None:
        self._ignore_missing(self.custom.delete_namespaced_custom_object, "monitoring.coreos.com", "v1", namespace, plural, name)

    def claims(self, namespaces: Iterable[str]) -> list[tuple[str, str, str]]:
        wanted = set(namespaces)
        return [(c.metadata.namespace, c.metadata.name, c.spec.volume_name or "")
                for c in self.core.list_persistent_volume_claim_for_all_namespaces().items if c.metadata.namespace in wanted]

    def volume(self, name: str) -> Optional[tuple[str, str]]:
        try:
            volume = self.core.read_persistent_volume(name)
        except self._not_found as err:
            if err.status == 404:
                return None
            raise
        handle = volume.spec.csi.volume_handle if volume.spec.csi else ""
        return volume.spec.persistent_volume_reclaim_policy or "", handle

    def set_reclaim_delete(self, volume: str) -> None:
        self.core.patch_persistent_volume(volume, {"spec": {"persistentVolumeReclaimPolicy": "Delete"}})

    def delete_claim(self, namespace: str, name: str) -> None:
        self._ignore_missing(self.core.delete_namespaced_persistent_volume_claim, name, namespace)
