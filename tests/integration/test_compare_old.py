"""``compare`` on a model saved by an old experiment (Python 3.8, scikit-learn 0.24.2, numpy
1.19.5, made here with the machine's pyenv interpreter), against real later releases. The
model, an imputer before a soft-voting k-NN + tree ensemble, meets each verdict in turn:

- scikit-learn 1.0.2: identical;
- 1.1.0: differs (predict_proba; the k-NN distance code was rewritten in 1.1);
- 1.2.2: fails to predict (``'SimpleImputer' object has no attribute '_fit_dtype'``);
- 1.3.2: fails to load (the tree's node array dtype changed in 1.3).

These were found by trying every release with Python 3.8 wheels on a few dozen small models,
not by editing a model. ``--newest-identical`` finds the boundary a one-by-one check finds.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rebuild_env.errors import ExitCode
from tests.conftest import pyenv_python, run_cli
from tests.integration.test_old_experiment import old_experiment

pytestmark = [pytest.mark.slow, pytest.mark.network]

AUTHOR_SCRIPT = """
import sys, joblib, numpy as np
from pathlib import Path
from sklearn.datasets import make_classification
from sklearn.ensemble import VotingClassifier
from sklearn.impute import SimpleImputer
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.tree import DecisionTreeClassifier
out = Path(sys.argv[1])
X, y = make_classification(n_samples=200, n_features=10, n_informative=5, random_state=0)
X[np.random.RandomState(0).rand(*X.shape) < 0.1] = np.nan
model = make_pipeline(SimpleImputer(), VotingClassifier(
    [("knn", KNeighborsClassifier(weights="distance", algorithm="brute")),
     ("tree", DecisionTreeClassifier(max_depth=3, random_state=0))], voting="soft")).fit(X, y)
sample = np.ascontiguousarray(X[:150])
joblib.dump(model, out / "model.joblib")
np.save(out / "sample_input.npy", sample, allow_pickle=False)
np.save(out / "sample_output.npy", model.predict(sample), allow_pickle=False)
"""
SEARCH_RANGE = "scikit-learn<1.2"  # 1.0 ... 1.1.3: seven releases with Python 3.8 wheels


@pytest.fixture(scope="module")
def old(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare bundle as the old experiment left it: model, sample, pip freeze, Python."""
    return old_experiment(tmp_path_factory.mktemp("old-compare"), AUTHOR_SCRIPT)


def _compare(bundle: Path, out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    done = run_cli("compare", bundle, "--out", out, "--json", *args)
    assert "Traceback" not in done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return done.code, doc


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.0.2", ("identical", ExitCode.OK, "")),
        ("1.1.0", ("differs", ExitCode.PREDICTIONS_DIFFER, "predict_proba on")),
        ("1.2.2", ("fails-to-predict", ExitCode.FAILS_TO_PREDICT, "_fit_dtype")),
        ("1.3.2", ("fails-to-load", ExitCode.FAILS_TO_LOAD, "incompatible dtype")),
    ],
)
def test_each_verdict_on_a_real_release(
    old: Path, tmp_path: Path, version: str, expected: tuple[str, int, str]
) -> None:
    status, code, words = expected
    exit_code, doc = _compare(old, tmp_path, "--upgrade", f"scikit-learn=={version}")
    verdict = doc["verdict"]
    assert (exit_code, verdict["status"]) == (code, status), doc
    assert doc["reference"]["packages"]["scikit-learn"] == "0.24.2"
    assert doc["reference"]["packages"]["numpy"] == "1.19.5"
    assert verdict["versions"]["scikit-learn"] == version
    assert words in verdict["summary"]
    # the version warning is listed whatever the verdict; the predictions decide
    if status in ("identical", "differs"):
        assert any("0.24.2" in w for w in verdict["version_warnings"])
    if status == "identical":
        # the candidate keeps the recorded numpy: only scikit-learn moved
        assert [c["name"] for c in verdict["changes"]] == ["scikit-learn"]
        assert {o["output"] for o in verdict["outputs"]} >= {"predict_proba on the larger input"}
    if status == "differs":
        differing = [o for o in verdict["outputs"] if not o["identical"]]
        assert differing and all(o["output"].startswith("predict_proba") for o in differing)
        assert all(0 < o["max_abs_diff"] < 1e-3 for o in differing)


def test_newest_identical_matches_checking_every_release(old: Path, tmp_path: Path) -> None:
    code, doc = _compare(old, tmp_path, "--upgrade", SEARCH_RANGE, "--newest-identical")
    assert code == ExitCode.OK, doc
    search = doc["search"]
    versions = search["versions"]
    assert versions[0] == "1.0" and len(versions) >= 5
    assert len(search["steps"]) < len(versions)  # a bisection, not a scan
    # progress says how far the search is: "release 2 of at most 5 (7 releases): ..."
    shown = run_cli(
        "compare", old, "--out", tmp_path, "--upgrade", SEARCH_RANGE, "--newest-identical"
    )
    assert "release 1 of at most" in shown.stderr, shown.stderr
    assert f"({len(versions)} releases)" in shown.stderr
    one_by_one = {}
    for version in versions:
        _, each = _compare(old, tmp_path, "--upgrade", f"scikit-learn=={version}")
        one_by_one[version] = each["verdict"]["status"]
    identical = [v for v in versions if one_by_one[v] == "identical"]
    first_not = next(v for v in versions if one_by_one[v] != "identical")
    assert search["newest_identical"] == identical[-1] == "1.0.2"
    assert search["first_not_identical"] == first_not == "1.1.0"
    assert search["not_monotone"] is None
    # every release the search checked agrees with the one-by-one verdict
    for step in search["steps"]:
        assert step["status"] == one_by_one[step["version"]]


def test_python_moves_only_the_candidate(old: Path, tmp_path: Path) -> None:
    if pyenv_python("3.10") is None:
        pytest.skip("needs a Python 3.10 interpreter")
    _, doc = _compare(old, tmp_path, "--upgrade", "scikit-learn==1.0.2", "--python", "3.10")
    assert doc["reference"]["python"].startswith("3.8.")
    verdict = doc["verdict"]
    assert verdict["python"].startswith("3.10.")
    changes = {c["name"]: c for c in verdict["changes"]}
    # numpy 1.19.5 has no wheel for 3.10: re-resolved, as of scikit-learn 1.0.2's release
    assert changes["numpy"]["before"] == "1.19.5"
    assert changes["numpy"]["after"].startswith("1.21.")
    assert changes["numpy"]["reason"].startswith("re-resolved")
    assert changes["scikit-learn"]["reason"] == "asked for"
    # numpy changed under the model: the verdict is the predictions' (here they differ)
    assert verdict["status"] in ("identical", "differs") and verdict["outputs"]
