"""Writing to a stdout whose reader is gone (``rebuild-env cache list | true``).

The reader end of the pipe is closed before rebuild-env writes, as when ``true`` or
``head -1`` exits first: no ``BrokenPipeError`` traceback, exit 141 (128 + SIGPIPE).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rebuild_env.errors import ExitCode
from tests.conftest import EXAMPLE_BUNDLE


@pytest.mark.parametrize(
    "args",
    [("cache", "list"), ("inspect", "--json", str(EXAMPLE_BUNDLE))],
    ids=["cache", "inspect"],
)
def test_a_closed_stdout_ends_quietly(args: tuple[str, ...]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rebuild_env", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == ExitCode.BROKEN_PIPE
