"""The shared corpus of real, untrusted bundles: every one ends cleanly.

Runs ``scripts/corpus`` (which runs rebuild-env in subprocesses; nothing is loaded here)
when ``../shared/corpus`` (or ``$REBUILD_ENV_CORPUS``) exists, and skips otherwise. Fails
on any traceback, hang, missing JSON document, or exit 0 for a model that did not load
and predict; and for a conda-lock test file, on an exit 0 that wrote no spec file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("REBUILD_ENV_CORPUS", ROOT.parent / "shared" / "corpus"))
DOCUMENTED_EXITS = {0, 2, 3, 4, 5, 6, 7, 8, 9, 10}

pytestmark = [pytest.mark.slow, pytest.mark.network]


def _run(part: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[dict]]:  # type: ignore[type-arg]
    if not (CORPUS / part).is_dir():
        pytest.skip(f"no corpus at {CORPUS / part}")
    rows_file = tmp_path / "rows.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "corpus"),
            str(CORPUS),
            "--jobs",
            "2",
            "--only",
            "bundles" if part == "real-bundles" else "envfiles",
            "--out",
            str(tmp_path / "CORPUS.md"),
            "--json",
            str(rows_file),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    rows = json.loads(rows_file.read_text()) if rows_file.exists() else {}
    return done, next(iter(rows.values()), [])


def test_every_real_bundle_ends_cleanly(tmp_path: Path) -> None:
    done, rows = _run("real-bundles", tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert len(rows) == len([p for p in (CORPUS / "real-bundles").iterdir() if p.is_dir()])
    for row in rows:
        final = row.get("trusted", row)
        assert not row["problem"], row
        assert final["exit"] in DOCUMENTED_EXITS, row
        if final["exit"] == 0:
            assert final["status"] in ("identical", "within-tolerance", "predicts"), row
        else:
            # Refused or failed: one line naming the reason, not a dump.
            assert final["detail"] and "\n" not in final["detail"].strip(), row
    verified = [r for r in rows if r.get("trusted", r)["exit"] in (0, 9)]
    # Most of what people publish rebuilds and predicts here (16 of 22 on 2026-11-24).
    assert len(verified) >= len(rows) // 2, [(r["name"], r["status"]) for r in rows]


def test_every_conda_lock_test_file_plans_or_says_why(tmp_path: Path) -> None:
    done, rows = _run("conda-lock-tests", tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    files = [p for p in (CORPUS / "conda-lock-tests").iterdir() if p.suffix in (".yml", ".yaml")]
    assert len(rows) == 2 * len(files)
    for row in rows:
        assert not row["problem"], row
        assert row["exit"] in (0, 2, 3, 9), row
        if row["exit"] == 0:
            assert row["spec_files"], row
        else:
            assert row["detail"] and "\n" not in row["detail"].strip(), row
    assert any(r["exit"] == 0 for r in rows if r["backend"] == "venv")
