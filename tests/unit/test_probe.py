"""The probe, run as it is in production: a subprocess of a real interpreter, python -I."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer

from rebuild_env.verify.runner import PROBE, run_probe
from tests.conftest import pyenv_python


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("probe")
    X = np.random.RandomState(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    joblib.dump(model, d / "model.joblib")
    np.save(d / "in.npy", X, allow_pickle=False)
    np.save(d / "out.npy", model.predict(X), allow_pickle=False)
    wrong = model.predict(X).copy()
    wrong[:3] = 1 - wrong[:3]
    np.save(d / "wrong.npy", wrong, allow_pickle=False)
    np.save(d / "proba.npy", model.predict_proba(X) + 1e-12, allow_pickle=False)
    return {p.stem: p for p in d.iterdir()}


def _request(files: dict[str, Path], **overrides: object) -> dict[str, object]:
    request: dict[str, object] = {
        "model": str(files["model"]),
        "loader": "joblib",
        "method": "predict",
        "input": str(files["in"]),
        "expected": str(files["out"]),
        "allowed_globals": None,
        "tolerance": None,
    }
    request.update(overrides)
    return request


def test_identical(model_files: dict[str, Path]) -> None:
    result = run_probe(Path(sys.executable), _request(model_files))
    assert result.level == "identical", result.error
    assert result.comparison is not None and result.comparison["equal_rows"] == 40
    assert result.versions.get("scikit-learn") and result.versions.get("numpy")
    assert result.input == "recorded"


def test_differs_counts_rows(model_files: dict[str, Path]) -> None:
    result = run_probe(
        Path(sys.executable), _request(model_files, expected=str(model_files["wrong"]))
    )
    assert result.level == "differs"
    assert result.comparison is not None and result.comparison["equal_rows"] == 37


def test_tolerance_only_when_asked(model_files: dict[str, Path]) -> None:
    exact = run_probe(
        Path(sys.executable),
        _request(model_files, method="predict_proba", expected=str(model_files["proba"])),
    )
    assert exact.level == "differs" and exact.comparison is not None
    assert 0 < exact.comparison["max_abs_diff"] < 1e-9
    tolerant = run_probe(
        Path(sys.executable),
        _request(
            model_files,
            method="predict_proba",
            expected=str(model_files["proba"]),
            tolerance={"rtol": 0.0, "atol": 1e-9},
        ),
    )
    assert tolerant.level == "within-tolerance"


def test_generated_input_when_no_sample(model_files: dict[str, Path]) -> None:
    result = run_probe(Path(sys.executable), _request(model_files, input=None, expected=None))
    assert result.level == "predicts" and result.input == "generated"


def test_restricted_unpickler_refuses_unlisted_globals(model_files: dict[str, Path]) -> None:
    result = run_probe(
        Path(sys.executable), _request(model_files, allowed_globals=[["numpy", "dtype"]])
    )
    assert result.level == "failed"
    assert result.error is not None and result.error.refused and result.error.stage == "load"


def test_hung_model_is_killed_after_the_timeout(tmp_path: Path) -> None:
    joblib.dump(FunctionTransformer(func=time.sleep), tmp_path / "model.joblib")
    np.save(tmp_path / "in.npy", np.array(3600), allow_pickle=False)  # int: sleep takes it
    started = time.perf_counter()
    result = run_probe(
        Path(sys.executable),
        {
            "model": str(tmp_path / "model.joblib"),
            "loader": "joblib",
            "method": "transform",
            "input": str(tmp_path / "in.npy"),
        },
        timeout=5,
    )
    assert time.perf_counter() - started < 20
    assert result.timed_out and result.level == "failed"


def test_model_that_prints_does_not_break_the_exchange(tmp_path: Path) -> None:
    joblib.dump(FunctionTransformer(func=print), tmp_path / "model.joblib")
    np.save(tmp_path / "in.npy", np.array([1.0, 2.0]), allow_pickle=False)
    result = run_probe(
        Path(sys.executable),
        {
            "model": str(tmp_path / "model.joblib"),
            "method": "transform",
            "input": str(tmp_path / "in.npy"),
        },
    )
    # print returns None: the probe predicted, and its JSON survived the model's output.
    assert result.level == "predicts", result.error


@pytest.mark.parametrize("minor", ["3.6", "2.7"])
def test_probe_is_valid_syntax_on_old_pythons(minor: str) -> None:
    python = pyenv_python(minor)
    if python is None:
        pytest.skip(f"no Python {minor} on this machine")
    done = subprocess.run(
        [python, "-c", f"compile(open({str(PROBE)!r}).read(), 'probe.py', 'exec')"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
