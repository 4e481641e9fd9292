"""Regenerate src/rebuild_env/pickle_scan/allowlist.txt from real model files.

    python scripts/make_allowlist.py PYTHON [PYTHON ...]

Each PYTHON is an interpreter with scikit-learn (and ideally pandas) installed, e.g. the
current one and an old experiment's (Python 3.8 + scikit-learn 0.24). In each, a set of
real estimators is fitted and saved with joblib (several compressions) and pickle; the
files are then scanned statically here and every global they reference is listed, minus
whatever the policy refuses outright. The list only grows: existing entries are kept.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from rebuild_env.pickle_scan import scan_file
from rebuild_env.pickle_scan.allowlist import forbidden

ALLOWLIST = (
    Path(__file__).resolve().parent.parent / "src" / "rebuild_env" / "pickle_scan" / "allowlist.txt"
)
HAND_MARKER = "# reviewed by hand"
MAKE_MODELS = r"""
import sys, pickle, warnings
warnings.filterwarnings("ignore")
import numpy as np, joblib
out = sys.argv[1]
from sklearn.datasets import load_iris
X, y = load_iris(return_X_y=True)
models = {}
from sklearn.linear_model import LogisticRegression, LinearRegression, Ridge, SGDClassifier
from sklearn.ensemble import RandomForestClassifier, GradientBoostingClassifier, GradientBoostingRegressor, ExtraTreesRegressor, IsolationForest, AdaBoostClassifier
from sklearn.svm import SVC, SVR
from sklearn.cluster import KMeans
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.naive_bayes import GaussianNB
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, OneHotEncoder, MinMaxScaler, LabelEncoder
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
models["logreg"] = LogisticRegression(max_iter=300).fit(X, y)
models["linreg"] = LinearRegression().fit(X, y)
models["ridge"] = Ridge().fit(X, y)
models["sgd"] = SGDClassifier().fit(X, y)
models["rf"] = RandomForestClassifier(n_estimators=3).fit(X, y)
models["gb"] = GradientBoostingClassifier(n_estimators=3).fit(X, y)
models["gbr"] = GradientBoostingRegressor(n_estimators=3).fit(X, y)
models["gbr_huber"] = GradientBoostingRegressor(n_estimators=3, loss="huber").fit(X, y)
models["et"] = ExtraTreesRegressor(n_estimators=3).fit(X, y)
models["iforest"] = IsolationForest(n_estimators=3).fit(X)
models["ada"] = AdaBoostClassifier(n_estimators=3).fit(X, y)
models["svc"] = SVC(probability=True).fit(X, y)
models["svr"] = SVR().fit(X, y)
models["kmeans"] = KMeans(n_clusters=3, n_init=2).fit(X)
models["knn"] = KNeighborsClassifier().fit(X, y)
models["tree"] = DecisionTreeClassifier().fit(X, y)
models["nb"] = GaussianNB().fit(X, y)
models["pca"] = make_pipeline(StandardScaler(), PCA(2), LogisticRegression()).fit(X, y)
models["labels"] = LabelEncoder().fit(np.array(["a", "b", "c"]))
try:  # scikit-learn >= 1.0
    from sklearn.preprocessing import SplineTransformer, PolynomialFeatures, QuantileTransformer
    models["spline"] = make_pipeline(SplineTransformer(), Ridge()).fit(X, y)
    models["poly"] = make_pipeline(PolynomialFeatures(2), QuantileTransformer(n_quantiles=10), Ridge()).fit(X, y)
except ImportError:
    pass
try:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
except ImportError:
    from sklearn.experimental import enable_hist_gradient_boosting  # noqa
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
models["hgb"] = HistGradientBoostingClassifier(max_iter=3).fit(X, y)
models["hgbr"] = HistGradientBoostingRegressor(max_iter=3).fit(X, y)
yb = (y > 0).astype(int)
models["hgb_bin"] = HistGradientBoostingClassifier(max_iter=3).fit(X, yb)
models["gb_bin"] = GradientBoostingClassifier(n_estimators=3).fit(X, yb)
try:
    import pandas as pd
    df = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": np.array(["x", "y", "z"] * 50)})
    ct = ColumnTransformer([("num", make_pipeline(SimpleImputer(), MinMaxScaler()), ["a", "b"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["c"])])
    models["df_pipe"] = make_pipeline(ct, RandomForestClassifier(n_estimators=3)).fit(df, y)
    models["frame"] = df
except ImportError:
    pass
for name, model in models.items():
    joblib.dump(model, "%s/%s.joblib" % (out, name))
    joblib.dump(model, "%s/%s.z.joblib" % (out, name), compress=3)
    for proto in (2, pickle.HIGHEST_PROTOCOL):
        with open("%s/%s.p%d.pkl" % (out, name, proto), "wb") as f:
            pickle.dump(model, f, protocol=proto)
"""


def main() -> int:
    pairs: set[tuple[str, str]] = set()
    generated, marker, by_hand = "", HAND_MARKER, ""
    if ALLOWLIST.exists():
        generated, marker, by_hand = ALLOWLIST.read_text().partition(HAND_MARKER)
        for line in generated.splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#"):
                pairs.add((parts[0], parts[1]))
    reviewed = {tuple(line.split()) for line in by_hand.splitlines() if len(line.split()) == 2}
    for python in sys.argv[1:]:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run([python, "-c", MAKE_MODELS, tmp], check=True)
            for model in sorted(Path(tmp).iterdir()):
                report = scan_file(model)
                if report.error:
                    print(f"cannot scan {model.name}: {report.error}", file=sys.stderr)
                    return 1
                for g in report.globals:
                    if not forbidden(g.module, g.name):
                        pairs.add((g.module, g.name))
                    else:
                        print(f"policy refuses {g.module}.{g.name} ({model.name})", file=sys.stderr)
    header = "# module name -- generated by scripts/make_allowlist.py from real model files\n"
    pairs -= reviewed  # entries reviewed by hand stay in their own section
    listed = "".join(f"{m} {n}\n" for m, n in sorted(pairs))
    ALLOWLIST.write_text(header + listed + (marker + by_hand if marker else ""))
    print(f"{len(pairs)} pairs -> {ALLOWLIST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
