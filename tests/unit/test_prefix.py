"""The prefix protocol: all-or-nothing builds, no clobbering without --force."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebuild_env.backends.base import INCOMPLETE_MARKER, building, is_complete
from rebuild_env.errors import ExitCode, PrefixExists


def test_success_marks_complete(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    with building(prefix, force=False, record={"plan_key": "k"}) as target:
        assert (target / INCOMPLETE_MARKER).exists()
        (target / "bin").mkdir()
    assert is_complete(prefix) and not (prefix / INCOMPLETE_MARKER).exists()


def test_failure_removes_the_partial_prefix(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    with pytest.raises(RuntimeError), building(prefix, force=False, record={}) as target:
        (target / "half").write_text("x")
        raise RuntimeError("installer died")
    assert not prefix.exists()


def test_ctrl_c_removes_the_partial_prefix(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    with pytest.raises(KeyboardInterrupt), building(prefix, force=False, record={}):
        raise KeyboardInterrupt
    assert not prefix.exists()


def test_existing_directory_is_never_touched_without_force(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    prefix.mkdir()
    (prefix / "precious.txt").write_text("mine")
    with pytest.raises(PrefixExists) as info, building(prefix, force=False, record={}):
        pass
    assert info.value.exit_code == ExitCode.BAD_INPUT and "--force" in info.value.one_line()
    assert (prefix / "precious.txt").read_text() == "mine"


def test_force_keeps_the_old_env_until_the_new_one_is_complete(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    with building(prefix, force=False, record={"v": 1}):
        (prefix / "old").write_text("old")
    with pytest.raises(RuntimeError), building(prefix, force=True, record={"v": 2}):
        raise RuntimeError("new build failed")
    assert (prefix / "old").read_text() == "old" and is_complete(prefix)
    with building(prefix, force=True, record={"v": 2}):
        (prefix / "new").write_text("new")
    assert not (prefix / "old").exists() and (prefix / "new").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["env"]


def test_a_killed_build_is_rebuilt_without_force(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    prefix.mkdir()
    (prefix / INCOMPLETE_MARKER).write_text("")  # what a SIGKILL leaves behind
    (prefix / "junk").write_text("")
    with building(prefix, force=False, record={}):
        pass
    assert is_complete(prefix) and not (prefix / "junk").exists()
