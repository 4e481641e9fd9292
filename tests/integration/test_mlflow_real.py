"""Real MLflow model directories, written by the real ``mlflow`` package in a throwaway env,
rebuilt with the venv backend and verified on their input example."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

GENERATOR = ROOT / "scripts" / "make_mlflow_bundle.py"
WRITER_PACKAGES = ("mlflow-skinny", "scikit-learn", "skops", "pandas")
INSTALL_TIMEOUT_S = 600


def _scanner_present() -> bool:
    from rebuild_env import pickle_scan

    return hasattr(pickle_scan, "scan_file")


@pytest.fixture(scope="module")
def mlflow_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway venv with the real MLflow (skinny) and scikit-learn."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    env = tmp_path_factory.mktemp("mlflow-writer") / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, env], check=True)
    python = env / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", python, *WRITER_PACKAGES],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    return python


def _save(python: Path, out: Path, *args: str) -> Path:
    done = subprocess.run(
        [python, GENERATOR, out, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert (out / "MLmodel").is_file()
    return out


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("pickle", ("--serialization", "pickle")),
        ("cloudpickle", ("--serialization", "cloudpickle")),
        ("cloudpickle-frame", ("--serialization", "cloudpickle", "--frame")),
        ("skops", ("--serialization", "skops")),
    ],
)
def test_sklearn_flavor_rebuilds_and_verifies(
    mlflow_python: Path, tmp_path: Path, name: str, args: tuple[str, ...]
) -> None:
    if "skops" not in args and not _scanner_present():
        pytest.skip("the pickle scanner (rebuild_env.pickle_scan) is not in this checkout")
    bundle = _save(mlflow_python, tmp_path / name, *args)
    result = run_cli(
        bundle,
        "--backend",
        "venv",
        "--prefix",
        tmp_path / "env",
        "--out",
        tmp_path / "out",
        "--json",
    )
    assert result.code in (0, 9), result.stdout + result.stderr
    doc = json.loads(result.stdout)
    verification = doc["verification"]
    assert verification["level"] != "failed", verification
    assert verification["input"] == "recorded"  # MLflow's input example, converted
    assert not any(p["name"] == "mlflow" for p in doc["packages"])
    assert any("not installing mlflow" in w for w in doc["warnings"])
    requirements = (tmp_path / "out" / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements


def test_pyfunc_model_is_refused_with_what_it_needs(mlflow_python: Path, tmp_path: Path) -> None:
    bundle = _save(mlflow_python, tmp_path / "pyfunc", "--pyfunc")
    result = run_cli(bundle, "--backend", "venv", "--prefix", tmp_path / "env")
    assert result.code == 2
    assert "only MLflow's own code can load it" in result.stderr
    assert "mlflow==" in result.stderr
    assert not (tmp_path / "env").exists()
