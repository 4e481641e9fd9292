"""SIGKILL while ``--force`` replaces the user's own ``--prefix``.

``--force`` moves the old env (with the user's files in it) aside to a hidden
``.NAME.rebuild-env-old-PID`` while it builds. Killed at the build's marker, the next run
used to build anew and never restore or mention it. Now the next run puts it back and
says so; after a completed replacement, what was moved aside is reclaimed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rebuild_env.backends.base import INCOMPLETE_MARKER
from rebuild_env.errors import ExitCode
from tests.conftest import EXAMPLE_BUNDLE, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

MARKER_WAIT_S = 300.0
POLL_S = 0.01


def _kill_at_the_marker(prefix: Path, *args: str | Path) -> None:
    """Start the CLI and SIGKILL it as soon as it has marked ``prefix`` as being built."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rebuild_env", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + MARKER_WAIT_S
    while not (prefix / INCOMPLETE_MARKER).exists():
        assert proc.poll() is None, "the run ended before it marked the prefix"
        assert time.monotonic() < deadline, "the prefix was never marked"
        time.sleep(POLL_S)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _leftovers(prefix: Path) -> list[str]:
    return sorted(p.name for p in prefix.parent.glob(f".{prefix.name}.rebuild-env-*"))


def test_the_old_env_is_restored_after_a_killed_force(tmp_path: Path) -> None:
    prefix = tmp_path / "myenv"
    out = tmp_path / "out"
    assert run_cli(EXAMPLE_BUNDLE, "--prefix", prefix, "--out", out, "-q").code == 0
    (prefix / "my-notes.txt").write_text("the user's own file")

    _kill_at_the_marker(prefix, EXAMPLE_BUNDLE, "--prefix", prefix, "--out", out, "--force")
    assert len(_leftovers(prefix)) == 1  # the old env, moved aside

    again = run_cli(EXAMPLE_BUNDLE, "--prefix", prefix, "--out", out, "-q")
    assert again.code == ExitCode.BAD_INPUT  # it is there again: replacing it needs --force
    assert "restored" in again.stderr and ".rebuild-env-old-" in again.stderr
    assert (prefix / "my-notes.txt").read_text() == "the user's own file"
    assert not (prefix / INCOMPLETE_MARKER).exists() and _leftovers(prefix) == []

    forced = run_cli(EXAMPLE_BUNDLE, "--prefix", prefix, "--out", out, "--force", "-q")
    assert forced.code == 0, forced.stderr
    assert _leftovers(prefix) == [] and not (prefix / "my-notes.txt").exists()


def test_a_half_deleted_copy_is_reclaimed(tmp_path: Path) -> None:
    prefix = tmp_path / "myenv"
    out = tmp_path / "out"
    assert run_cli(EXAMPLE_BUNDLE, "--prefix", prefix, "--out", out, "-q").code == 0
    # What a cleanup killed halfway leaves: a trash copy, part of it gone.
    trash = tmp_path / ".myenv.rebuild-env-trash-99999"
    (trash / "lib").mkdir(parents=True)
    (trash / "lib" / "half.py").write_text("")

    forced = run_cli(EXAMPLE_BUNDLE, "--prefix", prefix, "--out", out, "--force", "-q")

    assert forced.code == 0, forced.stderr
    assert _leftovers(prefix) == []
