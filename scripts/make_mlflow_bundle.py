"""Write a real MLflow model directory with the real ``mlflow`` (or ``mlflow-skinny``) package.

Run it with an interpreter that has mlflow and scikit-learn installed (a throwaway venv;
the tests make one with uv)::

    python scripts/make_mlflow_bundle.py OUT_DIR --serialization cloudpickle [--frame]
    python scripts/make_mlflow_bundle.py OUT_DIR --pyfunc     # a custom pyfunc model

It trains a small model on a fixed dataset and saves it with ``mlflow.sklearn.save_model``
(``serialization_format`` pickle, cloudpickle or skops), with an input example, so that the
folder is exactly what MLflow writes: ``MLmodel``, ``conda.yaml``, ``python_env.yaml``,
``requirements.txt``, ``input_example.json``, ``serving_input_example.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _data(frame: bool):  # type: ignore[no-untyped-def]
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=frame)
    if frame:
        x = iris.data.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
        return x, iris.target
    return iris.data, iris.target


def save_sklearn(out: Path, serialization: str, frame: bool) -> None:
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data(frame)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(x, y)
    kwargs = {}
    if serialization == "skops":
        kwargs["skops_trusted_types"] = [
            "sklearn.pipeline.Pipeline",
            "sklearn.preprocessing._data.StandardScaler",
            "sklearn.linear_model._logistic.LogisticRegression",
        ]
    mlflow.sklearn.save_model(
        model,
        str(out),
        serialization_format=serialization,
        input_example=x[:3],
        **kwargs,
    )


def save_pyfunc(out: Path) -> None:
    import mlflow.pyfunc

    class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return model_input * 2

    mlflow.pyfunc.save_model(str(out), python_model=Doubler())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--serialization", choices=["pickle", "cloudpickle", "skops"], default="cloudpickle"
    )
    parser.add_argument("--frame", action="store_true", help="train on a pandas DataFrame")
    parser.add_argument("--pyfunc", action="store_true", help="save a custom pyfunc model")
    args = parser.parse_args()
    if args.pyfunc:
        save_pyfunc(args.out)
    else:
        save_sklearn(args.out, args.serialization, args.frame)
    return 0


if __name__ == "__main__":
    sys.exit(main())
