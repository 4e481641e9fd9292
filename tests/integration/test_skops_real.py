"""skops / Hugging Face repos written by skops' own ``hub_utils`` (skops < 0.16, in a
throwaway env), rebuilt with the venv backend and verified on their example input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, writer_python

pytestmark = [pytest.mark.slow, pytest.mark.network]

GENERATOR = ROOT / "scripts" / "make_skops_repo.py"
# hub_utils left skops in 0.16; 0.10 writes the config.json found on the Hub.
WRITER_PACKAGES = ("skops==0.10.0", "scikit-learn==1.5.2", "pandas", "huggingface_hub")


@pytest.fixture(scope="module")
def skops_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return writer_python(tmp_path_factory, "skops-writer", WRITER_PACKAGES)


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("pickle-frame", ("--format", "pickle")),
        ("pickle-array", ("--format", "pickle", "--array")),
        ("skops", ("--format", "skops")),
    ],
)
def test_skops_repo_rebuilds_and_verifies(
    skops_python: Path, tmp_path: Path, name: str, args: tuple[str, ...]
) -> None:
    repo = tmp_path / name
    done = subprocess.run(
        [skops_python, GENERATOR, repo, *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((repo / "config.json").read_text())["sklearn"]["environment"]
    result = run_cli(repo, "--backend", "venv", "--prefix", tmp_path / "env", "--json")
    assert result.code in (0, 9), result.stdout + result.stderr
    doc = json.loads(result.stdout)
    assert doc["bundle"]["format"] == "skops"
    assert doc["verification"]["level"] != "failed", doc["verification"]
    assert doc["verification"]["input"] == "recorded"  # the example_input, converted
    assert any(p["name"] == "scikit-learn" and p["version"] == "1.5.2" for p in doc["packages"])
