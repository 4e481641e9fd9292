"""``compare`` on models saved by an old experiment (Python 3.8, scikit-learn 0.24.2, numpy
1.19.5, made here with the machine's pyenv interpreter), against real later releases:

- a k-nearest-neighbours model loads and predicts identically with scikit-learn 1.0.1 and
  fails to load from 1.0.2 on (``sklearn.neighbors._dist_metrics`` was renamed);
- a gradient-boosting model loads with scikit-learn 1.1.0 but fails to predict (its loss
  object no longer has what 1.1 asks of it);
- ``--newest-identical`` finds the same boundary as checking every release one by one.

These pairs were found by trying each release on each model, not by editing a model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rebuild_env.errors import ExitCode
from rebuild_env.interpreters import uv_binary
from tests.conftest import pyenv_python, run_cli
from tests.integration.test_old_experiment import _run

pytestmark = [pytest.mark.slow, pytest.mark.network]

AUTHOR_SCRIPT = """
import sys, joblib, numpy as np
from pathlib import Path
from sklearn.datasets import load_iris, make_classification
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.neighbors import KNeighborsClassifier
out = Path(sys.argv[1])
Xi, yi = load_iris(return_X_y=True)
Xc, yc = make_classification(n_samples=200, n_features=10, n_informative=5, random_state=0)
models = {
    "knn": (KNeighborsClassifier().fit(Xi, yi), Xi),
    "gbc": (GradientBoostingClassifier(n_estimators=10, random_state=0).fit(Xc, yc), Xc),
}
for name, (model, X) in models.items():
    (out / name).mkdir()
    joblib.dump(model, out / name / "model.joblib")
    np.save(out / name / "sample_input.npy", X, allow_pickle=False)
    np.save(out / name / "sample_output.npy", model.predict(X), allow_pickle=False)
"""
SEARCH_RANGE = "scikit-learn<1.2"  # 1.0 ... 1.1.3: seven releases with Python 3.8 wheels


@pytest.fixture(scope="module")
def old(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Bare bundles as the old experiment left them: model, sample, pip freeze, Python."""
    py38 = pyenv_python("3.8")
    uv = uv_binary()
    if py38 is None or uv is None:
        pytest.skip("needs a Python 3.8 interpreter and uv")
    root = tmp_path_factory.mktemp("old-compare")
    author = root / "author-env"
    _run(uv, "venv", "--quiet", "--python", py38, author)
    python = author / "bin" / "python"
    _run(uv, "pip", "install", "--quiet", "--python", python,
         "scikit-learn==0.24.2", "numpy==1.19.5", "--exclude-newer", "2021-05-01")  # fmt: skip
    _run(python, "-c", AUTHOR_SCRIPT, root)
    freeze = _run(uv, "pip", "freeze", "--python", python)
    version = _run(python, "-c", "import platform; print(platform.python_version())")
    bundles = {}
    for name in ("knn", "gbc"):
        (root / name / "requirements.txt").write_text(freeze)
        (root / name / ".python-version").write_text(version)
        bundles[name] = root / name
    return bundles


def _compare(bundle: Path, out: Path, *args: str) -> tuple[int, dict[str, object]]:
    done = run_cli("compare", bundle, "--out", out, "--json", *args)
    doc = json.loads(done.stdout)
    assert "Traceback" not in done.stderr
    return done.code, doc


def test_identical_then_fails_to_load(old: dict[str, Path], tmp_path: Path) -> None:
    code, doc = _compare(old["knn"], tmp_path, "--upgrade", "scikit-learn==1.0.1")
    assert code == ExitCode.OK, doc
    verdict = doc["verdict"]
    assert isinstance(verdict, dict) and verdict["status"] == "identical"
    assert doc["reference"]["packages"]["scikit-learn"] == "0.24.2"  # type: ignore[index]
    assert doc["reference"]["packages"]["numpy"] == "1.19.5"  # type: ignore[index]
    # the candidate keeps the recorded numpy: only scikit-learn moved
    assert [c["name"] for c in verdict["changes"]] == ["scikit-learn"]
    assert any("0.24.2" in w for w in verdict["version_warnings"])  # listed, not deciding

    code, doc = _compare(old["knn"], tmp_path, "--upgrade", "scikit-learn==1.0.2")
    assert code == ExitCode.FAILS_TO_LOAD, doc
    verdict = doc["verdict"]
    assert isinstance(verdict, dict) and verdict["status"] == "fails-to-load"
    assert "sklearn.neighbors._dist_metrics" in verdict["error"]


def test_fails_to_predict(old: dict[str, Path], tmp_path: Path) -> None:
    done = run_cli("compare", old["gbc"], "--out", tmp_path, "--upgrade", "scikit-learn==1.1.0")
    assert done.code == ExitCode.FAILS_TO_PREDICT, done.stdout + done.stderr
    assert "fails to predict (predict on the recorded sample)" in done.stdout


def test_newest_identical_matches_checking_every_release(
    old: dict[str, Path], tmp_path: Path
) -> None:
    args = ("--upgrade", SEARCH_RANGE, "--newest-identical")
    code, doc = _compare(old["knn"], tmp_path, *args)
    assert code == ExitCode.OK, doc
    search = doc["search"]
    assert isinstance(search, dict)
    versions = search["versions"]
    assert versions[0] == "1.0" and len(versions) >= 5
    assert len(search["steps"]) < len(versions)  # a bisection, not a scan
    one_by_one = {}
    for version in versions:
        _, each = _compare(old["knn"], tmp_path, "--upgrade", f"scikit-learn=={version}")
        one_by_one[version] = each["verdict"]["status"]  # type: ignore[index]
    identical = [v for v in versions if one_by_one[v] == "identical"]
    first_not = next(v for v in versions if one_by_one[v] != "identical")
    assert search["newest_identical"] == identical[-1] == "1.0.1"
    assert search["first_not_identical"] == first_not == "1.0.2"
    assert search["not_monotone"] is None
    # every release the search checked agrees with the one-by-one verdict
    for step in search["steps"]:
        assert step["status"] == one_by_one[step["version"]]
