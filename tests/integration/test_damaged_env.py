"""A cached env damaged after it was verified is never vouched for with the stored verdict.

The faults are injected as they happen on a user's machine: a file really deleted from the
env's scikit-learn, another numpy really installed into it with uv.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from uv import find_uv_bin

from tests.conftest import EXAMPLE_BUNDLE, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

INSTALL_TIMEOUT_S = 600
REUSED = "reused; --reverify"


def _cache_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "REBUILD_ENV_CACHE_DIR": str(tmp_path / "cache")}


def _verified_env(tmp_path: Path, env: dict[str, str]) -> Path:
    """Build and verify the example bundle in a fresh cache; check a cache hit reuses it."""
    out = tmp_path / "out"
    first = run_cli(EXAMPLE_BUNDLE, "--out", out, "--json", env=env)
    assert first.code == 0, first.stderr
    prefix = Path(json.loads(first.stdout)["prefix"])
    again = run_cli(EXAMPLE_BUNDLE, "--out", out, env=env)
    assert again.code == 0 and REUSED in again.stdout, again.stdout
    return prefix


def test_a_file_deleted_from_the_cached_env_is_noticed(tmp_path: Path) -> None:
    env = _cache_env(tmp_path)
    prefix = _verified_env(tmp_path, env)
    (module,) = prefix.glob("lib/python*/site-packages/sklearn/linear_model/_logistic.py")
    module.unlink()

    damaged = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", env=env)

    assert damaged.code == 5, damaged.stdout + damaged.stderr  # the probe ran, and failed
    assert REUSED not in damaged.stdout
    assert "the environment changed since it was verified at" in damaged.stdout
    assert "scikit-learn (files changed)" in damaged.stdout
    assert "pass --force to rebuild it" in damaged.stdout
    forced = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--force", env=env)
    assert forced.code == 0 and "predictions identical" in forced.stdout, forced.stderr
    assert module.is_file()


def test_another_numpy_installed_into_the_cached_env_is_named(tmp_path: Path) -> None:
    env = _cache_env(tmp_path)
    prefix = _verified_env(tmp_path, env)
    subprocess.run(
        [find_uv_bin(), "pip", "install", "-q", "--python", prefix / "bin" / "python", "numpy<2.4"],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )

    changed = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--json", env=env)

    doc = json.loads(changed.stdout)
    assert doc["verification"]["reused_from"] is None
    (warning,) = [w for w in doc["warnings"] if "the environment changed" in w]
    assert "numpy 2.4.6 -> 2.3." in warning and "pass --force" in warning
    assert doc["verification"]["versions"]["numpy"].startswith("2.3.")  # probed what is there
    assert "numpy" in doc["verification"]["drift"]
