"""Issue 23 through the real CLI: stepping into the env (run, shell, the activate line),
no litter in the cwd, the registry report as a browser renders it, and progress lines in
a real terminal."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.json_contract import one_document, schema

pytestmark = [pytest.mark.slow, pytest.mark.network]

BROWSER_TIMEOUT_S = 120
TMUX_WAIT_S = 300
POLL_S = 0.2
ELAPSED = re.compile(r"\[\d+:\d\d\]")


def test_run_passes_arguments_and_exit_code_through(tmp_path: Path) -> None:
    code = "import sys, os; print(sys.prefix); print(sys.argv[1:]); sys.exit(int(sys.argv[2]))"
    result = run_cli(
        "run", EXAMPLE_BUNDLE, "--", "python", "-c", code, "two words", "7", cwd=tmp_path
    )
    assert result.code == 7, result.stderr
    prefix, argv = result.stdout.splitlines()[:2]
    assert argv == "['two words', '7']"
    # the env's own python ran, the one the report tells the user to activate
    report = run_cli(EXAMPLE_BUNDLE, "--json", cwd=tmp_path)
    doc = one_document(report.stdout)
    rebuild_schema = schema()["$defs"]["rebuild"]
    assert "activate" in rebuild_schema["required"] and "activate" in rebuild_schema["properties"]
    assert Path(prefix) == Path(doc["prefix"])
    assert doc["activate"] == f"source {Path(doc['prefix']) / 'bin' / 'activate'}"
    text = run_cli(EXAMPLE_BUNDLE, cwd=tmp_path).stdout
    assert f"activate source {doc['prefix']}/bin/activate" in text
    assert list(tmp_path.iterdir()) == []


def test_run_without_a_command_or_with_an_unknown_one(tmp_path: Path) -> None:
    result = run_cli("run", EXAMPLE_BUNDLE, "--", "no-such-command-23", cwd=tmp_path)
    assert result.code == 2
    assert "command not found" in result.stderr and "no-such-command-23" in result.stderr


def test_shell_with_a_non_interactive_shell(tmp_path: Path) -> None:
    script = 'echo "venv=$VIRTUAL_ENV"; command -v python; python -c "import sklearn"; exit 4\n'
    env = {**os.environ, "SHELL": "/bin/sh"}
    done = subprocess.run(
        [sys.executable, "-m", "rebuild_env", "shell", str(EXAMPLE_BUNDLE)],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=900,
        check=False,
    )
    assert done.returncode == 4, done.stderr
    venv_line, python_line = done.stdout.splitlines()[:2]
    prefix = venv_line.removeprefix("venv=")
    assert prefix and Path(python_line) == Path(prefix) / "bin" / "python"
    assert f"source {prefix}/bin/activate" in done.stderr


def test_nothing_is_written_in_the_cwd_and_out_folders_are_no_bundles(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for args in (("plan", EXAMPLE_BUNDLE), ("rebuild", EXAMPLE_BUNDLE), ("verify", EXAMPLE_BUNDLE)):
        result = run_cli(*args, cwd=work)
        assert result.code == 0, result.stderr
        assert list(work.iterdir()) == [], args
    planned = one_document(run_cli("plan", EXAMPLE_BUNDLE, "--json", cwd=work).stdout)
    spec = Path(planned["spec_files"][0])
    assert spec.is_file() and work not in spec.parents
    assert str(spec.parent) in run_cli("plan", EXAMPLE_BUNDLE, cwd=work).stdout

    # --out writes where asked; `verify */` in that folder skips it
    bundles = tmp_path / "bundles"
    shutil.copytree(EXAMPLE_BUNDLE, bundles / "iris")
    result = run_cli("plan", "iris", "--out", "specs", cwd=bundles)
    assert result.code == 0 and (bundles / "specs" / "requirements.txt").is_file()
    result = run_cli("verify", "iris", "specs", "--json", cwd=bundles)
    assert result.code == 0, result.stdout + result.stderr
    doc = one_document(result.stdout)
    assert [Path(r["bundle"]).name for r in doc["bundles"]] == ["iris"]


def _broken_bundle(root: Path) -> Path:
    broken = root / "broken"
    shutil.copytree(EXAMPLE_BUNDLE, broken)
    (broken / "model.joblib").write_bytes(b"not a pickle")
    return broken


class _Table(HTMLParser):
    """The rows of the rendered ``#bundles`` table, each as its cells' text."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("id", "bundles") in attrs:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium (.ci/run installs Debian's chromium)")


def test_html_report_renders_in_a_browser(tmp_path: Path) -> None:
    browser = _chromium()
    broken = _broken_bundle(tmp_path)
    report = tmp_path / "out" / "registry.html"
    result = run_cli("verify", EXAMPLE_BUNDLE, broken, "--report", report, cwd=tmp_path)
    assert result.code != 0  # the broken bundle fails
    assert f"report written to {report}" in result.stdout
    page = report.read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page

    profile = tmp_path / "chromium-profile"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu"]
    command += [f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*command, "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        check=True,
    ).stdout
    table = _Table()
    table.feed(dom)
    header, *rows = table.rows
    assert header[:4] == ["bundle", "verdict", "level", "Python"]
    assert len(rows) == 2
    good, bad = rows
    assert good[0] == str(EXAMPLE_BUNDLE) and good[1].startswith("identical (exit 0)")
    assert good[2] == "identical" and re.fullmatch(r"3\.\d+\.\d+", good[3])
    assert "scikit-learn" in good[4] and "numpy" in good[4]
    assert bad[0] == str(broken) and "(exit 0)" not in bad[1]
    assert "2 bundles: 1 verified, 0 with warnings, 1 failed" in dom

    shot = tmp_path / "registry.png"
    subprocess.run(
        [*command, f"--screenshot={shot}", "--window-size=1400,700", report.as_uri()],
        capture_output=True,
        timeout=BROWSER_TIMEOUT_S,
        check=True,
    )
    assert shot.stat().st_size > 0


def test_markdown_report(tmp_path: Path) -> None:
    report = tmp_path / "registry.md"
    result = run_cli("verify", EXAMPLE_BUNDLE, "--report", report, cwd=tmp_path)
    assert result.code == 0, result.stderr
    lines = report.read_text().splitlines()
    assert lines[0] == "# rebuild-env registry report"
    assert "1 bundle: 1 verified, 0 with warnings, 0 failed" in lines[2]
    rows = [line for line in lines if line.startswith(f"| `{EXAMPLE_BUNDLE}`")]
    assert len(rows) == 1 and "identical (exit 0)" in rows[0]
    bad = run_cli("verify", EXAMPLE_BUNDLE, "--report", tmp_path / "r.pdf", cwd=tmp_path)
    assert bad.code == 2 and "FILE.html or FILE.md" in bad.stderr


def _tmux(*args: str) -> str:
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, check=True)
    return done.stdout


def test_progress_in_a_real_terminal_shows_elapsed_time(tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it)")
    session = f"rebuild-env-{uuid.uuid4().hex[:8]}"
    bundle = tmp_path / "iris"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    cache = os.environ["REBUILD_ENV_CACHE_DIR"]
    command = (
        f"cd {tmp_path} && REBUILD_ENV_CACHE_DIR={cache} {sys.executable} -m rebuild_env "
        f"rebuild {bundle} --reverify; {sys.executable} -m rebuild_env verify {bundle} "
        f"{EXAMPLE_BUNDLE} --jobs 2; echo DONE-$?; sleep 600"
    )
    _tmux("new-session", "-d", "-s", session, "-x", "250", "-y", "50", command)
    try:
        spinner: set[str] = set()
        deadline = time.monotonic() + TMUX_WAIT_S
        screen = ""
        while time.monotonic() < deadline:
            screen = _tmux("capture-pane", "-p", "-t", session)
            spinner |= {
                line.strip()
                for line in screen.splitlines()
                if re.search(r"\[\d+:\d\d\] \w+…", line)
            }
            if "DONE-" in screen:
                break
            time.sleep(POLL_S)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    assert "DONE-" in screen, screen  # the verdicts are other tests' business
    assert spinner, screen  # the spinner line carried the elapsed time while it ran
    started = [line for line in screen.splitlines() if re.search(r"starting \d of 2: ", line)]
    finished = [
        line for line in screen.splitlines() if re.search(r"\(\d+\.\d s\); \d of 2 done$", line)
    ]
    assert len(started) == 2 and all(ELAPSED.search(line) for line in started), screen
    assert len(finished) == 2 and all(ELAPSED.search(line) for line in finished), screen
    assert [line[-len("1 of 2 done") :] for line in finished] == ["1 of 2 done", "2 of 2 done"]


def test_json_of_verify_rows_still_valid(tmp_path: Path) -> None:
    result = run_cli("verify", EXAMPLE_BUNDLE, "--json", "--allow-module", "collections")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["bundles"][0]["report"]["activate"].endswith("/bin/activate")
