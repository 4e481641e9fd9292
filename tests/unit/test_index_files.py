"""index.release_files from the index answer cache: every file, or one release's (``only``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from packaging.version import Version

from rebuild_env import index

URL = "https://index.invalid/simple"


def _files(version: str) -> list[dict[str, object]]:
    return [
        {
            "filename": f"demo-{version}-cp311-cp311-manylinux_2_17_x86_64.whl",
            "upload-time": "2021-01-02T00:00:00Z",
            "hashes": {"sha256": "a" * 64},
        },
        {"filename": f"demo-{version}.tar.gz", "upload-time": "2021-01-02T00:00:00Z"},
    ]


@pytest.fixture
def cached_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBUILD_ENV_CACHE_DIR", str(tmp_path))
    folder = tmp_path / "index"
    folder.mkdir()
    name = f"{hashlib.sha256(URL.encode()).hexdigest()[:12]}-demo.json"
    answer = {"files": _files("1.0") + _files("1.0.1") + _files("2.0") + [{"filename": "x"}]}
    (folder / name).write_text(json.dumps(answer), encoding="utf-8")


@pytest.mark.usefixtures("cached_answer")
def test_every_release_by_default() -> None:
    files = index.release_files(["Demo"], url=URL)
    assert files is not None
    assert sorted({str(f.version) for f in files["demo"]}) == ["1.0", "1.0.1", "2.0"]
    assert len(files["demo"]) == 6  # the unparseable file name is left out


@pytest.mark.usefixtures("cached_answer")
def test_only_the_pinned_release_compared_as_versions() -> None:
    files = index.release_files(["demo"], url=URL, only={"Demo": "1.0.0"})
    assert files is not None
    assert {f.version for f in files["demo"]} == {Version("1.0")}
    assert {f.filename.endswith(".whl") for f in files["demo"]} == {True, False}


@pytest.mark.usefixtures("cached_answer")
def test_an_unparseable_pin_keeps_every_release() -> None:
    files = index.release_files(["demo"], url=URL, only={"demo": "not a version"})
    assert files is not None
    assert len(files["demo"]) == 6
