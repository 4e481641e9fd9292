"""Not a terminal (a pipe, CI): plain progress lines on stderr, no ANSI escapes anywhere; with
--json, stdout is exactly one JSON document for every command. On a terminal (a pty from
``script``): the rich plan table."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.json_contract import one_document

ANSI = re.compile(r"\x1b[\[\]()]")
ANSI_SEQUENCE = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9])")


def test_plan_progress_is_plain_lines(tmp_path: Path) -> None:
    result = run_cli("plan", EXAMPLE_BUNDLE, "--out", tmp_path)
    assert result.code == 0, result.stderr
    assert not ANSI.search(result.stdout + result.stderr)
    # each stage with the time elapsed when it started
    stages = [
        re.fullmatch(r"rebuild-env: (\w+)  \[\d+:\d\d\]", line)
        for line in result.stderr.splitlines()
    ]
    assert [m.group(1) if m else None for m in stages] == ["read", "scan", "plan", "write"]
    lines = result.stdout.splitlines()
    assert (
        lines[0].startswith("bundle   ")
        and lines[-1] == "ok       planned (dry run: nothing built)"
    )
    assert any(re.match(r"  scikit-learn +1\.9\.1 +bundle\.yaml", line) for line in lines)


def test_quiet_plan_prints_nothing_on_stderr(tmp_path: Path) -> None:
    result = run_cli("plan", EXAMPLE_BUNDLE, "--out", tmp_path, "--quiet")
    assert result.code == 0 and result.stderr == ""
    assert result.stdout.splitlines()[-1] == "ok       planned (dry run: nothing built)"


@pytest.mark.parametrize(
    "args",
    [
        ("plan", EXAMPLE_BUNDLE),
        ("inspect", EXAMPLE_BUNDLE),
        ("cache", "list"),
        ("cache", "path", EXAMPLE_BUNDLE),
        ("plan", "no-such-bundle"),
        ("verify", "no-such-bundle"),
    ],
    ids=["plan", "inspect", "cache-list", "cache-path", "plan-error", "verify-error"],
)
def test_json_is_the_only_thing_on_stdout(tmp_path: Path, args: tuple[str | Path, ...]) -> None:
    extra = ("--out", tmp_path) if args[0] == "plan" else ()
    result = run_cli(*args, *extra, "--json", cwd=tmp_path)
    doc = one_document(result.stdout)
    assert doc["schema_version"] == 1 and result.stdout.lstrip()[0] == "{"
    assert doc.get("exit_code", 0) == result.code
    assert not ANSI.search(result.stdout + result.stderr)
    assert "rebuild-env: read" not in result.stderr  # progress is off with --json


def test_empty_cache_list_names_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBUILD_ENV_CACHE_DIR", str(tmp_path / "cache"))
    result = run_cli("cache", "list")
    assert result.code == 0, result.stderr
    assert result.stdout == f"0 environments, 0 B in {tmp_path / 'cache' / 'envs'}\n"


def test_on_a_terminal_plan_shows_a_table_without_an_imported_column(tmp_path: Path) -> None:
    script = shutil.which("script")
    if script is None:
        pytest.skip("util-linux script (to give the command a terminal) is not installed")
    command = shlex.join(
        [sys.executable, "-m", "rebuild_env", "plan", str(EXAMPLE_BUNDLE), "--out", str(tmp_path)]
    )
    done = subprocess.run(
        [script, "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "110", "TERM": "xterm-256color"},
        check=False,
    )
    assert done.returncode == 0, done.stdout
    screen = ANSI_SEQUENCE.sub("", done.stdout)
    assert re.search(r"┃ package +┃ version ┃ source +┃\r?\n", screen), screen
    assert "imported" not in screen and "planned (dry run: nothing built)" in screen
