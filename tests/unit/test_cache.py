"""The environment cache: list, prune (incomplete and unused), clear."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from rebuild_env import cache
from rebuild_env.backends.base import COMPLETE_MARKER, INCOMPLETE_MARKER


@pytest.fixture
def envs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REBUILD_ENV_CACHE_DIR", str(tmp_path))
    root = tmp_path / "envs"
    for name, complete, days_ago in (("fresh", True, 0), ("old", True, 40), ("half", False, 0)):
        env = root / name
        (env / "bin").mkdir(parents=True)
        (env / "bin" / "python").write_bytes(b"x" * 1000)
        if complete:
            marker = env / COMPLETE_MARKER
            marker.write_text(
                json.dumps({"bundle": f"/b/{name}", "python": "3.8.18", "backend": "venv"})
            )
            stamp = time.time() - days_ago * 86400
            os.utime(marker, (stamp, stamp))
        else:
            (env / INCOMPLETE_MARKER).write_text("")
    return root


def test_list_shows_every_env_with_size(envs: Path) -> None:
    found = {e.path.name: e for e in cache.entries()}
    assert set(found) == {"fresh", "old", "half"}
    assert found["fresh"].complete and not found["half"].complete
    assert found["old"].size >= 1000 and found["old"].python == "3.8.18"
    assert cache.entries()[0].path.name in ("fresh", "half")  # most recently used first


def test_prune_removes_incomplete_and_unused(envs: Path) -> None:
    removed = {e.path.name for e in cache.prune(older_than_days=30).removed}
    assert removed == {"old", "half"}
    assert [p.name for p in envs.iterdir()] == ["fresh"]


def test_prune_without_age_keeps_complete_envs(envs: Path) -> None:
    assert {e.path.name for e in cache.prune(None).removed} == {"half"}


def test_clear_removes_everything(envs: Path) -> None:
    assert len(cache.clear().removed) == 3
    assert list(envs.iterdir()) == []
