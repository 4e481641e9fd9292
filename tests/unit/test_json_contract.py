"""The --json contract: scripts rely on these keys; a change here needs a schema_version bump."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import EXAMPLE_BUNDLE, run_cli

REBUILD_KEYS = {
    "schema_version",
    "command",
    "status",
    "exit_code",
    "summary",
    "bundle",
    "backend",
    "python",
    "packages",
    "dropped",
    "conflicts",
    "warnings",
    "exclude_newer",
    "prefix",
    "reused_env",
    "spec_files",
    "scan",
    "verification",
    "seconds",
}
VERIFICATION_KEYS = {
    "level",
    "input",
    "python",
    "error",
    "warnings",
    "version_warnings",
    "versions",
    "drift",
    "comparison",
    "timed_out",
    "reused_from",
    "seconds",
}
ERROR_KEYS = {"schema_version", "command", "status", "exit_code", "error", "output"}


def test_plan_json_keys(tmp_path: Path) -> None:
    result = run_cli("plan", EXAMPLE_BUNDLE, "--out", tmp_path, "--json")
    assert result.code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == REBUILD_KEYS
    assert doc["schema_version"] == 1 and doc["command"] == "plan" and doc["status"] == "planned"
    assert set(doc["bundle"]) == {"path", "format", "model", "loader", "method"}
    assert set(doc["python"]) == {"version", "source", "interpreter"}
    assert all(set(p) == {"name", "version", "source", "url"} for p in doc["packages"])
    assert doc["verification"] is None


def test_error_json_keys(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "missing", "--json")
    assert result.code == 2
    doc = json.loads(result.stdout)
    assert set(doc) == ERROR_KEYS and doc["status"] == "error" and doc["exit_code"] == 2
