"""Bad input: one clear line on stderr, a documented exit code, nothing left on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.conftest import EXAMPLE_BUNDLE, run_cli


def _assert_one_clear_line(stderr: str, *needles: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("rebuild-env: error:")]
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_missing_folder(tmp_path: Path) -> None:
    result = run_cli(tmp_path / "nope", "--prefix", tmp_path / "env")
    assert result.code == 2
    _assert_one_clear_line(result.stderr, "nope", "does not exist")
    assert not (tmp_path / "env").exists()


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli(tmp_path / "empty", "--prefix", tmp_path / "env")
    assert result.code == 2
    _assert_one_clear_line(result.stderr, "empty", "no model file")
    assert not (tmp_path / "env").exists()


def test_garbage_requirements_line(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    shutil.copy(EXAMPLE_BUNDLE / "model.joblib", bundle)
    (bundle / "requirements.txt").write_text("scikit-learn==1.5.2\n<<<garbage>>>\n")
    result = run_cli(bundle, "--prefix", tmp_path / "env")
    assert result.code == 2
    _assert_one_clear_line(result.stderr, "requirements.txt", "line 2")
    assert not (tmp_path / "env").exists()


def test_python_version_not_available(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    manifest = yaml.safe_load((bundle / "bundle.yaml").read_text())
    manifest["python"]["version"] = "3.4.10"
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(manifest))
    result = run_cli(bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out")
    assert result.code == 3
    _assert_one_clear_line(result.stderr, "no Python 3.4 interpreter", "--python")
    assert not (tmp_path / "env").exists()


def test_existing_prefix_is_not_overwritten(tmp_path: Path) -> None:
    prefix = tmp_path / "env"
    prefix.mkdir()
    (prefix / "keep.txt").write_text("mine")
    result = run_cli(EXAMPLE_BUNDLE, "--prefix", prefix, "--out", tmp_path / "out")
    assert result.code == 2
    _assert_one_clear_line(result.stderr, "already exists", "--force")
    assert (prefix / "keep.txt").read_text() == "mine"


def test_truncated_model_file_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    data = (bundle / "model.joblib").read_bytes()
    (bundle / "model.joblib").write_bytes(data[: len(data) // 2])
    result = run_cli(bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out")
    assert result.code == 7
    _assert_one_clear_line(result.stderr, "model.joblib")
    assert not (tmp_path / "env").exists()


def test_no_arguments_prints_help() -> None:
    result = run_cli()
    assert result.code == 0 and "usage: rebuild-env" in result.stdout
