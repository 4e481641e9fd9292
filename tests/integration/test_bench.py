"""scripts/bench runs in a quick mode so it cannot rot (its full run is manual)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.network]


def test_bench_quick_mode_measures_every_method() -> None:
    done = subprocess.run(
        [sys.executable, ROOT / "scripts" / "bench", "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for method in ("| pip |", "| uv |", "| rebuild-env |", "| cache hit |", "| floor |"):
        assert method in done.stdout
    assert "rebuild-env / raw uv path:" in done.stdout
    assert "verification floor:" in done.stdout and "| cache hit --reverify |" in done.stdout
