"""Interpreter discovery: PATH, pyenv, uv-managed, conda; exact patch preferred."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebuild_env import interpreters
from rebuild_env.errors import InterpreterNotFound
from tests.conftest import pyenv_python


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake machine: a bin dir on PATH and a pyenv root, linking to real interpreters."""
    py38, py39 = pyenv_python("3.8"), pyenv_python("3.9")
    if py38 is None or py39 is None:
        pytest.skip("needs Python 3.8 and 3.9 interpreters")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3.8").symlink_to(py38)
    version_dir = tmp_path / "pyenv" / "versions" / "3.9.99" / "bin"
    version_dir.mkdir(parents=True)
    (version_dir / "python").symlink_to(py39)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv-none"))
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_found_on_path_by_asking_it(machine: Path) -> None:
    interp, warnings = interpreters.find("3.8", source="runtime.txt")
    assert interp.found_by == "PATH" and interp.minor == "3.8"
    assert interp.path == machine / "bin" / "python3.8" and warnings == []


def test_found_in_pyenv_by_directory_name(machine: Path) -> None:
    interp, warnings = interpreters.find("3.9.99", source="bundle.yaml")
    assert interp.found_by == "pyenv" and interp.version == "3.9.99" and warnings == []


def test_other_patch_is_used_with_a_warning(machine: Path) -> None:
    interp, warnings = interpreters.find("3.8.0", source="runtime.txt")
    assert interp.minor == "3.8" and interp.version != "3.8.0"
    assert len(warnings) == 1 and "3.8.0" in warnings[0] and "runtime.txt" in warnings[0]


def test_missing_minor_says_how_to_get_one(machine: Path) -> None:
    with pytest.raises(InterpreterNotFound) as info:
        interpreters.find("3.5", source="runtime.txt")
    line = info.value.one_line()
    assert "3.5" in line and "pyenv install 3.5" in line and "--python" in line


def test_conda_environments_are_searched(machine: Path) -> None:
    env = machine / "conda" / "envs" / "old"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to((machine / "bin" / "python3.8").resolve())
    (machine / ".conda").mkdir()
    (machine / ".conda" / "environments.txt").write_text(f"{env}\n")
    (machine / "bin" / "python3.8").unlink()
    interp, _ = interpreters.find("3.8", source="x")
    assert interp.found_by == "conda" and interp.path == env / "bin" / "python"


def test_explicit_path(machine: Path) -> None:
    interp = interpreters.explicit(str(machine / "bin" / "python3.8"))
    assert interp.minor == "3.8" and interp.found_by == "--python"
