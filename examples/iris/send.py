"""Send iris-shaped requests to the served model over the v2 (open inference) protocol, optionally
shifted to make the drift detector fire.

    python examples/iris/send.py --url https://iris-models.127.0.0.1.sslip.io --count 200
    python examples/iris/send.py --url ... --count 200 --shift 3.0   # inputs far from the training data

The model's request logger copies every request to its drift and outlier detectors; after
`drift.batchSize` requests the drift detector tests the batch, and Grafana's "MLOps: drift and
outliers" dashboard and the ModelDriftDetected alert show the result.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import ssl
import urllib.request

from sklearn.datasets import load_iris


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the model's URL (platform outputs lists it)")
    parser.add_argument("--model", default="iris")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--shift", type=float, default=0.0, help="added to every feature")
    parser.add_argument("--insecure", action="store_true", help="skip TLS verification (the local self-signed CA)")
    parser.add_argument("--token", default=os.environ.get("MODEL_TOKEN"),
                        help="a bearer token from the stack's issuer ($MODEL_TOKEN; platform token says how)")
    options = parser.parse_args()

    rows = load_iris().data.tolist()
    context = ssl._create_unverified_context() if options.insecure else None  # noqa: S323 - opt-in, local CA only
    endpoint = f"{options.url.rstrip('/')}/v2/models/{options.model}/infer"
    for _ in range(options.count):
        row = [value + options.shift for value in random.choice(rows)]
        body = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": row}]}
        headers = {"Content-Type": "application/json"}
        if options.token:
            headers["Authorization"] = f"Bearer {options.token}"
        request = urllib.request.Request(endpoint, json.dumps(body).encode(), headers)
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            outputs = json.load(response)["outputs"]
    print(f"sent {options.count} requests to {endpoint}; last prediction {outputs[0]['data']}")


if __name__ == "__main__":
    main()
