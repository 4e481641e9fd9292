"""Each stderr line of a command reaches the line hooks as the command writes it (the
progress line shows what the installer is doing), and timeouts still stop it."""

from __future__ import annotations

import sys
import time

import pytest

from rebuild_env import _subprocess

SLOW_LINES = (
    "import sys, time\n"
    "for i in range(3):\n"
    "    print('line', i, file=sys.stderr, flush=True); time.sleep(0.3)\n"
    "print('done')\n"
)


def test_lines_arrive_while_the_command_runs() -> None:
    seen: list[tuple[str, str, float]] = []
    remove = _subprocess.on_line(lambda what, line: seen.append((what, line, time.monotonic())))
    try:
        done = _subprocess.run([sys.executable, "-c", SLOW_LINES], what="installer")
    finally:
        remove()
    ended = time.monotonic()
    assert [line for _, line, _ in seen] == ["line 0", "line 1", "line 2"]
    assert {what for what, _, _ in seen} == {"installer"}
    assert ended - seen[0][2] > 0.5  # the first line came long before the end
    assert done.stdout == "done\n" and "line 2" in done.stderr


def test_a_streamed_command_still_times_out_with_its_output() -> None:
    remove = _subprocess.on_line(lambda what, line: None)
    started = time.monotonic()
    try:
        with pytest.raises(_subprocess.CommandTimeout) as raised:
            _subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import sys,time; print('waiting', file=sys.stderr, "
                    "flush=True); time.sleep(60)",
                ],
                timeout=1,
                what="installer",
            )
    finally:
        remove()
    assert time.monotonic() - started < 15
    assert "waiting" in raised.value.output
