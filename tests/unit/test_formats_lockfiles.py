"""uv.lock, poetry.lock, Pipfile.lock and pylock.toml, from files the real tools wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rebuild_env.bundle.formats import lockfiles
from rebuild_env.bundle.reader import read_bundle
from rebuild_env.errors import BundleError
from tests.conftest import FIXTURES

LOCKS = FIXTURES / "formats" / "lockfiles"
JOBLIB_WHEEL = "sha256:06d478d5674cbc267e7496a410ee875abd68e4340feff4490bcb7afb88060ae6"
CASES = [
    ("uv.lock", "uv-lock", ">=3.10"),
    ("poetry.lock", "poetry-lock", ">=3.10,<3.13"),
    ("Pipfile.lock", "pipfile-lock", "3.11"),
    ("pylock.toml", "pylock", ">=3.10"),
]


def _bundle(tmp_path: Path, *names: str) -> Path:
    for name in names:
        shutil.copy(LOCKS / name, tmp_path / name)
    (tmp_path / "model.joblib").write_bytes(b"\x80\x04.")
    return tmp_path


@pytest.mark.parametrize(("filename", "fmt", "python"), CASES)
def test_exact_pins_and_hashes(tmp_path: Path, filename: str, fmt: str, python: str) -> None:
    recorded = read_bundle(_bundle(tmp_path, filename))
    assert recorded.format == fmt
    assert {p.name: p.version for p in recorded.pins} == {
        "joblib": "1.4.2",
        "threadpoolctl": "3.5.0",
    }
    joblib = recorded.pin("joblib")
    assert joblib is not None and JOBLIB_WHEEL in joblib.hashes
    assert recorded.python is not None and recorded.python.version == python


def test_pipfile_leaves_out_develop(tmp_path: Path) -> None:
    recorded = read_bundle(_bundle(tmp_path, "Pipfile.lock"))
    assert recorded.pin("six") is None
    assert any("development" in n for n in recorded.notes)


def test_precedence_and_choice(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "uv.lock", "poetry.lock", "Pipfile.lock")
    recorded = read_bundle(bundle)
    assert recorded.format == "uv-lock"
    assert any("also found poetry.lock, Pipfile.lock" in n for n in recorded.notes)
    assert read_bundle(bundle, format="poetry-lock").format == "poetry-lock"
    assert lockfiles.NAMES == ("pylock", "uv-lock", "poetry-lock", "pipfile-lock")


def test_python_version_file_beats_the_lock_range(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "uv.lock")
    (bundle / ".python-version").write_text("3.11.7\n")
    recorded = read_bundle(bundle)
    assert recorded.python is not None and recorded.python.version == "3.11.7"


@pytest.mark.parametrize(
    ("filename", "text", "message"),
    [
        ("uv.lock", "version = 1\n[[package]\n", "not valid TOML"),
        ("uv.lock", 'package = "x"\n', "must be an array of tables"),
        ("uv.lock", '[[package]]\nname = "a"\nversion = "not a version"\n', "no valid version"),
        ("pylock.toml", 'lock-version = "2.0"\n', "reads version 1.x"),
        ("Pipfile.lock", "{}", "no 'default' section"),
        ("Pipfile.lock", '{"default": {"a": {"version": "=>1"}}}', "invalid version"),
    ],
)
def test_bad_lockfiles(tmp_path: Path, filename: str, text: str, message: str) -> None:
    (tmp_path / filename).write_text(text)
    (tmp_path / "model.joblib").write_bytes(b"\x80\x04.")
    with pytest.raises(BundleError, match=message):
        read_bundle(tmp_path)


def test_uv_git_source_becomes_a_pip_vcs_reference(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.10"\n\n[[package]]\nname = "tool"\n'
        'version = "0.1.0"\n'
        'source = { git = "https://github.com/org/tool?rev=main#0123456789abcdef" }\n'
    )
    (tmp_path / "model.joblib").write_bytes(b"\x80\x04.")
    (pin,) = read_bundle(tmp_path).pins
    assert pin.url == "git+https://github.com/org/tool@0123456789abcdef"
