"""A Python the machine lacks is downloaded by uv (issue 23), tested without the internet:
uv reads a custom downloads list (``UV_PYTHON_DOWNLOADS_JSON_URL``) that points at a local
archive built here from a pyenv CPython, laid out as python-build-standalone's
``install_only`` tarballs are (``python/bin/python3``, ``python/lib/...``)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_BUNDLE, pyenv_python, run_cli
from tests.json_contract import one_document

pytestmark = [pytest.mark.slow, pytest.mark.network]

MINOR = "3.10"  # one the test hides from discovery (the system python3 is another minor)
_SKIPPED = {"test", "site-packages", "__pycache__", "idlelib", "tkinter", "lib2to3", "config"}


def _skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    parts = set(Path(info.name).parts)
    return None if parts & _SKIPPED or any(p.startswith("config-") for p in parts) else info


def _standalone_archive(python: Path, dest: Path) -> tuple[Path, str]:
    """``python/{bin,lib}`` of a pyenv CPython as a .tar.gz; its path and version."""
    root = python.parent.parent
    version = root.name
    archive = dest / f"cpython-{version}-install_only.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        tar.add(root / "bin", arcname="python/bin")
        for item in sorted((root / "lib").iterdir()):
            tar.add(item, arcname=f"python/lib/{item.name}", filter=_skip)
    return archive, version


def _downloads_list(archive: Path, version: str, dest: Path) -> Path:
    major, minor, patch = (int(p) for p in version.split("."))
    arch = platform.machine()
    key = f"cpython-{version}-linux-{arch}-gnu"
    entry = {
        "name": "cpython",
        "arch": {"family": arch, "variant": None},
        "os": "linux",
        "libc": "gnu",
        "major": major,
        "minor": minor,
        "patch": patch,
        "prerelease": "",
        "url": archive.as_uri(),
        "sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
        "variant": None,
    }
    listing = dest / "downloads.json"
    listing.write_text(json.dumps({key: entry}))
    return listing


@pytest.fixture(scope="module")
def offline_downloads(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    """An environment in which no local Python 3.10 is found and uv's list is local."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the local downloads list is built for Linux")
    python = pyenv_python(MINOR)
    if python is None:
        pytest.skip(f"no pyenv CPython {MINOR} to build the archive from")
    work = tmp_path_factory.mktemp("python-downloads")
    archive, version = _standalone_archive(python, work)
    (work / "no-pyenv").mkdir()
    env = {
        **os.environ,
        "PATH": os.pathsep.join(p for p in ("/usr/bin", "/bin") if Path(p).is_dir()),
        "PYENV_ROOT": str(work / "no-pyenv"),
        "UV_PYTHON_INSTALL_DIR": str(work / "installed"),
        "UV_PYTHON_DOWNLOADS_JSON_URL": str(_downloads_list(archive, version, work)),
        "REBUILD_ENV_CACHE_DIR": str(work / "cache"),
    }
    for name in ("UV_PYTHON_DOWNLOADS", "CONDA_PREFIX", "CONDA_EXE", "MAMBA_ROOT_PREFIX"):
        env.pop(name, None)
    if any(Path(p, f"python{MINOR}").exists() for p in env["PATH"].split(os.pathsep)):
        pytest.skip(f"python{MINOR} is on the system PATH")
    return env, version


def test_forbidden_downloads_leave_the_old_error(
    offline_downloads: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, _ = offline_downloads
    result = run_cli(
        "plan", EXAMPLE_BUNDLE, "--python", MINOR, "--no-python-downloads", cwd=tmp_path, env=env
    )
    assert result.code == 3, result.stderr
    assert f"no Python {MINOR} interpreter found" in result.stderr
    assert "downloads are off" in result.stderr
    by_variable = run_cli(
        "plan",
        EXAMPLE_BUNDLE,
        "--python",
        MINOR,
        cwd=tmp_path,
        env={**env, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert by_variable.code == 3 and "downloads are off" in by_variable.stderr
    assert not Path(env["UV_PYTHON_INSTALL_DIR"]).exists()


def test_a_missing_python_is_downloaded_and_the_plan_says_so(
    offline_downloads: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, version = offline_downloads
    result = run_cli("plan", EXAMPLE_BUNDLE, "--python", MINOR, "--json", cwd=tmp_path, env=env)
    assert result.code == 0, result.stdout + result.stderr
    doc = one_document(result.stdout)
    interpreter = Path(doc["python"]["interpreter"])
    assert Path(env["UV_PYTHON_INSTALL_DIR"]) in interpreter.parents
    assert doc["python"]["version"] == version
    said = [w for w in doc["warnings"] if "downloaded" in w]
    assert len(said) == 1 and version in said[0] and "uv python install" in said[0]
    text = run_cli("plan", EXAMPLE_BUNDLE, "--python", MINOR, cwd=tmp_path, env=env).stdout
    assert f"from {interpreter}" in text and "downloaded" not in text  # now found locally
    assert list(tmp_path.iterdir()) == []
