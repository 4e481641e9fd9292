"""End to end, as a user runs it: real installs from the index, real interpreters."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from rebuild_env.capture import save_bundle
from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.json_contract import REBUILD_KEYS, VERIFICATION_KEYS

pytestmark = [pytest.mark.slow, pytest.mark.network]


def test_example_bundle_rebuilds_and_verifies(tmp_path: Path) -> None:
    prefix, out = tmp_path / "env", tmp_path / "out"
    first = run_cli(EXAMPLE_BUNDLE, "--backend", "venv", "--prefix", prefix, "--out", out)
    assert first.code == 0, first.stderr
    assert "predictions identical (150/150)" in first.stdout
    requirements = (out / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "numpy==" in requirements
    assert (prefix / "bin" / "python").exists() and (prefix / "bin" / "pip").exists()

    again = run_cli(EXAMPLE_BUNDLE, "--prefix", prefix, "--out", out, "--json")
    assert again.code == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["schema_version"] == 1 and doc["status"] == "identical"
    assert set(doc) == REBUILD_KEYS and set(doc["verification"]) == VERIFICATION_KEYS
    assert doc["reused_env"] is True
    assert doc["verification"]["comparison"]["equal_rows"] == 150
    assert doc["verification"]["versions"]["scikit-learn"] == next(
        p["version"] for p in doc["packages"] if p["name"] == "scikit-learn"
    )


def test_dry_run_writes_specs_and_builds_nothing(tmp_path: Path) -> None:
    result = run_cli(
        EXAMPLE_BUNDLE, "--dry-run", "--prefix", tmp_path / "env", "--out", tmp_path / "o"
    )
    assert result.code == 0, result.stderr
    assert (tmp_path / "o" / "requirements.txt").is_file()
    assert not (tmp_path / "env").exists()
    assert "planned" in result.stdout


def test_dataframe_pipeline_saved_here_verifies_identical(tmp_path: Path) -> None:
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "size": rng.normal(size=60),
            "weight": rng.uniform(0, 5, size=60),
            "colour": rng.choice(["red", "green", "blue"], size=60),
        }
    )
    target = (frame["size"] > 0).astype(int)
    model = make_pipeline(
        ColumnTransformer(
            [("num", StandardScaler(), ["size", "weight"]), ("cat", OneHotEncoder(), ["colour"])]
        ),
        RandomForestClassifier(n_estimators=5, random_state=0),
    ).fit(frame, target)
    bundle = save_bundle(model, tmp_path / "bundle", sample_input=frame, method="predict_proba")
    assert (bundle / "sample_input.json").is_file()
    result = run_cli(bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out")
    assert result.code == 0, result.stdout + result.stderr
    assert "predictions identical (60/60)" in result.stdout


def test_save_command_writes_a_bundle_that_verifies(tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)
    import joblib

    joblib.dump(SVC().fit(X, y), tmp_path / "mine.joblib")
    np.save(tmp_path / "X.npy", X, allow_pickle=False)
    saved = run_cli(
        "save", tmp_path / "mine.joblib", tmp_path / "bundle", "--sample-input", tmp_path / "X.npy"
    )
    assert saved.code == 0, saved.stderr
    manifest = (tmp_path / "bundle" / "bundle.yaml").read_text()
    assert "scikit-learn" in manifest and "numpy" in manifest
    result = run_cli(tmp_path / "bundle", "--prefix", tmp_path / "env", "--out", tmp_path / "out")
    assert result.code == 0, result.stdout + result.stderr
    assert "predictions identical (150/150)" in result.stdout


def test_cache_hit_skips_the_build_and_a_corrupt_entry_is_rebuilt(tmp_path: Path) -> None:
    first = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "o", "--json")
    assert first.code == 0, first.stderr
    prefix = Path(json.loads(first.stdout)["prefix"])
    marker = prefix / "rebuild-env.json"
    built = json.loads(marker.read_text())["built_at"]
    inode = (prefix / "bin" / "python").lstat().st_ino

    path = run_cli("cache", "path", EXAMPLE_BUNDLE)
    assert path.code == 0 and path.stdout.strip() == str(prefix)

    hit = json.loads(run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "o", "--json").stdout)
    assert hit["reused_env"] is True and hit["status"] == "identical"
    assert json.loads(marker.read_text())["built_at"] == built
    assert (prefix / "bin" / "python").lstat().st_ino == inode
    assert "build" not in hit["seconds"]

    (prefix / "bin" / "python").unlink()  # a half-deleted cache entry
    again = json.loads(run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "o", "--json").stdout)
    assert again["reused_env"] is False and again["status"] == "identical"
    assert (prefix / "bin" / "python").exists()
