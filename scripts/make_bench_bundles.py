"""Make the bundles and the large model file that ``scripts/bench`` times (nothing committed).

    python scripts/make_bench_bundles.py heavy DEST          # scikit-learn + pandas + scipy
    python scripts/make_bench_bundles.py batch DEST [--n 4]   # N small bundles, one plan
    python scripts/make_bench_bundles.py old DEST             # Python 3.8, scikit-learn 0.24.2
    python scripts/make_bench_bundles.py big-model FILE [--mb 200]

``heavy`` and ``batch`` are written with this interpreter's scikit-learn through
rebuild-env's own ``save_bundle``. ``old`` is made the way an old experiment was: a
throwaway Python 3.8 venv (pyenv's, else any ``python3.8``) with scikit-learn 0.24.2,
a model saved there and a ``pip freeze``; it exits 3 when no 3.8 interpreter is found.
``big-model`` fits a RandomForestRegressor with deep trees, sized to about ``--mb`` MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HEAVY_ROWS = 2000
BATCH_SEED = 0
OLD_PYTHON = "3.8"
OLD_PINS = ("scikit-learn==0.24.2", "numpy==1.19.5")
OLD_EXCLUDE_NEWER = "2021-05-01"
NO_INTERPRETER = 3
# A deep regression tree on BIG_ROWS rows weighs about this much (joblib, uncompressed).
BIG_ROWS = 150_000
BIG_FEATURES = 8
MB_PER_TREE_AT_BIG_ROWS = 13.7

OLD_AUTHOR_SCRIPT = """
import sys, joblib, numpy as np
from pathlib import Path
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
out = Path(sys.argv[1])
X, y = load_iris(return_X_y=True)
model = RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y)
joblib.dump(model, out / "model.joblib")
np.save(out / "sample_input.npy", X, allow_pickle=False)
np.save(out / "sample_output.npy", model.predict(X), allow_pickle=False)
"""


def heavy(dest: Path) -> Path:
    """A DataFrame pipeline: quantiles, scaling, one-hot, gradient boosting.

    (No SplineTransformer: with scipy 1.17 its BSplines pickle a reference to
    ``scipy._lib.array_api_compat`` functions, which the scanner refuses.)
    """
    import numpy as np
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, QuantileTransformer, StandardScaler

    from rebuild_env.capture import save_bundle

    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "age": rng.randint(18, 90, HEAVY_ROWS).astype("int64"),
            "income": rng.lognormal(10, 1, HEAVY_ROWS),
            "score": rng.normal(size=HEAVY_ROWS),
            "city": rng.choice(["paris", "lyon", "nantes", "lille"], HEAVY_ROWS),
            "plan": rng.choice(["free", "pro", "team"], HEAVY_ROWS),
        }
    )
    target = (frame["income"] > frame["income"].median()) ^ (frame["score"] > 1)
    columns = ColumnTransformer(
        [
            ("quantiles", QuantileTransformer(n_quantiles=100), ["age", "score"]),
            ("scaled", StandardScaler(), ["income"]),
            ("onehot", OneHotEncoder(handle_unknown="ignore"), ["city", "plan"]),
        ]
    )
    model = make_pipeline(columns, HistGradientBoostingClassifier(max_iter=50, random_state=0))
    model.fit(frame, target)
    return save_bundle(model, dest, sample_input=frame.head(200))


def batch(dest: Path, n: int) -> list[Path]:
    """``n`` small bundles with different estimators but the same packages (one plan)."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.tree import DecisionTreeClassifier

    from rebuild_env.capture import save_bundle

    X, y = load_iris(return_X_y=True)
    makers = (
        lambda i: LogisticRegression(C=1.0 + i, max_iter=1000),
        lambda i: DecisionTreeClassifier(random_state=BATCH_SEED + i),
        lambda i: RandomForestClassifier(n_estimators=10, random_state=BATCH_SEED + i),
        lambda i: KNeighborsClassifier(n_neighbors=3 + i),
    )
    return [
        save_bundle(makers[i % len(makers)](i).fit(X, y), dest / f"bundle-{i}", sample_input=X)
        for i in range(n)
    ]


def find_python(minor: str) -> Path | None:
    """An interpreter of ``minor``: pyenv's first, then ``pythonX.Y`` on PATH."""
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        done = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False)
        root = done.stdout.strip()
    if root:
        found = sorted(Path(root, "versions").glob(f"{minor}.*/bin/python"), reverse=True)
        if found:
            return found[0]
    on_path = shutil.which(f"python{minor}")
    return Path(on_path) if on_path else None


def _run(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{Path(str(args[0])).name} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def old(dest: Path) -> Path | None:
    """The old experiment: made in a Python 3.8 venv with scikit-learn 0.24.2 (None: no 3.8)."""
    python = find_python(OLD_PYTHON)
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if python is None:
        return None
    with tempfile.TemporaryDirectory(prefix="rebuild-env-old-author-") as tmp:
        author = Path(tmp) / "venv"
        _run(uv, "venv", "--quiet", "--python", python, author)
        py = author / "bin" / "python"
        _run(uv, "pip", "install", "--quiet", "--python", py, *OLD_PINS,
             "--exclude-newer", OLD_EXCLUDE_NEWER)  # fmt: skip
        dest.mkdir(parents=True)
        _run(py, "-c", OLD_AUTHOR_SCRIPT, dest)
        (dest / "requirements.txt").write_text(_run(uv, "pip", "freeze", "--python", py))
        version = _run(py, "-c", "import platform; print(platform.python_version())")
        (dest / ".python-version").write_text(version)
    return dest


def big_model(path: Path, megabytes: float) -> Path:
    """A RandomForestRegressor of deep trees, about ``megabytes`` MB as a joblib file."""
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    trees = max(1, round(megabytes / MB_PER_TREE_AT_BIG_ROWS))
    rows = max(1000, int(BIG_ROWS * megabytes / (trees * MB_PER_TREE_AT_BIG_ROWS)))
    rng = np.random.RandomState(0)
    X = rng.normal(size=(rows, BIG_FEATURES))
    y = X @ rng.normal(size=BIG_FEATURES) + rng.normal(size=rows)
    model = RandomForestRegressor(n_estimators=trees, random_state=0, n_jobs=-1).fit(X, y)
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("heavy", "batch", "old", "big-model"))
    parser.add_argument("dest", type=Path)
    parser.add_argument("--n", type=int, default=4, help="batch: how many bundles")
    parser.add_argument("--mb", type=float, default=200.0, help="big-model: about this size")
    args = parser.parse_args(argv)
    if args.kind == "heavy":
        print(heavy(args.dest))
    elif args.kind == "batch":
        print("\n".join(str(p) for p in batch(args.dest, args.n)))
    elif args.kind == "big-model":
        print(big_model(args.dest, args.mb))
    else:
        made = old(args.dest)
        if made is None:
            print(f"no Python {OLD_PYTHON} interpreter found (pyenv or PATH)", file=sys.stderr)
            return NO_INTERPRETER
        print(made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
