"""The published --json schema, read the way users get it (package data), and a checker."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_FILE = "output.schema.json"

# The key sets scripts rely on; a change here needs a schema_version bump (or an added key).
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
    "activate",
    "reused_env",
    "spec_files",
    "scan",
    "local_code",
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
    "numeric",
    "timed_out",
    "reused_from",
    "seconds",
    "sandbox",
}
SANDBOX_KEYS = {
    "mode",
    "description",
    "landlock_abi",
    "filesystem",
    "tcp",
    "scoped",
    "netns",
    "private_shm",
    "capabilities",
    "unix_sockets",
    "warnings",
}
COMPARE_KEYS = {
    "schema_version",
    "command",
    "status",
    "exit_code",
    "summary",
    "bundle",
    "reference",
    "verdict",
    "search",
    "seconds",
}
ERROR_KEYS = {"schema_version", "command", "status", "exit_code", "error", "output"}

INSPECT_KEYS = {"schema_version", "command", "exit_code", "bundle_format", "scan", "differences"}
SCAN_KEYS = {
    "path",
    "container",
    "compression",
    "protocol",
    "size",
    "safe",
    "error",
    "globals",
    "refused",
    "allowed_by",
    "profiles",
    "companions",
    "arrays",
    "warnings",
    "hints",
    "min_python",
}
COMPARISON_KEYS = {
    "shape",
    "expected_shape",
    "dtype",
    "expected_dtype",
    "rows",
    "equal_rows",
    "max_abs_diff",
    "max_rel_diff",
    "max_ulp",
    "noise_ulps",
    "labels_identical",
    "identical",
    "within_noise",
    "within_tolerance",
}
VERIFY_KEYS = {"schema_version", "command", "exit_code", "passed", "total", "bundles"}
VERIFY_ROW_KEYS = {
    "bundle",
    "status",
    "exit_code",
    "summary",
    "python",
    "versions",
    "seconds",
    "report",
}


@cache
def schema() -> dict[str, Any]:
    """``rebuild_env/output.schema.json`` as shipped in the package."""
    loaded: dict[str, Any] = json.loads(files("rebuild_env").joinpath(SCHEMA_FILE).read_text())
    return loaded


def one_document(stdout: str) -> dict[str, Any]:
    """The JSON document that is the whole of ``stdout`` (nothing before or after it)."""
    doc, end = json.JSONDecoder().raw_decode(stdout)
    assert stdout[end:].strip() == "", f"more than one JSON document: {stdout[end:][:200]!r}"
    assert isinstance(doc, dict)
    return doc


def assert_valid(doc: dict[str, Any], shape: str) -> None:
    """``doc`` is valid against the whole schema and against the ``$defs`` entry ``shape``."""
    whole = schema()
    Draft202012Validator(whole).validate(doc)
    part = {"$schema": whole["$schema"], "$defs": whole["$defs"], "$ref": f"#/$defs/{shape}"}
    Draft202012Validator(part).validate(doc)
