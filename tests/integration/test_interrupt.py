"""Interruption mid-build: Ctrl-C leaves nothing behind; after SIGKILL the next run rebuilds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rebuild_env.backends.base import INCOMPLETE_MARKER, is_complete
from tests.conftest import EXAMPLE_BUNDLE, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]
MARKER_WAIT_S = 60


def _start_cold_build(tmp_path: Path, prefix: Path) -> subprocess.Popen[str]:
    # A cold uv cache makes the install take seconds: time enough to interrupt it.
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rebuild_env",
            EXAMPLE_BUNDLE,
            "--prefix",
            prefix,
            "--out",
            tmp_path / "out",
            "--quiet",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + MARKER_WAIT_S
    while not (prefix / INCOMPLETE_MARKER).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the build never started"
        time.sleep(0.05)
    time.sleep(0.3)  # well inside uv venv / uv pip install
    return proc


def _children_of(prefix: Path) -> list[str]:
    done = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True)
    return [line for line in done.stdout.splitlines() if str(prefix) in line]


def test_ctrl_c_mid_build_removes_the_partial_env(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    proc = _start_cold_build(tmp_path, prefix)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - started < 10
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not prefix.exists()
    assert _children_of(prefix) == []


def test_sigkill_mid_build_is_rebuilt_next_time_without_force(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    proc = _start_cold_build(tmp_path, prefix)
    proc.kill()
    proc.communicate(timeout=30)
    assert (prefix / INCOMPLETE_MARKER).exists()  # what a killed run leaves
    result = run_cli(EXAMPLE_BUNDLE, "--prefix", prefix, "--out", tmp_path / "out")
    assert result.code == 0, result.stdout + result.stderr
    assert is_complete(prefix)
