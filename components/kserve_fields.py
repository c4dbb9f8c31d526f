"""The parts of KServe's InferenceService (serving.kserve.io/v1beta1) that the planner's runtime
model and the policy pack read: where a component's model container is declared.
Ref: https://kserve.github.io/website/docs/reference/crd-api (PredictorSpec)
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

# The components an InferenceService can run, each a pod of its own.
COMPONENTS = ("predictor", "transformer", "explainer")
# Predictor fields that hold the model container: the generic `model` and the framework shorthands.
MODEL_FIELDS = ("model", "sklearn", "xgboost", "lightgbm", "tensorflow", "pytorch", "onnx", "triton", "pmml", "paddle", "huggingface")


def component_models(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], list[tuple[str, Mapping[str, Any]]]]]:
    """(component, its spec, [(field, model spec)]) for each component an InferenceService's `spec` runs."""
    for component in COMPONENTS:
        part = spec.get(component)
        if isinstance(part, Mapping):
            yield component, part, [(field, part[field]) for field in MODEL_FIELDS if isinstance(part.get(field), Mapping)]
