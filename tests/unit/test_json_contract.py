"""The --json contract: scripts rely on these keys; a change here needs a schema_version bump.

Each document comes from the real command line (a subprocess) and is checked twice: its key
set and types are pinned here, and it validates against the published JSON Schema
(``rebuild_env/output.schema.json``, shipped in the package).
"""

from __future__ import annotations

from pathlib import Path

import joblib
import pytest
from jsonschema import Draft202012Validator
from sklearn.datasets import load_iris
from sklearn.tree import DecisionTreeClassifier

from rebuild_env.verify import sandbox_report as sandbox
from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.json_contract import (
    ERROR_KEYS,
    INSPECT_KEYS,
    REBUILD_KEYS,
    SANDBOX_KEYS,
    SCAN_KEYS,
    assert_valid,
    one_document,
    schema,
)

# a protocol-0 pickle that calls os.system: written as bytes, never unpickled
UNSAFE_PICKLE = b"cos\nsystem\n(S'echo owned'\ntR."


def test_plan_json_keys(tmp_path: Path) -> None:
    result = run_cli("plan", EXAMPLE_BUNDLE, "--out", tmp_path, "--json")
    assert result.code == 0, result.stderr
    doc = one_document(result.stdout)
    assert set(doc) == REBUILD_KEYS
    assert doc["schema_version"] == 1 and doc["command"] == "plan" and doc["status"] == "planned"
    assert set(doc["bundle"]) == {"path", "format", "model", "loader", "method"}
    assert set(doc["python"]) == {"version", "source", "interpreter"}
    assert all(set(p) == {"name", "version", "source", "url"} for p in doc["packages"])
    assert doc["verification"] is None and doc["prefix"] is None
    assert set(doc["scan"]) == SCAN_KEYS
    assert doc["spec_files"] == [str(tmp_path / "requirements.txt")]
    assert_valid(doc, "rebuild")


def test_error_json_keys(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "missing", "--json")
    assert result.code == 2
    doc = one_document(result.stdout)
    assert set(doc) == ERROR_KEYS and doc["status"] == "error" and doc["exit_code"] == 2
    assert doc["command"] == "rebuild" and "missing" in doc["error"]
    assert_valid(doc, "error")


def test_inspect_json_keys_for_a_bundle() -> None:
    result = run_cli("inspect", EXAMPLE_BUNDLE, "--json")
    assert result.code == 0, result.stderr
    doc = one_document(result.stdout)
    assert set(doc) == INSPECT_KEYS and set(doc["scan"]) == SCAN_KEYS
    assert doc["schema_version"] == 1 and doc["command"] == "inspect" and doc["exit_code"] == 0
    assert doc["bundle_format"] == "manifest" and doc["differences"] == []
    scan = doc["scan"]
    assert scan["safe"] is True and scan["refused"] == [] and scan["container"] == "joblib"
    assert "sklearn.linear_model._logistic.LogisticRegression" in scan["globals"]
    assert all(isinstance(a["shape"], list) for a in scan["arrays"]) and scan["arrays"]
    sklearn = [h for h in scan["hints"] if h["name"] == "scikit-learn"]
    assert sklearn and sklearn[0]["specifier"].startswith("==")
    assert_valid(doc, "inspect")


def test_inspect_json_for_a_refused_file(tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(UNSAFE_PICKLE)
    result = run_cli("inspect", model, "--json")
    assert result.code == 7, result.stderr
    doc = one_document(result.stdout)
    assert set(doc) == INSPECT_KEYS and doc["exit_code"] == 7 and doc["bundle_format"] is None
    assert doc["scan"]["safe"] is False and doc["scan"]["protocol"] == 0
    assert any("system" in r for r in doc["scan"]["refused"])
    assert_valid(doc, "inspect")


def test_save_and_cache_json_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A cache of its own: another test may have built the same plan in the session's cache.
    monkeypatch.setenv("REBUILD_ENV_CACHE_DIR", str(tmp_path / "cache"))
    X, y = load_iris(return_X_y=True)
    joblib.dump(DecisionTreeClassifier(max_depth=2).fit(X, y), tmp_path / "model.joblib")
    saved = run_cli("save", tmp_path / "model.joblib", tmp_path / "bundle", "--json")
    assert saved.code == 0, saved.stderr
    doc = one_document(saved.stdout)
    assert doc == {"schema_version": 1, "command": "save", "bundle": str(tmp_path / "bundle")}
    assert_valid(doc, "save")

    listed = run_cli("cache", "list", "--json")
    assert listed.code == 0, listed.stderr
    doc = one_document(listed.stdout)
    assert doc["command"] == "cache list" and isinstance(doc["environments"], list)
    assert_valid(doc, "cache_environments")

    where = run_cli("cache", "path", tmp_path / "bundle", "--json")
    assert where.code == 0, where.stderr
    doc = one_document(where.stdout)
    assert set(doc) == {"schema_version", "command", "path", "exists"} and doc["exists"] is False
    assert_valid(doc, "cache_path")


def test_schema_is_versioned_and_names_every_document() -> None:
    published = schema()
    assert published["$defs"]["schema_version"] == {"const": 1}
    shapes = {ref["$ref"].rsplit("/", 1)[1] for ref in published["oneOf"]}
    assert shapes == {
        "error",
        "rebuild",
        "inspect",
        "verify",
        "save",
        "pack",
        "cache_path",
        "cache_environments",
        "compare",
    }
    for shape in shapes:
        assert published["$defs"][shape]["additionalProperties"] is False
        assert "schema_version" in published["$defs"][shape]["required"]
    assert set(published["$defs"]["rebuild"]["required"]) == REBUILD_KEYS
    assert set(published["$defs"]["inspect"]["required"]) == INSPECT_KEYS


@pytest.mark.parametrize(
    "info",
    [
        sandbox.OFF,
        sandbox.unavailable(),
        sandbox.SandboxInfo("on", landlock_abi=7, filesystem=True, tcp=True, netns=True),
    ],
)
def test_sandbox_json_keys(info: sandbox.SandboxInfo) -> None:
    doc = info.to_json()
    assert set(doc) == SANDBOX_KEYS and doc["description"] == info.describe()
    whole = schema()
    part = {"$schema": whole["$schema"], "$defs": whole["$defs"], "$ref": "#/$defs/sandbox"}
    Draft202012Validator(part).validate(doc)
