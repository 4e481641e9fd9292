"""Write a real skops / Hugging Face model repo with skops' own ``hub_utils.init``.

``hub_utils`` left skops in 0.16, so run this with an interpreter that has an older skops
(``uv pip install "skops<0.16" scikit-learn pandas huggingface_hub``)::

    python scripts/make_skops_repo.py OUT_DIR --format pickle|skops [--array]

The repo holds ``config.json`` (``sklearn.environment``, ``sklearn.model.file``,
``sklearn.model_format``, ``sklearn.example_input``) and the model file, exactly as
skops writes them for the Hub.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--format", choices=["pickle", "skops"], default="pickle")
    parser.add_argument("--array", action="store_true", help="train on a bare numpy array")
    args = parser.parse_args()

    import sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from skops import hub_utils
    from skops import io as sio

    iris = load_iris(as_frame=not args.array)
    x = iris.data
    if not args.array:
        x = x.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    model = LogisticRegression(max_iter=500).fit(x, iris.target)
    with tempfile.TemporaryDirectory() as tmp:
        if args.format == "skops":
            model_file = Path(tmp) / "model.skops"
            sio.dump(model, model_file)
        else:
            model_file = Path(tmp) / "model.pkl"
            model_file.write_bytes(pickle.dumps(model))
        hub_utils.init(
            model=model_file,
            requirements=[f"scikit-learn={sklearn.__version__}"],
            dst=args.out,
            task="tabular-classification",
            data=x[:3],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
