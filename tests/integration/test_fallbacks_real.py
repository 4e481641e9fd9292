"""Issue 21's fallbacks on real old packages from the index (slow, network).

Each model is trained here, in an env of the old release (uv venv + uv pip install), then
saved as a user would (model file + the requirements they had) and rebuilt by rebuild-env
in a subprocess. The models are our own, so ``--trust`` keeps the scanner's allow-list
(another issue) out of what these tests prove.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version
from uv import find_uv_bin

pytestmark = [pytest.mark.slow, pytest.mark.network]
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 1200


def _pyenv_python(minor: str) -> Path:
    try:
        root = subprocess.run(
            ["pyenv", "root"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("pyenv is not available")
    found = sorted(Path(root, "versions").glob(f"{minor}.*/bin/python"))
    if not found:
        pytest.skip(f"no Python {minor} under pyenv")
    return found[-1]


def _train(tmp: Path, minor: str, pins: list[str], code: str, cutoff: str) -> None:
    """Run ``code`` (it writes model.joblib in its cwd) in a fresh env of ``pins``."""
    env = tmp / "train-env"
    uv = find_uv_bin()
    subprocess.run([uv, "venv", "-q", "--python", _pyenv_python(minor), env], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--python",
            env / "bin" / "python",
            "--exclude-newer",
            cutoff,
            *pins,
        ],
        check=True,
    )
    subprocess.run([env / "bin" / "python", "-c", code], cwd=tmp / "bundle", check=True)


def _rebuild(*args: str | Path) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "rebuild_env", *map(str, args), "--json", "--trust"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


OLD_STACK = [
    "scikit-learn==0.23.2",
    "numpy==1.19.1",
    "scipy==1.5.2",
    "joblib==0.16.0",
    "threadpoolctl==2.1.0",
]
TRAIN_LOGREG = (
    "import joblib, numpy as np; from sklearn.linear_model import LogisticRegression;"
    "X = np.random.RandomState(0).normal(size=(40, 4));"
    "joblib.dump(LogisticRegression().fit(X, X[:, 0] > 0), 'model.joblib')"
)


def test_classes_1_2_3_an_old_bundle_recorded_on_a_later_python(tmp_path: Path) -> None:
    """sklearn 0.23.2 recorded with Python 3.9 (no wheels), an unneeded VCS line, an
    sdist-only pure-Python pin: rebuilt on 3.8, the VCS line pruned, the sdist built, and
    setuptools (pkg_resources) seeded as of the record's date."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    _train(tmp_path, "3.8", OLD_STACK, TRAIN_LOGREG, "2020-08-10")
    (bundle / "requirements.txt").write_text(
        "\n".join(
            [
                *OLD_STACK,
                "termcolor==1.1.0",  # only an sdist on the index
                "-e git+https://example.invalid/nobody/nothing.git@v1#egg=nothing_here",
            ]
        )
        + "\n"
    )
    (bundle / "runtime.txt").write_text("python-3.9\n")
    prefix = tmp_path / "env"
    code, doc = _rebuild(bundle, "--prefix", prefix, "--out", tmp_path / "out")
    assert code == 0, doc
    assert doc["python"]["version"].startswith("3.8."), doc["python"]
    warnings = "\n".join(doc["warnings"])
    assert "Python 3.9 (runtime.txt) has no wheels for scikit-learn==0.23.2" in warnings
    assert "dropped nothing-here @ git+https://example.invalid" in warnings
    assert "setuptools" in warnings and "seeded (resolved as of" in warnings
    requirements = (tmp_path / "out" / "requirements.txt").read_text()
    assert "termcolor==1.1.0" in requirements
    subprocess.run([prefix / "bin" / "python", "-c", "import pkg_resources"], check=True)


def test_class_4_legacy_metadata_is_restated_to_uv(tmp_path: Path) -> None:
    """pandas 0.23.4 declares ``pytz (>=2011k)``: planned through uv dependency-metadata."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    _train(
        tmp_path,
        "3.7",
        ["scikit-learn==0.20.4", "numpy==1.15.4", "scipy==1.1.0", "joblib==0.13.2"],
        TRAIN_LOGREG,
        "2019-08-01",
    )
    (bundle / "requirements.txt").write_text("scikit-learn==0.20.4\npandas==0.23.4\n")
    (bundle / "runtime.txt").write_text("python-3.7\n")
    code, doc = _rebuild(bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out", "--force")
    assert code == 0, doc
    assert any("pytz (>=2011k)" in w for w in doc["warnings"])
    assert "pandas" in (tmp_path / "out" / "uv.toml").read_text()
    assert "see the requirements file" not in json.dumps(doc)


def test_class_6_dict_inputs_and_collections_predict(tmp_path: Path) -> None:
    """A DictVectorizer pipeline and a dict of estimators, no sample: both predict."""
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    stack = ["scikit-learn==1.3.2", "numpy==1.26.2", "scipy==1.11.4", "joblib==1.3.2"]
    code = (
        "import joblib, numpy as np\n"
        "from sklearn.feature_extraction import DictVectorizer\n"
        "from sklearn.linear_model import LogisticRegression, LinearRegression\n"
        "from sklearn.pipeline import make_pipeline\n"
        "rows = [{'city': 'a', 't': 1.0}, {'city': 'b', 't': 2.0}, {'city': 'c', 't': 0.5}]\n"
        "joblib.dump(make_pipeline(DictVectorizer(), LogisticRegression()).fit(rows, [0, 1, 0]),"
        " 'model.joblib')\n"
        "X = np.random.RandomState(0).normal(size=(20, 3))\n"
        "joblib.dump({'a': LinearRegression().fit(X, X[:, 0])}, 'members.pk')\n"
    )
    _train(tmp_path, "3.11", stack, code, "2023-12-01")
    (bundle / "requirements.txt").write_text("\n".join(stack) + "\n")
    (bundle / "runtime.txt").write_text("python-3.11\n")
    for model in ("model.joblib", "members.pk"):
        exit_code, doc = _rebuild(bundle, "--model", model, "--out", tmp_path / "out")
        assert exit_code == 0, doc
        assert doc["status"] == "predicts", doc


def test_matrix_sample_three_versions_two_formats(tmp_path: Path) -> None:
    """The CI sample of scripts/matrix, on the allow-list generator's cached cells."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cells = sorted(
        (cache / "rebuild-env" / "allowlist-matrix" / "scikit-learn").glob("*/cell.json")
    )
    done = [json.loads(c.read_text()) for c in cells]
    # one per release: the dependency variants of the newest (numpy/scipy/pandas) are not
    # releases of their own
    versions = sorted(
        {str(c["version"]) for c in done if c.get("status") == "done" and not c.get("variant")},
        key=Version,
    )
    if len(versions) < 3:
        pytest.skip("the allow-list matrix cache has fewer than 3 finished cells")
    sample = [versions[0], versions[len(versions) // 2], versions[-1]]
    out = tmp_path / "MATRIX.md"
    rows = tmp_path / "rows.json"
    subprocess.run(
        [
            sys.executable,
            ROOT / "scripts" / "matrix",
            "--versions",
            ",".join(sample),
            "--formats",
            "bare,save",
            "--models",
            "est_LogisticRegression",
            "--out",
            out,
            "--json",
            rows,
        ],
        check=True,
        timeout=TIMEOUT_S * 2,
    )
    found = json.loads(rows.read_text())
    assert {(r["version"], r["format"]) for r in found} == {
        (v, f) for v in sample for f in ("bare", "save")
    }
    assert "**Totals: 6 bundles" in out.read_text()
    assert all(r["outcome"] in ("identical", "predicts", "loads-only", "failed") for r in found)


BROKEN_SETUP = """import sys
from setuptools import setup
if "bdist_wheel" in sys.argv:
    raise SystemExit("error: this package needs a C compiler that is not here")
setup(name="brokenpkg", version="0.1", py_modules=[])
"""


def test_class_3_a_pin_whose_wheel_does_not_build_is_pruned(tmp_path: Path) -> None:
    """An unneeded sdist whose metadata resolves but whose wheel fails to build only fails
    at install time: it is pruned there too, with the installer's reason."""
    import tarfile

    source = tmp_path / "brokenpkg-0.1"
    source.mkdir()
    (source / "setup.py").write_text(BROKEN_SETUP)
    (source / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: brokenpkg\nVersion: 0.1\n")
    sdist = tmp_path / "brokenpkg-0.1.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        archive.add(source, arcname=source.name)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    stack = ["scikit-learn==1.3.2", "numpy==1.26.2", "scipy==1.11.4", "joblib==1.3.2"]
    _train(tmp_path, "3.11", stack, TRAIN_LOGREG, "2023-12-01")
    (bundle / "requirements.txt").write_text(
        "\n".join([*stack, f"brokenpkg @ {sdist.as_uri()}"]) + "\n"
    )
    (bundle / "runtime.txt").write_text("python-3.11\n")
    code, doc = _rebuild(bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out")
    assert code == 0, doc
    assert any(
        "dropped brokenpkg" in w and "needs a C compiler that is not here" in w
        for w in doc["warnings"]
    ), doc["warnings"]
