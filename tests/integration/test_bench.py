"""scripts/bench runs in a quick mode so it cannot rot (its full run is manual)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.network]


def test_bench_quick_mode_measures_every_section() -> None:
    done = subprocess.run(
        [sys.executable, ROOT / "scripts" / "bench", "--quick"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    out = done.stdout
    markdown = out.split("----- markdown for BENCHMARKS.md -----")[1]
    assert "cores" in markdown and "GB RAM" in markdown and "uv " in markdown
    # venv: every method but the seed pip way, which --quick leaves out for time
    for method in ("| uv |", "| rebuild-env |", "| cache hit |", "| cache hit --reverify |"):
        assert method in markdown
    assert "| floor |" in markdown and "pip way skipped in --quick" in out
    assert "rebuild-env / raw uv path:" in markdown and "verification floor:" in markdown
    # conda: measured on the local test channel, or skipped with the reason said
    assert "| conda --no-cache |" in markdown or "Skipped: conda rows" in markdown
    # compare: both envs cached, against one cache hit with the probe re-run
    assert "| compare scikit-learn==1.8.0 |" in markdown
    assert "compare / one cached rebuild + verify:" in markdown
    # inspect: the scanner against joblib.load, in one process and as processes
    assert "| scan_file (in-process) |" in markdown and "| joblib.load (in-process) |" in markdown
    assert "as processes:" in markdown
    # batch verify with one and two jobs
    assert "| --jobs 1, probes re-run |" in markdown and "| --jobs 2, probes re-run |" in markdown


def test_bench_refuses_an_unknown_section() -> None:
    done = subprocess.run(
        [sys.executable, ROOT / "scripts" / "bench", "--only", "venv,warp"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "unknown section: warp" in done.stderr
