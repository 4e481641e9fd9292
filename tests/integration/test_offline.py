"""Offline bundles for real: pack from the index, then rebuild with no way to reach it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_BUNDLE, CliResult, run_cli
from tests.json_contract import assert_valid, one_document

pytestmark = [pytest.mark.slow, pytest.mark.network]

NOWHERE = "http://127.0.0.1:9/simple"  # the discard port: connection refused
WHEELS = Path("artifacts", "venv", "wheels")


def _unshare_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    done = subprocess.run([unshare, "-n", "true"], capture_output=True, check=False)
    return done.returncode == 0


def _offline_env(tmp: Path) -> dict[str, str]:
    """The installers pointed at a closed port, every cache empty."""
    env = dict(os.environ)
    env.update(
        UV_INDEX_URL=NOWHERE,
        PIP_INDEX_URL=NOWHERE,
        UV_CACHE_DIR=str(tmp / "uv-cache"),
        REBUILD_ENV_CACHE_DIR=str(tmp / "rebuild-env-cache"),
    )
    return env


def _run(*args: str | Path, env: Mapping[str, str], prefix: list[str] | None = None) -> CliResult:
    done = subprocess.run(
        [*(prefix or []), sys.executable, "-m", "rebuild_env", *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(env),
        timeout=900,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example bundle, packed for the venv backend."""
    bundle = tmp_path_factory.mktemp("packed") / "iris-logreg"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    result = run_cli("pack", bundle, "--json")
    assert result.code == 0, result.stderr
    doc = one_document(result.stdout)
    assert_valid(doc, "pack")
    names = {a["name"] for a in doc["artifacts"]}
    assert {"scikit-learn", "numpy", "scipy", "joblib", "pip"} <= names
    assert all((bundle / WHEELS / a["filename"]).is_file() for a in doc["artifacts"])
    assert (bundle / "bundle.yaml").read_bytes() == (EXAMPLE_BUNDLE / "bundle.yaml").read_bytes()
    return bundle


def _copy(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / bundle.name
    shutil.copytree(bundle, target)
    return target


def _assert_identical(result: CliResult) -> None:
    assert result.code == 0, result.stderr
    doc = one_document(result.stdout)
    assert_valid(doc, "rebuild")
    assert doc["status"] == "identical"
    assert doc["verification"]["comparison"]["equal_rows"] == 150


def test_offline_rebuild_with_the_index_pointing_nowhere(packed: Path, tmp_path: Path) -> None:
    env = _offline_env(tmp_path)
    result = _run(packed, "--offline", "--prefix", tmp_path / "env", "--json", env=env)
    _assert_identical(result)
    assert (tmp_path / "env" / "bin" / "pip").exists()  # pip came from the bundle too


@pytest.mark.skipif(not _unshare_works(), reason="no network namespaces here (unshare -n)")
def test_offline_rebuild_in_a_network_namespace(packed: Path, tmp_path: Path) -> None:
    env = _offline_env(tmp_path)
    del env["UV_INDEX_URL"], env["PIP_INDEX_URL"]  # no network at all: the defaults are fine
    result = _run(packed, "--offline", "--no-cache", "--json", env=env, prefix=["unshare", "-n"])
    _assert_identical(result)


def test_offline_fails_before_building_naming_a_deleted_wheel(packed: Path, tmp_path: Path) -> None:
    bundle = _copy(packed, tmp_path)
    numpy = next((bundle / WHEELS).glob("numpy-*.whl"))
    numpy.unlink()
    prefix = tmp_path / "env"
    result = _run(bundle, "--offline", "--prefix", prefix, env=_offline_env(tmp_path))
    assert result.code == 2, result.stderr
    assert f"{numpy.name} (missing)" in result.stderr
    assert "rebuild-env pack" in result.stderr
    assert not prefix.exists()


def test_offline_refuses_a_tampered_wheel(packed: Path, tmp_path: Path) -> None:
    bundle = _copy(packed, tmp_path)
    joblib = next((bundle / WHEELS).glob("joblib-*.whl"))
    with joblib.open("ab") as handle:
        handle.write(b"\0")
    prefix = tmp_path / "env"
    result = _run(bundle, "--offline", "--prefix", prefix, "--json", env=_offline_env(tmp_path))
    assert result.code == 2
    doc = one_document(result.stdout)
    assert_valid(doc, "error")
    assert f"{joblib.name} (sha256 differs" in doc["error"]
    assert not prefix.exists()


def test_packing_again_gives_the_same_artifacts(packed: Path, tmp_path: Path) -> None:
    bundle = _copy(packed, tmp_path)
    before = json.dumps(sorted(p.name for p in (bundle / WHEELS).iterdir()))
    env = _offline_env(tmp_path)  # an empty uv cache; the wheels come from the bundle
    env.pop("UV_INDEX_URL")
    env.pop("PIP_INDEX_URL")
    result = _run("pack", bundle, env=env)
    assert result.code == 0, result.stderr
    assert json.dumps(sorted(p.name for p in (bundle / WHEELS).iterdir())) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_interrupted_pack_leaves_nothing_that_looks_complete(
    tmp_path: Path, sig: signal.Signals
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    env = dict(os.environ, REBUILD_ENV_CACHE_DIR=str(tmp_path / "cache"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rebuild_env", "pack", bundle],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 120
    staged: list[Path] = []
    while not staged and proc.poll() is None and time.monotonic() < deadline:
        staged = list((bundle / "artifacts").glob(".packing-venv-*/wheels/*"))
        time.sleep(0.01)
    if proc.poll() is not None:
        pytest.skip("the pack finished before it could be interrupted")
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert not (bundle / "artifacts" / "venv").exists(), stderr
    result = run_cli(bundle, "--offline", "--dry-run", "--out", tmp_path / "o")
    assert result.code == 2 and "carries no artifacts" in result.stderr
    if sig == signal.SIGINT:
        assert proc.returncode == 130, stderr
        assert not (bundle / "artifacts").exists()
