"""A Pipeline with the author's own transformer (``my_features.py``), rebuilt for real.

The model is made, saved and loaded only by other processes (the author's script, the
probe in the rebuilt env): this test process never imports ``my_features``.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

MY_FEATURES = textwrap.dedent(
    """
    import numpy as np
    from sklearn.base import BaseEstimator, TransformerMixin


    class RatioFeatures(TransformerMixin, BaseEstimator):
        \"\"\"Adds the ratio of the first two columns.\"\"\"

        def __init__(self, eps=1e-9):
            self.eps = eps

        def fit(self, X, y=None):
            self.n_features_in_ = np.asarray(X).shape[1]
            return self

        def transform(self, X):
            X = np.asarray(X, dtype=float)
            return np.column_stack([X, X[:, 0] / (X[:, 1] + self.eps)])
    """
)
AUTHOR_SCRIPT = textwrap.dedent(
    """
    import shutil, sys
    import joblib, numpy as np
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from rebuild_env.capture import save_bundle
    from my_features import RatioFeatures

    X, y = load_iris(return_X_y=True)
    model = make_pipeline(RatioFeatures(), LogisticRegression(max_iter=500)).fit(X, y)
    save_bundle(model, "saved", sample_input=X)
    joblib.dump(model, "bare/model.joblib")
    shutil.copy("my_features.py", "bare/my_features.py")
    np.save("bare/sample_input.npy", X, allow_pickle=False)
    np.save("bare/sample_output.npy", model.predict(X), allow_pickle=False)
    """
)
PINNED = ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl")


@pytest.fixture(scope="module")
def author(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The author's folder: my_features.py, the saved bundle and the bare folder."""
    folder = tmp_path_factory.mktemp("author")
    (folder / "my_features.py").write_text(MY_FEATURES)
    bare = folder / "bare"
    bare.mkdir()
    pins = [f"{name}=={metadata.version(name)}" for name in PINNED]
    (bare / "requirements.txt").write_text("\n".join(pins) + "\n")
    (bare / ".python-version").write_text(platform.python_version() + "\n")
    subprocess.run([sys.executable, "-c", AUTHOR_SCRIPT], cwd=folder, check=True, timeout=300)
    return folder


def _rebuild(bundle: Path, tmp_path: Path, *flags: str | Path) -> tuple[int, str, dict]:
    # An env of its own: the session cache's entry of this stack belongs to the example bundle
    result = run_cli(
        bundle, "--out", tmp_path / "out", "--prefix", tmp_path / "env", "--json", *flags
    )
    return result.code, result.stderr, json.loads(result.stdout)


def test_save_bundle_copies_the_module_and_verifies_only_when_trusted(
    author: Path, tmp_path: Path
) -> None:
    saved = tmp_path / "saved"
    shutil.copytree(author / "saved", saved)
    manifest = yaml.safe_load((saved / "bundle.yaml").read_text())
    assert manifest["code"] == ["code/my_features.py"]
    assert (saved / "code" / "my_features.py").read_text() == MY_FEATURES

    code, _, doc = _rebuild(saved, tmp_path)
    assert code == 7 and doc["status"] == "error", doc
    assert "module my_features" in doc["error"] and "code/my_features.py" in doc["error"]
    assert "--trust-code" in doc["error"]

    code, stderr, doc = _rebuild(saved, tmp_path, "--trust-code")
    assert code == 0, (stderr, doc)
    assert doc["status"] == "identical" and doc["verification"]["comparison"]["equal_rows"] == 150
    [local] = doc["local_code"]
    assert local["module"] == "my_features" and local["found_by"] == "bundle.yaml code"
    assert local["file"] == str((saved / "code" / "my_features.py").resolve())
    assert local["globals"] == ["my_features.RatioFeatures"]

    _, _, again = _rebuild(saved, tmp_path, "--trust-code")
    assert again["verification"]["reused_from"] is not None
    with (saved / "code" / "my_features.py").open("a") as handle:
        handle.write("# reviewed\n")
    _, _, after_edit = _rebuild(saved, tmp_path, "--trust-code")
    assert after_edit["status"] == "identical"
    assert after_edit["verification"]["reused_from"] is None  # edited code is verified again


def test_bare_folder_refused_verified_then_missing(author: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(author / "bare", bare)

    code, _, doc = _rebuild(bare, tmp_path)
    assert code == 7 and str(bare / "my_features.py") in doc["error"], doc

    code, stderr, doc = _rebuild(bare, tmp_path, "--trust-code")
    assert code == 0, (stderr, doc)
    assert doc["status"] == "identical", doc["summary"]
    assert doc["local_code"][0]["found_by"] == "bundle folder"

    (bare / "my_features.py").unlink()
    result = run_cli(
        bare, "--out", tmp_path / "out", "--prefix", tmp_path / "env", "--trust-code", "-q"
    )
    assert result.code == 2, result.stderr
    error = result.stderr.strip()
    assert error.count("\n") == 0 and "'my_features'" in error
    assert "my_features.RatioFeatures" in error and "--code-path" in error

    code, stderr, doc = _rebuild(bare, tmp_path, "--trust-code", "--code-path", author)
    assert code == 0 and doc["status"] == "identical", (stderr, doc)
    assert doc["local_code"][0]["found_by"] == "--code-path"


def test_save_command_needs_trust_code_and_copies_the_module(author: Path, tmp_path: Path) -> None:
    model = author / "bare" / "model.joblib"
    refused = run_cli("save", model, tmp_path / "refused", "-q")
    assert refused.code == 7 and "--trust-code" in refused.stderr
    assert not (tmp_path / "refused").exists()

    saved = run_cli("save", model, tmp_path / "saved", "--trust-code", "--code-path", author)
    assert saved.code == 0, saved.stderr
    assert (tmp_path / "saved" / "code" / "my_features.py").read_text() == MY_FEATURES
    manifest = yaml.safe_load((tmp_path / "saved" / "bundle.yaml").read_text())
    assert manifest["code"] == ["code/my_features.py"]
