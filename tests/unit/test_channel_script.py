"""scripts/build_test_channel.py redoes only channels that are its own."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_test_channel.py"


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_test_channel", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look it up
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "cache_root", lambda: tmp_path / "cache")
    return module


def test_a_users_folder_is_never_ours(script: ModuleType, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    (folder / "linux-64").mkdir(parents=True)  # looks like a channel, but not in our cache
    assert not script.is_ours(folder)
    (tmp_path / "cache" / "x" / "notes.txt").parent.mkdir(parents=True)
    (tmp_path / "cache" / "x" / "notes.txt").write_text("not a channel")
    assert not script.is_ours(tmp_path / "cache" / "x")


def test_marked_builds_and_a_bare_layout_in_our_cache_are_ours(
    script: ModuleType, tmp_path: Path
) -> None:
    bare = tmp_path / "cache" / "a7850689"
    (bare / "linux-64").mkdir(parents=True)
    (bare / "noarch").mkdir()
    assert script.is_ours(bare)  # killed before builds were marked
    failed = tmp_path / "elsewhere"
    (failed / "linux-64").mkdir(parents=True)
    (failed / script.BUILDING).write_text("building")
    assert script.is_ours(failed)
