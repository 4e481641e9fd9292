"""``rebuild-env save`` run from the tool's own env, on a model trained in another one.

As a new user does it: the tool installed on its own, the model trained in a second venv
with an older scikit-learn. The bundle must hold the user's exact bytes, record the
training env's versions (``--python``), and without ``--python`` refuse in one line.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from uv import find_uv_bin

from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

OLD_SKLEARN = "1.5.2"
OLD_NUMPY = "1.26.4"
INSTALL_TIMEOUT_S = 600
TRAIN = """
import joblib, numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
X, y = load_iris(return_X_y=True)
joblib.dump(RandomForestClassifier(n_estimators=10, random_state=0).fit(X, y), "model.joblib")
np.save("X.npy", X)
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the training interpreter, the folder holding model.joblib and X.npy)."""
    root = tmp_path_factory.mktemp("training")
    uv = find_uv_bin()
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    subprocess.run([uv, "venv", "-q", "--python", minor, root / "venv"], check=True)
    python = root / "venv" / "bin" / "python"
    packages = [f"scikit-learn=={OLD_SKLEARN}", f"numpy=={OLD_NUMPY}", "joblib"]
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", python, *packages],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    subprocess.run([python, "-c", TRAIN], cwd=root, check=True)
    return python, root


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_save_without_python_refuses_when_the_file_disagrees(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    _python, root = trained
    dest = tmp_path / "bundle"

    refused = run_cli("save", root / "model.joblib", dest, "--sample-input", root / "X.npy")

    assert refused.code == 2, refused.stderr
    (line,) = refused.stderr.strip().splitlines()
    assert f"scikit-learn=={OLD_SKLEARN}" in line and "--python PATH" in line
    assert not dest.exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_save_with_python_keeps_the_bytes_and_the_training_versions(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    python, root = trained
    dest = tmp_path / "bundle"
    model = root / "model.joblib"

    saved = run_cli("save", model, dest, "--sample-input", root / "X.npy", "--python", python)

    assert saved.code == 0, saved.stderr
    assert (dest / "model.joblib").read_bytes() == model.read_bytes()
    manifest = yaml.safe_load((dest / "bundle.yaml").read_text())
    assert manifest["model"]["sha256"] == _sha256(model)
    versions = {p["name"]: p["version"] for p in manifest["packages"]}
    assert versions["scikit-learn"] == OLD_SKLEARN and versions["numpy"] == OLD_NUMPY
    rebuilt = run_cli(dest, "--out", tmp_path / "out", "--no-cache")
    assert rebuilt.code == 0, rebuilt.stdout + rebuilt.stderr
    assert "predictions identical (150/150)" in rebuilt.stdout
