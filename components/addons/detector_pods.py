"""The detectors' pod pieces: the containers that fetch, fit, upload and serve a model's detectors.

Pure builders (no resources): detectors.py assembles them into the fit Job and the Deployments.
"""

from __future__ import annotations

from typing import Any

import pulumi

from .. import k8s as kube
from .. import names, versions
from ..config import ModelConfig
from ..data.outputs import ObjectStore
from ..image_source import ImageSource
from .backend_ports import DETECTOR_PORT

# How the detector server reads the logged request body, by the model's inference protocol: KServe's
# v1 body ({"instances": [...]}) is the TF-serving shape; the v2 body ({"inputs": [{"data", "shape",
# "datatype"}]}, MLServer's) is what the server calls kfserving.http.
# Ref: SeldonIO/seldon-core components/alibi-detect-server/adserver/protocols (tensorflow_http.py, v2.py)
DETECTOR_PROTOCOLS = {"v1": "tensorflow.http", "v2": "kfserving.http"}
DETECTOR_UID = 8888  # the non-root user of Seldon's Python images
STORAGE_INITIALIZER_UID = 1000
WRITER_UID = 1000
SCRIPT_CONFIGMAP = "fit-detectors-script"
SCRIPT_NAME = "fit_detectors.py"
DETECTOR_RESOURCES = kube.resources("100m", "512Mi", "1536Mi")
# Event types the adserver stamps on its CloudEvents replies.
EVENT_TYPES = {"drift": "org.kubeflow.serving.inference.drift", "outlier": "org.kubeflow.serving.inference.outlier"}


def fetch_container(
    name: str,
    source: pulumi.Input[str],
    destination: str,
    mount: tuple[str, str],
    env: list[dict[str, Any]],
    env_from: list[dict[str, Any]],
    images: ImageSource,
) -> dict[str, Any]:
    """KServe's storage initializer copying `source` (a store URI) into `destination`, which lies
    in the volume `mount` = (volume name, mount path)."""
    return {
        "name": name,
        "image": images.ref(versions.KSERVE_STORAGE_INITIALIZER),
        "args": [source, destination],
        "env": env,
        "envFrom": env_from,
        "resources": kube.resources("50m", "64Mi", "512Mi"),
        "securityContext": kube.container_security(run_as_user=STORAGE_INITIALIZER_UID),
        "volumeMounts": [{"name": mount[0], "mountPath": mount[1]}, {"name": "tmp", "mountPath": "/tmp"}],
    }


def _writer(store: ObjectStore, destination: pulumi.Output[str], images: ImageSource) -> tuple[str, pulumi.Output[str]]:
    """(image, shell command) that copies /work/artifacts to `destination` for this store."""
    if store.kind == "s3":
        return images.ref(versions.AWS_CLI), destination.apply(
            lambda d: f"aws s3 cp --recursive --only-show-errors /work/artifacts {d}/"
        )
    if store.kind == "gcs":
        return images.ref(versions.GCLOUD_CLI), destination.apply(
            lambda d: f"gcloud storage cp --recursive '/work/artifacts/*' {d}/"
        )

    # Azure: log in with the projected Workload Identity token, then upload with Entra ID auth.
    def azure(d: str) -> str:
        container_and_path = d.split(".blob.core.windows.net/", 1)[1]
        container, _, path = container_and_path.partition("/")
        return (
            'az login --service-principal -u "$AZURE_CLIENT_ID" -t "$AZURE_TENANT_ID" '
            '--federated-token "$(cat "$AZURE_FEDERATED_TOKEN_FILE")" --allow-no-subscriptions --output none && '
            f'az storage blob upload-batch --auth-mode login --account-name "$AZURE_STORAGE_ACCOUNT" '
            f"--destination {container} --destination-path {path} --source /work/artifacts --overwrite --output none"
        )

    return images.ref(versions.AZURE_CLI), destination.apply(azure)




def fit_container(model: ModelConfig, kinds: list[str], reference: str, images: ImageSource) -> dict[str, Any]:
    """Fits the model's detectors on `reference` (a path in the pod) with the detector image's own
    alibi-detect, writing them to /work/artifacts."""
    return {
        "name": "fit",
        "image": images.ref(versions.ALIBI_DETECT_SERVER),
        "command": ["python", f"/scripts/{SCRIPT_NAME}"],
        "env": [
            {"name": "HOME", "value": "/tmp"},
            {"name": "MODEL_NAME", "value": model.name},
            {"name": "REFERENCE", "value": reference},
            {"name": "OUT_DIR", "value": "/work/artifacts"},
            {"name": "DRIFT", "value": "1" if "drift" in kinds else "0"},
            {"name": "OUTLIER", "value": "1" if "outlier" in kinds else "0"},
            {"name": "P_VALUE", "value": str(model.drift.p_value)},
            {"name": "THRESHOLD_PERCENTILE", "value": str(model.outlier.threshold_percentile)},
        ],
        "resources": kube.resources("200m", "512Mi", "2Gi"),
        "securityContext": kube.container_security(run_as_user=DETECTOR_UID),
        "volumeMounts": [
            {"name": "work", "mountPath": "/work"},
            {"name": "script", "mountPath": "/scripts", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def upload_container(
    store: ObjectStore, destination: pulumi.Output[str], env: list[dict[str, Any]], env_from: list[dict[str, Any]],
    images: ImageSource,
) -> dict[str, Any]:
    """Copies the fitted /work/artifacts to `destination` with the store's own command-line tool."""
    image, upload = _writer(store, destination, images)
    return {
        "name": "upload",
        "image": image,
        "command": ["/bin/sh", "-c"],
        "args": [upload],
        "env": env,
        "envFrom": env_from,
        "resources": kube.resources("50m", "128Mi", "512Mi"),
        "securityContext": kube.container_security(run_as_user=WRITER_UID),
        "volumeMounts": [
            {"name": "work", "mountPath": "/work", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def detector_container(model: ModelConfig, kind: str, app: str, images: ImageSource) -> dict[str, Any]:
    """Seldon's detector server serving the fitted detector fetched into /mnt/detector."""
    subcommand = ["DriftDetector", f"--drift_batch_size={model.drift.batch_size}"] if kind == "drift" else ["OutlierDetector"]
    return {
        "name": "detector",
        "image": images.ref(versions.ALIBI_DETECT_SERVER),
        "args": [
            f"--model_name={app}",
            f"--http_port={DETECTOR_PORT}",
            f"--protocol={DETECTOR_PROTOCOLS[model.protocol]}",
            "--storage_uri=/mnt/detector",
            f"--event_type={EVENT_TYPES[kind]}",
            f"--event_source=mlops-platform/{names.NS_DETECTORS}/{app}",
            *subcommand,
        ],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "ports": [{"name": "http", "containerPort": DETECTOR_PORT}],
        "readinessProbe": {"httpGet": {"path": "/protocol", "port": "http"}, "periodSeconds": 10},
        # Loading the fitted detector (TensorFlow import) takes tens of seconds.
        "livenessProbe": {"httpGet": {"path": "/protocol", "port": "http"}, "initialDelaySeconds": 60,
                          "periodSeconds": 20, "failureThreshold": 6},
        "resources": DETECTOR_RESOURCES,
        "securityContext": kube.container_security(run_as_user=DETECTOR_UID),
        "volumeMounts": [
            {"name": "detector", "mountPath": "/mnt/detector", "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
