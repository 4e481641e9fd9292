"""save's inventory runs in the training interpreter, old ones included (no importlib.metadata
before Python 3.8): it must list the same distributions either way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rebuild_env.env_inventory import PATH


def _pyenv_pythons(pattern: str) -> list[Path]:
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return sorted(Path(root.stdout.strip()).glob(f"versions/{pattern}/bin/python"))


PYENV_37 = _pyenv_pythons("3.7*")


def _inventory(python: Path | str) -> dict[str, str]:
    done = subprocess.run(
        [str(python), "-I", str(PATH)], capture_output=True, text=True, check=True, timeout=60
    )
    doc = json.loads(done.stdout)
    return {d["name"].lower(): d["version"] for d in doc["distributions"]}


def test_this_interpreter_lists_its_distributions() -> None:
    found = _inventory(sys.executable)
    assert "packaging" in found and found["rebuild-env"]


@pytest.mark.skipif(not PYENV_37, reason="no Python 3.7 under pyenv")
def test_python_37_reads_its_metadata_folders_by_hand() -> None:
    python = PYENV_37[-1]
    found = _inventory(python)
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    expected = {d["name"].lower(): d["version"] for d in json.loads(listed.stdout)}
    assert found == expected
