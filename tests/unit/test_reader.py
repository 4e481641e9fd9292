"""The format table: each name is its reader's own, and a manifest bundle is read without
importing the other readers (their parsers are most of a cache hit's start-up)."""

from __future__ import annotations

import ast
import subprocess
import sys

from rebuild_env.bundle.formats import bare, conda_env, lockfiles, manifest, mlflow, skops
from rebuild_env.bundle.reader import FORMATS
from tests.conftest import EXAMPLE_BUNDLE


def test_format_names_are_the_readers_own() -> None:
    expected = [manifest.NAME, mlflow.NAME, skops.NAME, *lockfiles.NAMES, conda_env.NAME]
    assert [f.name for f in FORMATS] == [*expected, bare.NAME]


def test_a_manifest_bundle_imports_only_its_reader() -> None:
    code = (
        "import sys; from rebuild_env.bundle import read_bundle; "
        f"read_bundle({str(EXAMPLE_BUNDLE)!r}); "
        "print(sorted(m for m in sys.modules if m.startswith('rebuild_env.bundle.formats.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = ast.literal_eval(done.stdout)
    assert "rebuild_env.bundle.formats.manifest" in loaded
    for other in ("mlflow", "skops", "lockfiles", "conda_env"):
        assert f"rebuild_env.bundle.formats.{other}" not in loaded
