"""Two simultaneous rebuilds of one bundle: one builds, the other waits and reuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_BUNDLE

pytestmark = [pytest.mark.slow, pytest.mark.network]


def test_same_plan_at_once_builds_once(tmp_path: Path) -> None:
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(tmp_path / "cache")}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rebuild_env",
                EXAMPLE_BUNDLE,
                "--out",
                tmp_path / f"o{i}",
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    docs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        docs.append(json.loads(out))
    assert sorted(d["reused_env"] for d in docs) == [False, True]
    assert docs[0]["prefix"] == docs[1]["prefix"]
    assert all(d["status"] == "identical" for d in docs)
    assert len(list((tmp_path / "cache" / "envs").iterdir())) == 1
