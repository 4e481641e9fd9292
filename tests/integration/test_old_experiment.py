"""An old experiment (Python 3.8, scikit-learn 0.24.2, numpy 1.19.5) rebuilt on this machine,
and a model whose requirements.txt names the wrong scikit-learn."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn import __version__ as HOST_SKLEARN
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from rebuild_env.interpreters import uv_binary
from tests.conftest import ROOT, pyenv_python, run_cli

CHANNEL_SCRIPT = ROOT / "scripts" / "build_test_channel.py"

pytestmark = [pytest.mark.slow, pytest.mark.network]

AUTHOR_SCRIPT = """
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


def _run(*args: str | Path) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def old_experiment(root: Path, author_script: str) -> Path:
    """A bundle made the old way: ``author_script`` run with Python 3.8 and scikit-learn
    0.24.2 (it writes the model and sample into the folder it is given), a pip freeze and
    the Python version. Skips the test where no 3.8 interpreter or uv is found."""
    py38 = pyenv_python("3.8")
    uv = uv_binary()
    if py38 is None or uv is None:
        pytest.skip("needs a Python 3.8 interpreter and uv")
    author = root / "author-env"
    python = author / "bin" / "python"
    _run(uv, "venv", "--quiet", "--python", py38, author)
    _run(uv, "pip", "install", "--quiet", "--python", python,
         "scikit-learn==0.24.2", "numpy==1.19.5", "--exclude-newer", "2021-05-01")  # fmt: skip
    bundle = root / "experiment"
    bundle.mkdir()
    _run(python, "-c", author_script, bundle)
    (bundle / "requirements.txt").write_text(_run(uv, "pip", "freeze", "--python", python))
    version = _run(python, "-c", "import platform; print(platform.python_version())")
    (bundle / ".python-version").write_text(version)
    return bundle


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The old experiment: a random forest on iris."""
    return old_experiment(tmp_path_factory.mktemp("old-experiment"), AUTHOR_SCRIPT)


def _assert_old_stack_identical(stdout: str) -> None:
    doc = json.loads(stdout)
    assert doc["python"]["version"].startswith("3.8.")
    assert doc["verification"]["versions"]["scikit-learn"] == "0.24.2"
    assert doc["verification"]["versions"]["numpy"] == "1.19.5"
    assert doc["status"] == "identical" and doc["verification"]["comparison"]["equal_rows"] == 150


def test_python38_sklearn024_experiment_rebuilds_identical(
    experiment: Path, tmp_path: Path
) -> None:
    result = run_cli(experiment, "--prefix", tmp_path / "env", "--out", tmp_path / "out", "--json")
    assert result.code == 0, result.stdout + result.stderr
    _assert_old_stack_identical(result.stdout)


def test_python38_experiment_rebuilds_with_conda(experiment: Path, tmp_path: Path) -> None:
    """The same old experiment through --backend conda, on a local channel holding a
    repackaged CPython 3.8 and conda packages converted from the frozen pins' wheels."""
    done = subprocess.run(
        [sys.executable, CHANNEL_SCRIPT, "--python", "3.8", "-r", experiment / "requirements.txt"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    channel = done.stdout.strip().splitlines()[-1]
    result = run_cli(
        experiment, "--backend", "conda", "-c", channel, "--prefix", tmp_path / "env",
        "--out", tmp_path / "out", "--json",
    )  # fmt: skip
    assert result.code == 0, result.stdout + result.stderr
    _assert_old_stack_identical(result.stdout)
    meta = {p.name.rsplit("-", 2)[0] for p in (tmp_path / "env" / "conda-meta").glob("*.json")}
    assert {"python", "numpy", "scikit-learn", "scipy"} <= meta


def test_wrong_scikit_learn_pin_is_caught(tmp_path: Path) -> None:
    other = "1.8.0" if HOST_SKLEARN != "1.8.0" else "1.9.0"
    bundle = tmp_path / "wrong-pin"
    bundle.mkdir()
    X, y = load_iris(return_X_y=True)
    model = DecisionTreeClassifier(random_state=0).fit(X, y)
    joblib.dump(model, bundle / "model.joblib")
    np.save(bundle / "sample_input.npy", X, allow_pickle=False)
    np.save(bundle / "sample_output.npy", model.predict(X), allow_pickle=False)
    (bundle / "requirements.txt").write_text(f"scikit-learn=={other}\nnumpy=={np.__version__}\n")
    (bundle / ".python-version").write_text(platform.python_version())

    # By default the version that wrote the model wins, and the conflict is reported.
    result = run_cli(bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out")
    assert result.code == 9, result.stdout + result.stderr
    assert "predictions identical (150/150)" in result.stdout
    assert "version conflict" in result.stdout
    assert HOST_SKLEARN in result.stdout and other in result.stdout
    # Keeping the recorded (wrong) pin: the model itself warns when it loads.
    kept = run_cli(
        bundle, "--prefix", tmp_path / "env2", "--out", tmp_path / "out2", "--prefer-recorded"
    )
    assert kept.code == 9, kept.stdout + kept.stderr
    assert "version warning" in kept.stdout and "InconsistentVersion" not in kept.stderr


def test_a_lone_model_file_rebuilds_from_what_the_scan_infers(tmp_path: Path) -> None:
    bundle = tmp_path / "only-a-model"
    bundle.mkdir()
    X, y = load_iris(return_X_y=True)
    joblib.dump(DecisionTreeClassifier(random_state=0).fit(X, y), bundle / "model.joblib")
    result = run_cli(bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out", "--json")
    assert result.code == 0, result.stdout + result.stderr
    import json

    doc = json.loads(result.stdout)
    sklearn = next(p for p in doc["packages"] if p["name"] == "scikit-learn")
    assert sklearn["version"] == HOST_SKLEARN and "_sklearn_version" in sklearn["source"]
    assert doc["status"] == "predicts" and doc["verification"]["input"] == "generated"
    assert any("records no Python version" in w for w in doc["warnings"])
