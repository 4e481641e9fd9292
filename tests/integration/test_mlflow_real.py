"""Real MLflow model directories, written by the real ``mlflow`` package in a throwaway env,
rebuilt with the venv backend and verified on their input example."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, writer_python

pytestmark = [pytest.mark.slow, pytest.mark.network]

GENERATOR = ROOT / "scripts" / "make_mlflow_bundle.py"
WRITER_PACKAGES = ("mlflow-skinny", "scikit-learn", "skops", "pandas")


@pytest.fixture(scope="module")
def mlflow_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway venv with the real MLflow (skinny) and scikit-learn."""
    return writer_python(tmp_path_factory, "mlflow-writer", WRITER_PACKAGES)


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
