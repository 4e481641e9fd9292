"""--json of rebuild (success and failure) and verify through the real command line: one
JSON document on stdout, key sets pinned, valid against the published schema; and the plain
(non-TTY) progress lines on stderr."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.json_contract import (
    COMPARISON_KEYS,
    REBUILD_KEYS,
    SCAN_KEYS,
    VERIFICATION_KEYS,
    VERIFY_KEYS,
    VERIFY_ROW_KEYS,
    assert_valid,
    one_document,
)

pytestmark = [pytest.mark.slow, pytest.mark.network]

ANSI = re.compile(r"\x1b[\[\]()]")
STAGES = ("read", "scan", "plan", "write", "build", "verify")


def tampered_copy(where: Path) -> Path:
    """The example bundle with two recorded predictions changed: it must verify as differs."""
    bundle = where / "iris-tampered"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    expected = np.load(bundle / "sample_output.npy")
    expected[:2] = (expected[:2] + 1) % 3
    np.save(bundle / "sample_output.npy", expected, allow_pickle=False)
    return bundle


def test_rebuild_json_success_and_failure(tmp_path: Path) -> None:
    ok = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--json", cwd=tmp_path)
    assert ok.code == 0, ok.stdout + ok.stderr
    doc = one_document(ok.stdout)
    assert set(doc) == REBUILD_KEYS and set(doc["verification"]) == VERIFICATION_KEYS
    assert doc["command"] == "rebuild" and doc["status"] == "identical" and doc["exit_code"] == 0
    assert doc["schema_version"] == 1 and isinstance(doc["reused_env"], bool)
    assert Path(doc["prefix"]).is_dir() and set(doc["scan"]) == SCAN_KEYS
    verification = doc["verification"]
    assert set(verification["comparison"]) == COMPARISON_KEYS
    assert verification["comparison"]["equal_rows"] == verification["comparison"]["rows"] == 150
    assert verification["input"] == "recorded" and verification["error"] is None
    assert verification["versions"]["scikit-learn"] == "1.9.1" and verification["drift"] == {}
    assert all(isinstance(v, float | int) for v in doc["seconds"].values())
    assert_valid(doc, "rebuild")

    bad = run_cli(tampered_copy(tmp_path), "--out", tmp_path / "out2", "--json", cwd=tmp_path)
    assert bad.code == 6, bad.stdout + bad.stderr
    doc = one_document(bad.stdout)
    assert set(doc) == REBUILD_KEYS and doc["status"] == "differs" and doc["exit_code"] == 6
    comparison = doc["verification"]["comparison"]
    assert comparison["equal_rows"] == 148 and comparison["identical"] is False
    assert isinstance(comparison["max_abs_diff"], float)
    assert_valid(doc, "rebuild")


def test_verify_json_with_a_failing_bundle(tmp_path: Path) -> None:
    bundles = [EXAMPLE_BUNDLE, tampered_copy(tmp_path), tmp_path / "missing"]
    result = run_cli("verify", *bundles, "--jobs", "2", "--json", cwd=tmp_path)
    assert result.code == 6, result.stdout + result.stderr
    doc = one_document(result.stdout)
    assert set(doc) == VERIFY_KEYS and doc["command"] == "verify" and doc["exit_code"] == 6
    assert doc["passed"] == 1 and doc["total"] == 3
    rows = doc["bundles"]
    assert [Path(r["bundle"]).name for r in rows] == ["iris-logreg", "iris-tampered", "missing"]
    assert all(set(r) == VERIFY_ROW_KEYS for r in rows)
    assert [r["status"] for r in rows] == ["identical", "differs", "error"]
    assert [r["exit_code"] for r in rows] == [0, 6, 2]
    assert set(rows[0]["report"]) == REBUILD_KEYS and rows[2]["report"] is None
    assert rows[0]["versions"]["scikit-learn"] == "1.9.1"
    assert_valid(doc, "verify")

    text = run_cli("verify", *bundles, "--jobs", "2", cwd=tmp_path)
    assert text.code == 6
    header, *body, total = text.stdout.splitlines()
    assert header.split() == ["bundle", "status", "python", "versions", "time"]
    assert total == "1/3 verified" and len(body) == 3
    status, versions = header.index("status"), header.index("versions")
    assert [line[status:].split()[0] for line in body] == ["identical", "differs", "error"]
    assert body[0][versions:].startswith("scikit-learn=1.9.1 ")


def test_not_a_tty_gives_plain_lines_and_json_alone_on_stdout(tmp_path: Path) -> None:
    text = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", cwd=tmp_path)
    assert text.code == 0, text.stderr
    assert not ANSI.search(text.stderr) and not ANSI.search(text.stdout)
    progress = text.stderr.splitlines()
    # one plain line per stage, in order ("build" is left out when the cached env is reused),
    # with the elapsed time ("rebuild-env: read  [0:00]"); an installer's own steps, indented
    # ("rebuild-env:   Downloading numpy (16.1MiB)  [0:01]"), come between them
    assert all(re.fullmatch(r"rebuild-env: .+  \[\d+:\d\d\]", line) for line in progress), progress
    stages = [
        line.removeprefix("rebuild-env: ").rsplit("  [", 1)[0]
        for line in progress
        if not line.startswith("rebuild-env:   ")
    ]
    assert stages == [s for s in STAGES if s in stages] and stages[0] == "read", progress
    assert stages[-1] == "verify" and len(stages) >= 5, progress
    assert text.stdout.splitlines()[-1].startswith("ok       predictions identical (150/150)")

    quiet = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--quiet", cwd=tmp_path)
    assert quiet.code == 0 and quiet.stderr == ""
    assert quiet.stdout.splitlines()[-1].startswith("ok       predictions identical (150/150)")

    listed = run_cli("cache", "list")
    header, *rows, total = listed.stdout.splitlines()
    assert header.split() == ["env", "size", "python", "backend", "last", "used", "bundle"]
    row = next(r for r in rows if r.endswith(str(EXAMPLE_BUNDLE)))
    assert row.split()[0].startswith("venv-") and row.split()[3:5] == ["3.11.7", "venv"]
    assert row.index("3.11.7") == header.index("python")  # the columns line up
    assert re.fullmatch(r"\d+ environments?, [\d.]+ [KMG]?B in .+envs", total), total

    as_json = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--json", cwd=tmp_path)
    assert as_json.code == 0 and not ANSI.search(as_json.stdout + as_json.stderr)
    assert one_document(as_json.stdout)["status"] == "identical"
    assert as_json.stdout.lstrip().startswith("{") and as_json.stdout.rstrip().endswith("}")
