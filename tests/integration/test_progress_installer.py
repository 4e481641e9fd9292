"""The progress lines say which package the installer is at, as it says it (issue 23)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_BUNDLE, run_cli


@pytest.mark.slow
@pytest.mark.network
def test_a_cold_install_says_what_it_downloads(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REBUILD_ENV_CACHE_DIR": str(tmp_path / "cache"),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),  # cold: every wheel is downloaded
    }
    done = run_cli(EXAMPLE_BUNDLE, "--backend", "venv", env=env)
    assert done.code == 0, done.stderr
    lines = done.stderr.splitlines()
    downloads = [line for line in lines if line.startswith("rebuild-env:   Downloading ")]
    assert any("numpy" in line for line in downloads), done.stderr
    build = next(i for i, line in enumerate(lines) if line.startswith("rebuild-env: build"))
    verify = next(i for i, line in enumerate(lines) if line.startswith("rebuild-env: verify"))
    assert all(build < lines.index(line) < verify for line in downloads)  # shown as they come
    quiet = run_cli(EXAMPLE_BUNDLE, "--backend", "venv", "-q", env=env)
    assert "Downloading" not in quiet.stderr
