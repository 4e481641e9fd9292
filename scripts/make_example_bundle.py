"""Regenerate the example bundle shipped in fixtures/bundles/iris-logreg.

    python scripts/make_example_bundle.py [DEST]

A logistic regression on the iris data that ships inside scikit-learn (no download),
saved with rebuild-env's own save_bundle with all 150 rows as the recorded sample.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

from rebuild_env.capture import save_bundle

DEFAULT_DEST = Path(__file__).resolve().parent.parent / "fixtures" / "bundles" / "iris-logreg"


def main() -> int:
    dest = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DEST
    if dest.exists():
        shutil.rmtree(dest)
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    save_bundle(model, dest, sample_input=X)
    print(f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
