"""What a stack file says about each served model: format, storage, resources, batching,
explanation, where it came from in the registry, and its drift and outlier detectors."""

from __future__ import annotations

import re
from typing import Literal, Optional

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from ..quantities import mebibytes
from .base import DNS_LABEL, Model, cpu_quantity, memory_quantity
from .errors import shown_text

_MODEL_URI = re.compile(r"^(s3|gs|https|pvc|oci|hf)://[^\s]+$")
_REFERENCE_URI = re.compile(r"^(s3|gs|https)://[^\s]+\.(csv|npy)$")
_BUILTIN_REFERENCE = ("sklearn:iris",)



# Formats whose only runtime speaks the open inference (v2) protocol alone: MLServer, Triton.
V2_ONLY = ("mlflow", "onnx")

class Resources(Model):
    cpu: StrictStr = "100m"
    memory: StrictStr = "256Mi"
    memory_limit: StrictStr = "512Mi"
    # NVIDIA GPUs for the model server: the GPU pool's toleration and node selector come with it.
    gpu: StrictInt = Field(0, ge=0, le=8)

    _check_cpu = field_validator("cpu")(cpu_quantity)
    _check_mem = field_validator("memory", "memory_limit")(memory_quantity)

    @model_validator(mode="after")
    def _limit_not_below_request(self) -> "Resources":
        if mebibytes(self.memory_limit) < mebibytes(self.memory):
            raise ValueError(f"memoryLimit {self.memory_limit} is below memory {self.memory}")
        return self


class DriftConfig(Model):
    enabled: StrictBool = True
    p_value: StrictFloat = Field(0.05, gt=0, lt=1)
    batch_size: StrictInt = Field(20, ge=2, le=100000)


class OutlierConfig(Model):
    enabled: StrictBool = True
    threshold_percentile: StrictFloat = Field(95.0, ge=50, le=100)


class BatcherConfig(Model):
    # KServe's batcher sidecar: requests are held until maxBatchSize or maxLatency (ms) is reached.
    # Ref: https://kserve.github.io/website/docs/model-serving/predictive-inference/batcher
    max_batch_size: StrictInt = Field(32, ge=1, le=4096)
    max_latency: StrictInt = Field(500, ge=1, le=60000)


class ExplainerConfig(Model):
    # KServe v0.20's InferenceService explainer spec has one built-in explainer: ART, whose server
    # implements the SquareAttack adversarial method.
    # Ref: the InferenceService CRD (spec.explainer.art), kserve/docs/samples/explanation/art
    type: Literal["art"] = "art"
    attack: Literal["SquareAttack"] = "SquareAttack"
    config: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class RegistryRef(Model):
    """Where a promoted model comes from: its MLflow registry name and version (`platform models promote`)."""

    name: StrictStr
    version: StrictInt = Field(ge=1)
    alias: Optional[StrictStr] = None


class ModelConfig(Model):
    name: StrictStr
    # mlflow: an MLflow model directory, served by KServe's MLServer runtime over the v2 protocol.
    format: Literal["sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "onnx", "huggingface", "mlflow"]
    storage_uri: StrictStr
    min_replicas: StrictInt = Field(1, ge=1, le=100)
    max_replicas: Optional[StrictInt] = Field(None, ge=1, le=100)
    resources: Resources = Resources()
    batcher: Optional[BatcherConfig] = None
    explainer: Optional[ExplainerConfig] = None
    registry: Optional[RegistryRef] = None
    # Where the detectors' reference sample comes from: a CSV/NPY of feature rows at a URI,
    # or a dataset bundled with scikit-learn in the detector image (`sklearn:iris`).
    reference_data: Optional[StrictStr] = None
    drift: DriftConfig = DriftConfig()
    outlier: OutlierConfig = OutlierConfig()
    # Calls need no token: anyone who reaches the load balancer may call the model (the policy
    # pack flags it in prod).
    public: StrictBool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        # Leaves room for the -drift / -outlier / -predictor suffixes within 63 characters.
        if not DNS_LABEL.match(value) or len(value) > 40:
            raise ValueError(f"'{shown_text(str(value))}' is not a lower-case DNS label of at most 40 characters")
        return value

    @field_validator("storage_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if not _MODEL_URI.match(value):
            raise ValueError(f"'{shown_text(str(value))}' is not a model URI (s3://, gs://, https://, pvc://, oci://, hf://)")
        return value

    @field_validator("reference_data")
    @classmethod
    def _reference(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value not in _BUILTIN_REFERENCE and not _REFERENCE_URI.match(value):
            raise ValueError(
                f"'{shown_text(str(value))}' is neither {', '.join(_BUILTIN_REFERENCE)} nor an s3://, gs:// or https:// "
                "URI of a .csv or .npy file"
            )
        return value

    @model_validator(mode="after")
    def _detectors_need_reference(self) -> "ModelConfig":
        if (self.drift.enabled or self.outlier.enabled) and self.reference_data is None:
            raise ValueError("referenceData is required while drift or outlier detection is on")
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError(f"maxReplicas {self.max_replicas} is below minReplicas {self.min_replicas}")
        return self

    @property
    def watched(self) -> bool:
        return self.drift.enabled or self.outlier.enabled

    @property
    def protocol(self) -> str:
        """The inference protocol its server speaks: MLServer (mlflow) and Triton (onnx, the only
        runtime auto-selecting it) speak only the open v2 protocol, and KServe picks a runtime only
        among those declaring the model's protocol (kserve-runtime-configs v0.20.0: their
        protocolVersions). Ref: kserve pkg/apis/serving/v1beta1/predictor_model.go"""
        return "v2" if self.format in V2_ONLY else "v1"
