"""A real local conda channel for the conda backend's tests (no conda channel is reachable).

Built by ``scripts/build_test_channel.py`` from this machine's pyenv CPython and the PyPI
wheels of the example bundle's pins, under the per-user cache and keyed on its inputs:
the first session builds it (~10 s with a warm pip cache), later ones reuse it at once.
Import the fixture into a test module: ``from tests.integration.conda_channel import
conda_channel``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import EXAMPLE_BUNDLE, ROOT, pyenv_python

SCRIPT = ROOT / "scripts" / "build_test_channel.py"
CHANNEL_PYTHON = "3.11"
BUILD_TIMEOUT_S = 600


def example_pins() -> list[str]:
    """The example bundle's exact pins: every one of them is put on the channel."""
    manifest = yaml.safe_load((EXAMPLE_BUNDLE / "bundle.yaml").read_text())
    return [f"{p['name']}=={p['version']}" for p in manifest["packages"]]


@pytest.fixture(scope="session")
def conda_channel(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``file://`` URL of a channel with Python 3.11 and the example bundle's packages."""
    if pyenv_python(CHANNEL_PYTHON) is None:
        pytest.skip(f"no pyenv CPython {CHANNEL_PYTHON} to repackage")
    requirements = tmp_path_factory.mktemp("conda-channel") / "requirements.txt"
    requirements.write_text("".join(f"{pin}\n" for pin in example_pins()))
    done = subprocess.run(
        [sys.executable, SCRIPT, "--python", CHANNEL_PYTHON, "-r", requirements],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip().splitlines()[-1]
    assert url.startswith("file://") and Path(url.removeprefix("file://"), "linux-64").is_dir()
    return url
