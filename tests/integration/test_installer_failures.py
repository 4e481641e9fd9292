"""The installer fails: a pin the index lacks, an index nobody answers at, a folder that
cannot be written, a disk that fills up. One line naming the cause, the documented exit
code, nothing left behind.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rebuild_env.errors import ExitCode
from tests.conftest import EXAMPLE_BUNDLE, CliResult, run_cli
from tests.integration.interruptible import closed_port

pytestmark = [pytest.mark.slow, pytest.mark.network]
FILE_SIZE_LIMIT = 2 << 20  # numpy's and scipy's shared libraries are larger


def _error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("rebuild-env: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def _bare_bundle(tmp_path: Path, requirements: str) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("model.joblib", "sample_input.npy", "sample_output.npy"):
        shutil.copy(EXAMPLE_BUNDLE / name, bundle / name)
    (bundle / "requirements.txt").write_text(requirements)
    return bundle


def _manifest_with(tmp_path: Path, name: str, version: str) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    manifest = yaml.safe_load((bundle / "bundle.yaml").read_text())
    for package in manifest["packages"]:
        if package["name"] == name:
            package["version"] = version
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return bundle


def _nothing_left(tmp_path: Path) -> None:
    assert not (tmp_path / "env").exists()
    leftovers = [p.name for p in tmp_path.iterdir() if "rebuild-env-old" in p.name]
    assert leftovers == []


def test_recorded_closure_with_a_version_the_index_lacks(tmp_path: Path) -> None:
    # a closed manifest is installed as recorded: the installer is the one to find out
    bundle = _manifest_with(tmp_path, "threadpoolctl", "0.0.999")
    done = run_cli(bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out")
    assert done.code == ExitCode.BUILD_FAILED
    line = _error_line(done.stderr)
    assert "package install failed" in line and "threadpoolctl==0.0.999" in line
    _nothing_left(tmp_path)


def test_requirement_with_a_version_the_index_lacks(tmp_path: Path) -> None:
    bundle = _bare_bundle(tmp_path, "scikit-learn==0.0.999\nnumpy==2.4.6\n")
    # --prefer-recorded: otherwise the model file's own scikit-learn version replaces the pin
    done = run_cli(
        bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out", "--prefer-recorded"
    )
    assert done.code == ExitCode.CANNOT_RESOLVE
    line = _error_line(done.stderr)
    assert "no version of scikit-learn==0.0.999" in line
    _nothing_left(tmp_path)


def test_unreachable_index_named_in_the_requirements(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/simple"
    bundle = _bare_bundle(tmp_path, f"--index-url {url}\nscikit-learn==1.9.1\nnumpy==2.4.6\n")
    done = run_cli(bundle, "--prefix", tmp_path / "env", "--out", tmp_path / "out")
    assert done.code == ExitCode.CANNOT_RESOLVE
    line = _error_line(done.stderr)
    assert url in line and "cannot be reached" in line and "Connection refused" in line
    _nothing_left(tmp_path)


def _run_with(env: dict[str, str], *args: str | Path, preexec: object = None) -> CliResult:
    done = subprocess.run(
        [sys.executable, "-m", "rebuild_env", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        preexec_fn=preexec,  # type: ignore[arg-type]
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def test_unreachable_index_while_installing(tmp_path: Path) -> None:
    # a closed manifest asks no index while planning; the installer meets the dead index
    url = f"http://127.0.0.1:{closed_port()}/simple"
    env = {**os.environ, "UV_INDEX_URL": url, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    done = _run_with(env, EXAMPLE_BUNDLE, "--prefix", tmp_path / "env", "--out", tmp_path / "out")
    assert done.code == ExitCode.BUILD_FAILED
    line = _error_line(done.stderr)
    assert f"{url}/" in line and "cannot be reached" in line and "Connection refused" in line
    assert "check the network" in line
    _nothing_left(tmp_path)


@contextlib.contextmanager
def _unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` unwritable: chmod 555, or (as root, who ignores modes) immutable."""
    folder.chmod(0o555)
    immutable = False
    try:
        if os.access(folder, os.W_OK):  # root: permission bits are not enforced
            chattr = shutil.which("chattr")
            if chattr is None or subprocess.run([chattr, "+i", folder], check=False).returncode:
                pytest.skip("running as root without chattr +i: no folder is unwritable")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", folder], check=True)
        folder.chmod(0o755)


def test_unwritable_prefix_parent(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    with _unwritable(parent):
        done = run_cli(EXAMPLE_BUNDLE, "--prefix", parent / "env", "--out", tmp_path / "out")
    assert done.code == ExitCode.BUILD_FAILED
    line = _error_line(done.stderr)
    assert f"{parent / 'env'}: cannot write the environment" in line
    assert "writable folder" in line
    assert list(parent.iterdir()) == []


def _small_disk() -> None:
    """In the child: files stop growing past a few MB, as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def test_disk_full_mid_install(tmp_path: Path) -> None:
    # copy, not hard-link, from uv's cache: the install has to write the files itself
    env = {**os.environ, "UV_LINK_MODE": "copy"}
    done = _run_with(
        env,
        EXAMPLE_BUNDLE,
        "--prefix",
        tmp_path / "env",
        "--out",
        tmp_path / "out",
        preexec=_small_disk,
    )
    assert done.code == ExitCode.BUILD_FAILED
    line = _error_line(done.stderr)
    assert "package install failed" in line
    assert "disk is full or a file size limit" in line
    _nothing_left(tmp_path)
