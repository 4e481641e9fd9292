"""Simultaneous rebuilds: of one plan, one builds and the other waits and reuses; of
different plans, both build at the same time."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rebuild_env.backends.base import INCOMPLETE_MARKER
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


def test_different_plans_at_once_build_in_parallel(tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(EXAMPLE_BUNDLE, other)
    manifest = yaml.safe_load((other / "bundle.yaml").read_text())
    for package in manifest["packages"]:
        if package["name"] == "threadpoolctl":
            package["version"] = "3.6.0"  # another closure: another cache key
    (other / "bundle.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    cache = tmp_path / "cache"
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(cache)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "rebuild_env", bundle, "--out", tmp_path / f"o{i}", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, bundle in enumerate((EXAMPLE_BUNDLE, other))
    ]
    # Both environments half-built at the same moment: neither run waited for the other.
    both_building = False
    while not both_building and any(p.poll() is None for p in procs):
        building = list((cache / "envs").glob(f"*/{INCOMPLETE_MARKER}"))
        both_building = len(building) == 2
        time.sleep(0.01)
    docs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        docs.append(json.loads(out))
    assert both_building, "the two builds never ran at the same time"
    assert [d["reused_env"] for d in docs] == [False, False]
    assert docs[0]["prefix"] != docs[1]["prefix"]
    assert all(d["status"] == "identical" for d in docs)
    assert docs[1]["verification"]["versions"]["threadpoolctl"] == "3.6.0"
