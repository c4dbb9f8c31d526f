"""What the tests share that is not a fixture: the project's paths and the stacks it ships.

Cached or stateful things (the planned stacks, rendered views, servers, the stand-in engine) are
pytest fixtures in tests/conftest.py; take them as arguments.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
SCHEMAS = Path(os.environ.get("PLATFORM_SCHEMAS_DIR", ROOT.parent / "shared" / "schemas"))
# The pinned chart archives (test data beside the checkout; see ../shared/charts/SOURCES.md).
CHARTS = Path(os.environ.get("PLATFORM_CHARTS_DIR", ROOT.parent / "shared" / "charts"))
# Their digests: packaged from the upstream tags, they are not the published bytes whose digests
# components/versions.py records, so the suite names its own, as an internal mirror would
# (planner/digests.py). Set for every test and every CLI a test starts.
CHART_DIGESTS = Path(__file__).with_name("chart-digests.json")
os.environ.setdefault("PLATFORM_CHART_DIGESTS", str(CHART_DIGESTS))
# An image lock holding a (made-up) digest for every image the shipped stacks run, as a lock filled
# by `platform images lock` does: prod stacks require it (policy supply-chain-images-pinned), and
# this machine reaches no registry to fill the shipped one. Tests of the lock itself set their own.
IMAGES_LOCK = Path(__file__).with_name("images-lock.json")
os.environ.setdefault("PLATFORM_IMAGES_LOCK", str(IMAGES_LOCK))

# The stack files the project ships. Named here, not globbed: a user's own stack file in stacks/
# must not change (or break) the test suite.
SHIPPED_STACKS = ("aws-dev", "aws-prod", "azure-dev", "azure-prod", "gcp-dev", "gcp-prod", "local-dev")
CLOUD_STACKS = tuple(s for s in SHIPPED_STACKS if not s.startswith("local-"))

# The shipped prod stacks serve no model (only one from their own store may be served there): tests
# that need a prod stack serving one give it this, from a volume of the cluster (always its own).
OWN_MODEL = {"name": "iris", "format": "sklearn", "storageUri": "pvc://models/iris", "referenceData": "sklearn:iris",
             "minReplicas": 2}
# `<stack>+model`: a shipped prod stack with OWN_MODEL (the conftest's stack fixtures read this spelling).
WITH_MODEL = "+model"


def with_own_model(stack_file: Path, **extra: object) -> None:
    """Give a copy of a shipped prod stack file OWN_MODEL (plus `extra` keys) in place of `models: []`."""
    import yaml

    entry = yaml.safe_dump([{**OWN_MODEL, **extra}], sort_keys=False).replace("\n", "\n    ")
    text = stack_file.read_text()
    assert "  platform:models: []\n" in text, stack_file
    stack_file.write_text(text.replace("  platform:models: []\n", "  platform:models:\n    " + entry.rstrip() + "\n"))

# The AWS dev stack the `aws_stack` fixture stands for: its bucket and database instance.
AWS_BUCKET = "mlops-dev-artifacts"
AWS_INSTANCE = "mlops-dev"


def one(run, type_token: str, suffix: str = ""):
    """The planned resource of `type_token` whose name ends with `suffix`: exactly one, or the test fails."""
    (found,) = [r for r in run.of_type(type_token) if r.name.endswith(suffix)]
    return found
# The MLflow schema an older deployment recorded (MLflow 3.14.0's head, versions.MLFLOW_SCHEMA_HEADS):
# an `up` from it migrates the database one way.
OLD_MLFLOW_SCHEMA = "b7e4c1a90f23"
