"""Prod serves only what the user controls: the shipped prod stacks serve no third party's model,
and the policy `supply-chain-prod-models-own-store` (mandatory in prod) flags any model loaded from
outside the stack's own artifact store, as the real program plans it on each cloud."""

from __future__ import annotations

import re

import pytest

from mlops_platform.cli.stack_edit import set_model
from mlops_platform.components import names
from mlops_platform.components.config import PlatformConfig, read_stack_values
from mlops_platform.planner.harness import plan_platform
from mlops_platform.policies.offline import evaluate
from support import STACKS

RULE = "supply-chain-prod-models-own-store"
THIRD_PARTY = "gs://kfserving-examples/models/sklearn/1.0/model"
BUCKET = {"aws": "aws:s3/bucket:Bucket", "gcp": "gcp:storage/bucket:Bucket", "azure": "azure-native:storage:BlobContainer"}


def _with_model(stack: str, uri: str) -> PlatformConfig:
    values = read_stack_values(STACKS / f"Pulumi.{stack}.yaml")
    values["models"] = [{"name": "iris", "format": "sklearn", "storageUri": uri, "referenceData": "sklearn:iris"}]
    # HTTPS open to any address, so that the stack file is taken and the policy is what judges the model
    # (without it, a model the allow-list cannot reach is refused first: test_https_egress.py).
    values["egress"] = {"allow": ["0.0.0.0/0"]}
    return PlatformConfig.from_values(values, f"{stack} (variant)", stack)


def _flagged(config: PlatformConfig) -> list:
    run = plan_platform(config)
    _, violations = evaluate(run, config)
    return [v for v in violations if v.rule == RULE]


def _own_store(run, cloud: str) -> str:
    """The URI prefix of the artifact store the program planned for the stack."""
    (store,) = [r for r in run.of_type(BUCKET[cloud]) if r.name.endswith("-artifacts")]
    props = store.inputs
    if cloud == "azure":
        return f"https://{props['accountName']}.blob.core.windows.net/{props['containerName']}/"
    return f"gs://{props['name']}/"


@pytest.mark.parametrize("stack", ["aws-prod", "azure-prod", "gcp-prod"])
def test_the_shipped_prod_stacks_serve_no_third_partys_model(stack_config, stack):
    assert stack_config(stack).models == ()
    assert _flagged(stack_config(stack)) == []


@pytest.mark.parametrize("cloud", ["aws", "azure", "gcp"])
def test_a_prod_model_from_a_public_bucket_is_a_mandatory_violation(cloud):
    (violation,) = _flagged(_with_model(f"{cloud}-prod", THIRD_PARTY))
    assert violation.level == "mandatory" and THIRD_PARTY in violation.message and "models/iris" in violation.message


@pytest.mark.parametrize("cloud", ["azure", "gcp"])
def test_a_model_in_the_stacks_own_store_passes_and_a_lookalike_does_not(cloud):
    stack = f"{cloud}-prod"
    own = _own_store(plan_platform(_with_model(stack, THIRD_PARTY)), cloud)
    assert _flagged(_with_model(stack, own + "mlflow/1/abc/artifacts/model")) == []
    # The same naming with another suffix is somebody else's bucket once the stack's own is known.
    lookalike = re.sub(r"[a-z0-9]{6}([./])", r"zzzzzz\1", own, count=1)
    assert lookalike != own
    assert len(_flagged(_with_model(stack, lookalike + "model"))) == 1


def test_before_the_bucket_has_a_name_its_naming_decides_and_a_volume_is_own():
    # On AWS the bucket gets its name at creation (a prefix is all the plan knows).
    assert _flagged(_with_model("aws-prod", "s3://mlops-prod-artifacts-20261206abc/mlflow/1/x/artifacts/model")) == []
    assert _flagged(_with_model("aws-prod", "pvc://models/iris")) == []
    for outside in ("s3://mlops-dev-artifacts-20261206abc/model", "s3://mlops-prod-artifacts-x.evil.example/model",
                    "hf://someone/model"):
        assert len(_flagged(_with_model("aws-prod", outside))) == 1, outside


def test_dev_may_serve_the_public_example():
    assert _flagged(_with_model("aws-dev", THIRD_PARTY)) == []


def test_a_kept_bucket_adopted_by_the_next_up_is_the_stacks_own():
    # destroy --keep-data keeps the bucket the platform named; the next up imports it by that name.
    patterns = names.own_store_patterns("aws", "prod")
    assert any(re.match(p, "s3://mlops-prod-artifacts-20251206120000000000000001/mlflow/model") for p in patterns)
    assert not any(re.match(p, "s3://other-bucket/model") for p in patterns)


def test_promoting_into_the_empty_prod_list_writes_a_block_list():
    text = (STACKS / "Pulumi.aws-prod.yaml").read_text()
    written = set_model(text, "iris", {"format": "sklearn", "storageUri": "s3://b/m"}, {"minReplicas": 2})
    assert "  platform:models:\n    - name: iris\n      format: sklearn\n" in written
    assert "[" not in written.split("platform:models:")[1].split("\n")[0]
