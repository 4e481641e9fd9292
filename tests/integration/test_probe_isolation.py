"""The user's shell cannot leak packages into the verification: the probe runs with ``-I``
in an environment without ``PYTHONPATH``/``PYTHONHOME``/``PIP_*``/``VIRTUAL_ENV``/``CONDA_*``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rebuild_env.verify.runner import run_probe
from tests.conftest import EXAMPLE_BUNDLE

FAKE_VERSION = "0.20.0"
SHELL_NOISE = {
    "PIP_REQUIRE_VIRTUALENV": "1",
    "PIP_TARGET": "/nonexistent/pip-target",
    "VIRTUAL_ENV": "/nonexistent/venv",
    "CONDA_PREFIX": "/nonexistent/conda",
    "CONDA_DEFAULT_ENV": "base",
    "PYTHONSTARTUP": "/nonexistent/startup.py",
    "PYTHONNOUSERSITE": "",
}


@pytest.fixture
def fake_sklearn(tmp_path: Path) -> Path:
    """A folder holding another scikit-learn: older metadata, a module that refuses to load."""
    root = tmp_path / "shadow"
    info = root / f"scikit_learn-{FAKE_VERSION}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: scikit-learn\nVersion: {FAKE_VERSION}\n"
    )
    (info / "top_level.txt").write_text("sklearn\n")
    (root / "sklearn").mkdir()
    (root / "sklearn" / "__init__.py").write_text(
        "raise ImportError('the scikit-learn on PYTHONPATH was imported')\n"
    )
    return root


@pytest.mark.slow
@pytest.mark.network
def test_pythonpath_with_another_sklearn_does_not_change_the_verification(
    tmp_path: Path, fake_sklearn: Path
) -> None:
    env = {**os.environ, **SHELL_NOISE, "PYTHONPATH": str(fake_sklearn)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rebuild_env",
            EXAMPLE_BUNDLE,
            "--json",
            "--prefix",
            tmp_path / "env",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "identical"
    assert report["verification"]["versions"]["scikit-learn"] == "1.9.1"


def test_probe_ignores_the_callers_python_variables(
    fake_sklearn: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # PYTHONHOME pointing elsewhere would stop the interpreter from starting at all
    monkeypatch.setenv("PYTHONHOME", str(tmp_path / "no-such-home"))
    monkeypatch.setenv("PYTHONPATH", str(fake_sklearn))
    for name, value in SHELL_NOISE.items():
        monkeypatch.setenv(name, value)
    result = run_probe(
        Path(sys.executable),
        {
            "model": str(EXAMPLE_BUNDLE / "model.joblib"),
            "loader": "joblib",
            "method": "predict",
            "input": str(EXAMPLE_BUNDLE / "sample_input.npy"),
            "expected": str(EXAMPLE_BUNDLE / "sample_output.npy"),
        },
    )
    assert result.level == "identical", result.error
    assert result.versions["scikit-learn"] != FAKE_VERSION
