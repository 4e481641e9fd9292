"""``cache clear`` / ``prune`` while a rebuild is verifying in the environment.

Before, they deleted it under the running probe, which then reported "the model failed
to load" (exit 5), a false verdict. Now the rebuild holds the entry's use lock (shared)
from building through its verdict, and clear/prune skip what they cannot lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_BUNDLE, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

STAGE_LINE = "rebuild-env: verify"
MIN_REAL_SIZE = 50 * 1024 * 1024  # a scikit-learn env is hundreds of MB
RUN_TIMEOUT_S = 600


def test_clear_skips_the_env_a_rebuild_is_verifying(tmp_path: Path) -> None:
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    first = run_cli(EXAMPLE_BUNDLE, "--out", out, "--json", env=env)
    assert first.code == 0, first.stderr
    prefix = Path(json.loads(first.stdout)["prefix"])

    proc = subprocess.Popen(
        [sys.executable, "-m", "rebuild_env", EXAMPLE_BUNDLE, "--out", out, "--reverify"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:  # the real event: the rebuild says it is verifying
        if line.strip().startswith(STAGE_LINE):  # then the elapsed time
            break
    os.kill(proc.pid, signal.SIGSTOP)  # keep it mid-verification while clear runs
    try:
        cleared = run_cli("cache", "clear", "--yes", env=env)
        pruned = run_cli("cache", "prune", "--older-than", "0", env=env)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    stdout, _ = proc.communicate(timeout=RUN_TIMEOUT_S)

    assert cleared.code == 0 and f"skipped {prefix.name}: in use" in cleared.stdout
    assert pruned.code == 0 and f"skipped {prefix.name}: in use" in pruned.stdout
    assert proc.returncode == 0, stdout
    assert "predictions identical" in stdout and prefix.is_dir()

    dry = run_cli("cache", "prune", "--older-than", "0", "--dry-run", "--json", env=env)
    (listed,) = json.loads(dry.stdout)["environments"]
    assert listed["size"] > MIN_REAL_SIZE and prefix.is_dir()
    removed = run_cli("cache", "clear", "--yes", "--json", env=env)
    assert [e["path"] for e in json.loads(removed.stdout)["environments"]] == [str(prefix)]
    assert not prefix.exists()
