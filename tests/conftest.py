"""Shared fixtures: an isolated rebuild-env cache per test session and a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_BUNDLE = ROOT / "fixtures" / "bundles" / "iris-logreg"
FIXTURES = ROOT / "fixtures"


def pyenv_python(minor: str) -> Path | None:
    """A pyenv CPython of ``minor`` (tests only: the product discovers interpreters itself)."""
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    for candidate in sorted(Path(root, "versions").glob(f"{minor}.*/bin/python"), reverse=True):
        return candidate
    return None


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """rebuild-env's own cache in a temporary folder (uv's package cache stays warm)."""
    cache = tmp_path_factory.mktemp("rebuild-env-cache")
    old = os.environ.get("REBUILD_ENV_CACHE_DIR")
    os.environ["REBUILD_ENV_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("REBUILD_ENV_CACHE_DIR", None)
    else:
        os.environ["REBUILD_ENV_CACHE_DIR"] = old


WRITER_INSTALL_TIMEOUT_S = 600


def writer_python(factory: pytest.TempPathFactory, name: str, packages: tuple[str, ...]) -> Path:
    """A throwaway venv with the packages another tool needs to write a bundle."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    env = factory.mktemp(name) / "venv"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, env], check=True)
    python = env / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "-q", "--python", python, *packages],
        check=True,
        timeout=WRITER_INSTALL_TIMEOUT_S,
    )
    return python


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(
    *args: str | Path,
    cwd: Path | None = None,
    timeout: float = 900,
    env: dict[str, str] | None = None,
) -> CliResult:
    """Run ``python -m rebuild_env ARGS`` as a user would (``env``: instead of os.environ)."""
    done = subprocess.run(
        [sys.executable, "-m", "rebuild_env", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)
