"""Train a small scikit-learn classifier on iris, log it to the platform's MLflow, register it as
`iris` and point the `champion` alias at the new version.

    export MLFLOW_TRACKING_URI=https://mlflow.127.0.0.1.sslip.io
    export MLFLOW_TRACKING_USERNAME=<your e-mail>           # after signing in to MLflow:
    export MLFLOW_TRACKING_PASSWORD=<your MLflow access token>  # made on your user page
    python examples/iris/train.py

Then `platform models promote iris --alias champion` puts it into the stack file.
"""

from __future__ import annotations

import argparse

import mlflow
import sklearn
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="iris", help="the registered model's name")
    parser.add_argument("--alias", default="champion", help="the alias the new version gets")
    parser.add_argument("--experiment", default="iris")
    options = parser.parse_args()

    features, labels = load_iris(return_X_y=True, as_frame=True)
    train_x, test_x, train_y, test_y = train_test_split(features, labels, test_size=0.25, random_state=7, stratify=labels)
    mlflow.set_experiment(options.experiment)
    with mlflow.start_run() as run:
        model = LogisticRegression(max_iter=300).fit(train_x, train_y)
        accuracy = accuracy_score(test_y, model.predict(test_x))
        mlflow.log_param("max_iter", 300)
        mlflow.log_metric("accuracy", accuracy)
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(train_x, model.predict(train_x)),
            input_example=train_x.head(2),
            registered_model_name=options.name,
            # Stated rather than inferred (inference loads the model again in a subprocess): the
            # MLServer runtime needs this one library, at the version that trained the model.
            # Ref: https://mlflow.org/docs/latest/ml/model/dependencies/
            pip_requirements=[f"scikit-learn=={sklearn.__version__}"],
        )
    version = info.registered_model_version
    MlflowClient().set_registered_model_alias(options.name, options.alias, version)
    print(f"run {run.info.run_id}: accuracy {accuracy:.3f}; registered {options.name} version {version} as @{options.alias}")


if __name__ == "__main__":
    main()
