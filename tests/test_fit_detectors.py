"""The detector-fitting script, run for real with the detector image's alibi-detect line.

`PLATFORM_ALIBI_PYTHON` names an interpreter with tests/detector_image/requirements.txt
installed (.ci/run builds it). The artifacts the script writes are loaded back with
`alibi_detect.utils.saving.load_detector` — the call the detector server makes
(seldon-core components/alibi-detect-server/adserver/cd_model.py, od_model.py) — and must
detect a shifted batch and flag extreme rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from mlops_platform.components.addons.detectors import fit_script

PYTHON = os.environ.get("PLATFORM_ALIBI_PYTHON")
if not PYTHON and os.environ.get("PLATFORM_REQUIRE_ALIBI") == "1":
    raise RuntimeError("PLATFORM_REQUIRE_ALIBI=1 but PLATFORM_ALIBI_PYTHON is not set")
pytestmark = pytest.mark.skipif(
    not PYTHON,
    reason="set PLATFORM_ALIBI_PYTHON to a python with tests/detector_image/requirements.txt (.ci/run does)",
)


def fit(tmp_path: Path, reference: str, **overrides: str) -> tuple[Path, dict]:
    script = tmp_path / "fit_detectors.py"
    script.write_text(fit_script())
    out = tmp_path / "artifacts"
    env = {
        **os.environ,
        "MODEL_NAME": "iris",
        "REFERENCE": reference,
        "OUT_DIR": str(out),
        "DRIFT": "1",
        "OUTLIER": "1",
        "P_VALUE": "0.05",
        "THRESHOLD_PERCENTILE": "95",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **overrides,
    }
    result = subprocess.run([PYTHON, str(script)], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    return out, manifest


def check_with_server_loader(artifacts: Path) -> dict:
    """Load the artifacts as the adserver does and score shifted and extreme data."""
    code = textwrap.dedent(
        f"""
        import json, numpy as np
        from alibi_detect.utils.saving import load_detector
        from sklearn.datasets import load_iris
        x = load_iris().data.astype("float32")
        rng = np.random.default_rng(1)
        drift = load_detector("{artifacts}/drift")
        outlier = load_detector("{artifacts}/outlier")
        same = x[rng.choice(150, 40, replace=False)]
        shifted = same + np.array([3.0, -2.0, 4.0, 2.0], dtype="float32")
        extreme = np.array([[30.0, 30.0, 30.0, 30.0], [-10.0, -10.0, -10.0, -10.0]], dtype="float32")
        print(json.dumps({{
            "drift_same": int(drift.predict(same)["data"]["is_drift"]),
            "drift_shifted": int(drift.predict(shifted)["data"]["is_drift"]),
            "outliers_extreme": int(np.sum(outlier.predict(extreme)["data"]["is_outlier"])),
            "outliers_same": int(np.sum(outlier.predict(same)["data"]["is_outlier"])),
        }}))
        """
    )
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_fits_iris_detectors_that_the_server_can_load(tmp_path):
    artifacts, manifest = fit(tmp_path, "sklearn:iris")
    assert manifest["alibi_detect"] == "0.11.4"
    assert manifest["reference"]["rows"] == 150 and manifest["reference"]["features"] == 4
    assert manifest["detectors"]["drift"]["class"] == "KSDrift"
    assert manifest["detectors"]["outlier"]["class"] == "IForest"
    assert (artifacts / "drift" / "config.toml").is_file()
    assert (artifacts / "outlier" / "IForest.dill").is_file()
    scores = check_with_server_loader(artifacts)
    assert scores["drift_same"] == 0, scores
    assert scores["drift_shifted"] == 1, scores
    assert scores["outliers_extreme"] == 2, scores
    assert scores["outliers_same"] <= 8, scores  # about 5% of reference rows sit above the threshold


def test_reference_from_a_downloaded_csv_is_digested(tmp_path):
    rows = "\n".join(",".join(str(v) for v in (5.1 + i * 0.01, 3.5, 1.4, 0.2)) for i in range(40))
    csv = tmp_path / "reference.csv"
    csv.write_text(rows + "\n")
    _, manifest = fit(tmp_path, str(csv), OUTLIER="0")
    import hashlib

    assert manifest["reference"]["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert manifest["reference"]["rows"] == 40
    assert set(manifest["detectors"]) == {"drift"}


def test_rejects_a_too_small_reference(tmp_path):
    csv = tmp_path / "tiny.csv"
    csv.write_text("1,2\n3,4\n")
    script = tmp_path / "fit_detectors.py"
    script.write_text(fit_script())
    result = subprocess.run(
        [PYTHON, str(script)],
        env={**os.environ, "MODEL_NAME": "m", "REFERENCE": str(csv), "OUT_DIR": str(tmp_path / "o"), "DRIFT": "1",
             "OUTLIER": "0", "P_VALUE": "0.05", "THRESHOLD_PERCENTILE": "95"},
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode != 0 and "at least 10 rows" in result.stderr
