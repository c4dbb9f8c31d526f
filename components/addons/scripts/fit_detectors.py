"""Fit a model's drift and outlier detectors on its reference data and save them.

Runs inside the detector image (seldonio/alibi-detect-server, alibi-detect 0.11.x), so the saved
artifacts are exactly what that image's `load_detector` reads back. Configured by environment:

  MODEL_NAME            the served model's name (recorded in the manifest)
  REFERENCE             "sklearn:iris", or the path of a downloaded .csv / .npy file of feature rows
  OUT_DIR               where to write drift/, outlier/ and manifest.json
  DRIFT, OUTLIER        "1" to fit that detector
  P_VALUE               drift test significance (KSDrift p_val)
  THRESHOLD_PERCENTILE  outlier threshold as a percentile of reference scores (IForest)

Every saved detector is loaded back and run on the reference rows before the script succeeds,
and manifest.json records where each artifact came from (reference digest, library versions,
parameters), so a reader of the bucket can tell what produced it.
"""

import hashlib
import json
import os
import sys


def load_reference(spec):
    import numpy as np

    if spec == "sklearn:iris":
        # Bundled with scikit-learn: no network needed inside the cluster.
        from sklearn.datasets import load_iris

        data = load_iris().data.astype("float32")
        return data, hashlib.sha256(data.tobytes()).hexdigest(), "scikit-learn bundled iris (150 x 4)"
    with open(spec, "rb") as handle:
        raw = handle.read()
    digest = hashlib.sha256(raw).hexdigest()
    if spec.endswith(".npy"):
        data = np.load(spec).astype("float32")
    else:
        data = np.loadtxt(spec, delimiter=",", dtype="float32", ndmin=2)
    if data.ndim != 2 or data.shape[0] < 10:
        raise SystemExit(f"reference data {spec}: need a 2-D table of at least 10 rows, got shape {data.shape}")
    return data, digest, os.path.basename(spec)


def saving_module():
    try:
        from alibi_detect import saving  # alibi-detect >= 0.10
    except ImportError:  # pragma: no cover - older layout
        from alibi_detect.utils import saving
    return saving


def main():
    import alibi_detect
    import numpy as np

    saving = saving_module()
    model = os.environ["MODEL_NAME"]
    out_dir = os.environ["OUT_DIR"]
    reference, digest, described = load_reference(os.environ["REFERENCE"])
    manifest = {
        "model": model,
        "reference": {"source": os.environ["REFERENCE"], "description": described, "sha256": digest,
                      "rows": int(reference.shape[0]), "features": int(reference.shape[1])},
        "alibi_detect": alibi_detect.__version__,
        "numpy": np.__version__,
        "detectors": {},
    }
    os.makedirs(out_dir, exist_ok=True)
    # A fixed random sample of the reference: loading and predicting on it proves the saved
    # artifacts work in this image before anything is uploaded.
    sample = reference[np.random.default_rng(0).choice(len(reference), size=min(30, len(reference)), replace=False)]

    if os.environ.get("DRIFT") == "1":
        from alibi_detect.cd import KSDrift

        p_value = float(os.environ["P_VALUE"])
        detector = KSDrift(reference, p_val=p_value)
        path = os.path.join(out_dir, "drift")
        saving.save_detector(detector, path)
        reloaded = saving.load_detector(path)
        result = reloaded.predict(sample)
        manifest["detectors"]["drift"] = {"class": "KSDrift", "p_val": p_value, "path": "drift",
                                          "check_is_drift": int(result["data"]["is_drift"])}

    if os.environ.get("OUTLIER") == "1":
        from alibi_detect.od import IForest

        percentile = float(os.environ["THRESHOLD_PERCENTILE"])
        detector = IForest()
        detector.fit(reference)
        detector.infer_threshold(reference, threshold_perc=percentile)
        path = os.path.join(out_dir, "outlier")
        saving.save_detector(detector, path)
        reloaded = saving.load_detector(path)
        result = reloaded.predict(sample)
        manifest["detectors"]["outlier"] = {"class": "IForest", "threshold_perc": percentile,
                                            "threshold": float(detector.threshold), "path": "outlier",
                                            "check_outliers": int(np.sum(result["data"]["is_outlier"]))}

    if not manifest["detectors"]:
        raise SystemExit("nothing to fit: set DRIFT=1 and/or OUTLIER=1")
    with open(os.path.join(out_dir, "manifest.json"), "w") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
    print(json.dumps(manifest, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
