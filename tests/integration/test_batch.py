"""``rebuild-env verify``: many bundles in parallel, a failing one never stops the others."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from rebuild_env.capture import save_bundle
from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]


def test_verify_many_bundles_with_one_failing(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    models = {
        "logreg": LogisticRegression(max_iter=500).fit(X, y),
        "hgb": HistGradientBoostingClassifier(max_iter=5).fit(X, y),
        "kmeans": KMeans(n_clusters=3, n_init=2, random_state=0).fit(X),
        "tampered": LogisticRegression(max_iter=500).fit(X, y),
    }
    for name, model in models.items():
        save_bundle(model, tmp_path / name, sample_input=X)
    expected = np.load(tmp_path / "tampered" / "sample_output.npy")
    expected[:2] = (expected[:2] + 1) % 3
    np.save(tmp_path / "tampered" / "sample_output.npy", expected, allow_pickle=False)

    bundles = [tmp_path / n for n in models]
    result = run_cli("verify", *bundles, "--jobs", "2", "--json", cwd=tmp_path)
    assert result.code == 6, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["schema_version"] == 1 and doc["total"] == 4 and doc["passed"] == 3
    rows = {Path(r["bundle"]).name: r for r in doc["bundles"]}
    assert rows["tampered"]["status"] == "differs" and "148/150" in rows["tampered"]["summary"]
    for name in ("logreg", "hgb", "kmeans"):
        assert rows[name]["status"] == "identical", rows[name]["summary"]
        assert rows[name]["versions"]["scikit-learn"]

    text = run_cli("verify", *bundles, cwd=tmp_path)
    assert text.code == 6
    assert "3/4 verified" in text.stdout
