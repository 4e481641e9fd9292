"""An unwritable cache, made so for real: a read-only tmpfs or bind mount (the tests run as
root, so ``chmod`` alone stops nothing), inside ``unshare -m`` so no mount outlives the test.

Before, each case was "internal error ... report it" (exit 1). Now a build that needs the
cache says so in one line naming the path and ``REBUILD_ENV_CACHE_DIR`` (exit 4); a cache
hit and a ``--prefix`` build need no write access to it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rebuild_env.errors import ExitCode
from tests.conftest import EXAMPLE_BUNDLE, CliResult, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.network]

RUN_TIMEOUT_S = 900


def _in_mount_namespace(mounts: list[str], env: dict[str, str], *args: str | Path) -> CliResult:
    """Run the CLI after ``mounts`` (shell commands) in a private mount namespace."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    cli = shlex.join([sys.executable, "-m", "rebuild_env", *map(str, args)])
    script = " && ".join([*mounts, f"exec {cli}"])
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    if "mount:" in done.stderr or "unshare:" in done.stderr:
        pytest.skip(f"mounting is not permitted here: {done.stderr.strip()[:200]}")
    return CliResult(done.returncode, done.stdout, done.stderr)


def _read_only_tmpfs(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return f"mount -t tmpfs -o ro tmpfs {shlex.quote(str(folder))}"


def _one_line_naming(result: CliResult, cache: Path) -> None:
    assert result.code == ExitCode.BUILD_FAILED, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"rebuild-env: error: {cache}: the rebuild-env cache cannot be written")
    assert "REBUILD_ENV_CACHE_DIR" in line and "internal error" not in line


def test_cache_dir_that_is_a_file(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(cache)}
    _one_line_naming(run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", "-q", env=env), cache)


def test_read_only_cache_mount(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(cache)}
    done = _in_mount_namespace(
        [_read_only_tmpfs(cache)], env, EXAMPLE_BUNDLE, "--out", tmp_path, "-q"
    )
    _one_line_naming(done, cache)


def test_read_only_home_without_a_cache_variable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        k: v for k, v in os.environ.items() if k not in ("REBUILD_ENV_CACHE_DIR", "XDG_CACHE_HOME")
    }
    env["HOME"] = str(home)
    done = _in_mount_namespace(
        [_read_only_tmpfs(home)], env, EXAMPLE_BUNDLE, "--out", tmp_path, "-q"
    )
    _one_line_naming(done, home / ".cache" / "rebuild-env")


def test_read_only_cache_with_a_writable_prefix_builds(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(cache)}
    prefix = tmp_path / "env"
    args = (EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--prefix", prefix)
    done = _in_mount_namespace([_read_only_tmpfs(cache)], env, *args)
    assert done.code == 0, done.stderr
    assert "predictions identical" in done.stdout and (prefix / "bin" / "python").exists()


def test_read_only_cache_holding_a_verified_env_is_a_cache_hit(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(cache)}
    first = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--json", env=env)
    assert first.code == 0, first.stderr
    quoted = shlex.quote(str(cache))
    bind = [f"mount --bind {quoted} {quoted}", f"mount -o remount,ro,bind {quoted}"]
    done = _in_mount_namespace(bind, env, EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--json")
    assert done.code == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["reused_env"] and doc["verification"]["reused_from"]
