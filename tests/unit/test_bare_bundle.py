"""Bare bundles: a model file + requirements.txt (pip freeze style) + optional Python hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebuild_env.bundle import read_bundle
from rebuild_env.errors import BundleError

FREEZE = """\
# a comment
numpy==1.26.4 ; python_version >= "3.9"   # trailing comment

scikit-learn[alldeps]==1.3.2 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
pywin32==306; sys_platform == "win32"
-r more.txt
-c constraints.txt
--extra-index-url https://example.invalid/simple
"""


def _bundle(tmp_path: Path, requirements: str | None = FREEZE) -> Path:
    (tmp_path / "model.joblib").write_bytes(b"\x80\x04N.")
    if requirements is not None:
        (tmp_path / "requirements.txt").write_text(requirements)
    (tmp_path / "more.txt").write_text("joblib==1.3.2\n")
    (tmp_path / "constraints.txt").write_text("scipy<1.12\n")
    return tmp_path


def test_pip_freeze_is_parsed(tmp_path: Path) -> None:
    env = read_bundle(_bundle(tmp_path))
    assert env.format == "bare"
    numpy = env.pin("numpy")
    assert numpy is not None and numpy.version == "1.26.4" and numpy.marker
    assert numpy.source == "requirements.txt:2"
    sk = env.pin("scikit-learn")
    assert sk is not None and sk.extras == ("alldeps",)
    assert sk.hashes == ("sha256:aaaa", "sha256:bbbb")
    assert env.pin("joblib") is not None and env.pin("joblib").source == "more.txt:1"  # type: ignore[union-attr]
    assert [c.name for c in env.constraints] == ["scipy"]
    assert env.index.extra_index_urls == ("https://example.invalid/simple",)


def test_utf16_and_crlf(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, requirements=None)
    (bundle / "requirements.txt").write_bytes("numpy==1.26.4\r\nscipy==1.11.4\r\n".encode("utf-16"))
    env = read_bundle(bundle)
    assert [p.name for p in env.pins] == ["numpy", "scipy"]


@pytest.mark.parametrize(
    ("name", "text", "version"),
    [(".python-version", "3.8.10\n", "3.8.10"), ("runtime.txt", "python-3.7.3\n", "3.7.3")],
)
def test_python_hint(tmp_path: Path, name: str, text: str, version: str) -> None:
    bundle = _bundle(tmp_path)
    (bundle / name).write_text(text)
    env = read_bundle(bundle)
    assert env.python is not None and env.python.version == version and env.python.source == name


def test_garbage_line_names_file_and_line(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, requirements="numpy==1.26.4\nthis is not a requirement!!\n")
    with pytest.raises(BundleError) as info:
        read_bundle(bundle)
    line = info.value.one_line()
    assert "requirements.txt" in line and "line 2" in line


def test_no_pins_is_noted(tmp_path: Path) -> None:
    env = read_bundle(_bundle(tmp_path, requirements=None))
    assert env.pins == ()
    assert any("no package versions" in n for n in env.notes)


def test_missing_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="does not exist"):
        read_bundle(tmp_path / "nope")
    with pytest.raises(BundleError, match="no model file"):
        read_bundle(tmp_path)


def test_lone_model_file_is_a_bundle(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    env = read_bundle(bundle / "model.joblib")
    assert env.model.path == bundle / "model.joblib" and env.pin("numpy") is not None


def test_several_model_files_need_a_choice(tmp_path: Path) -> None:
    (tmp_path / "a.pkl").write_bytes(b"x")
    (tmp_path / "b.pkl").write_bytes(b"x")
    with pytest.raises(BundleError) as info:
        read_bundle(tmp_path)
    assert "several model files" in info.value.one_line() and "--model" in info.value.one_line()
    assert read_bundle(tmp_path, model=tmp_path / "b.pkl").model.path.name == "b.pkl"
