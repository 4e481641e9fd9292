"""``--help`` of every command shows examples, through the installed console script, and
every example line is one the real parser accepts for that very command."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rebuild_env.cli import _normalise, build_parser

COMMANDS = (
    (),
    ("rebuild",),
    ("plan",),
    ("inspect",),
    ("save",),
    ("verify",),
    ("cache",),
    ("cache", "list"),
    ("cache", "path"),
    ("cache", "prune"),
    ("cache", "clear"),
)
WITH_EXIT_CODES = ((), ("rebuild",))


def console_script() -> str:
    """The ``rebuild-env`` script installed next to this interpreter (else on PATH)."""
    beside = Path(sys.executable).with_name("rebuild-env")
    found = str(beside) if beside.is_file() else shutil.which("rebuild-env")
    if found is None:
        pytest.skip("the rebuild-env console script is not installed")
    return found


def examples(help_text: str) -> list[str]:
    """The command lines of the ``examples:`` section (comment lines left out)."""
    section = help_text.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in section.splitlines() if not line.strip().startswith("#")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_shows_examples_that_parse(command: tuple[str, ...]) -> None:
    done = subprocess.run(
        [console_script(), *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "\nexamples:\n" in done.stdout
    lines = examples(done.stdout)
    assert lines, done.stdout
    for line in lines:
        argv = shlex.split(line)
        assert argv[0] == "rebuild-env", line
        args = build_parser().parse_args(_normalise(argv[1:]))
        parsed = (args.command, getattr(args, "cache_command", None))
        # the top level shows several commands, "cache" several actions
        assert parsed[: len(command)] == command and parsed[0] is not None, line
    if not command:  # a bare BUNDLE is the rebuild command
        assert build_parser().parse_args(_normalise(shlex.split(lines[0])[1:])).command == "rebuild"
    if command in WITH_EXIT_CODES:
        assert "exit codes:" in done.stdout and "130  interrupted" in done.stdout
