"""Ctrl-C and SIGKILL at every stage (read, plan, build, verify), on both backends, through
the real CLI.

Each stage is made long in a way a user can meet: a huge requirements file (read), a
package index that accepts connections and never answers (plan), a cold package cache
(build), a model whose ``transform`` sleeps (verify). The progress lines on stderr name
each stage; the signal is sent once the stage (or the child process it runs) is under way.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import joblib
import numpy as np
import pytest
import yaml
from sklearn.preprocessing import FunctionTransformer

from rebuild_env.backends.base import INCOMPLETE_MARKER, is_complete
from rebuild_env.verify.store import VERIFIED_FILE
from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.integration.conda_channel import conda_channel
from tests.integration.interruptible import (
    CliRun,
    hung_server,
    mentioning,
    outliving,
    still_running,
)

pytestmark = [pytest.mark.slow, pytest.mark.network]
__all__ = ["conda_channel"]

STAGE_TIMEOUT_S = 120  # time to reach the stage (a cold conda build is part of it for verify)
EXIT_WITHIN_S = 10  # "within a few seconds": the installer/probe gets 3 s per signal step
READ_PADDING_LINES = 200_000  # ~15 MB of marker-laden pins: tens of seconds to read
STAGES = ("read", "plan", "build", "verify")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """One bundle per stage, each making that stage long."""
    root = tmp_path_factory.mktemp("slow-stage-bundles")
    samples = ("model.joblib", "sample_input.npy", "sample_output.npy")

    read = root / "read"
    read.mkdir()
    for name in samples:
        shutil.copy(EXAMPLE_BUNDLE / name, read / name)
    padding = (
        f"numpy==2.4.6 ; python_version >= '3.{i % 50}' and platform_system != 'Plan9-{i}'\n"
        for i in range(READ_PADDING_LINES)
    )
    (read / "requirements.txt").write_text("scikit-learn==1.9.1\n" + "".join(padding))

    sleepy = root / "verify"
    shutil.copytree(EXAMPLE_BUNDLE, sleepy)
    joblib.dump(FunctionTransformer(func=time.sleep), sleepy / "model.joblib")
    np.save(sleepy / "sample_input.npy", np.array(3600), allow_pickle=False)
    (sleepy / "sample_output.npy").unlink()
    manifest = yaml.safe_load((sleepy / "bundle.yaml").read_text())
    manifest["model"]["method"] = "transform"
    manifest["sample"] = {"input": "sample_input.npy"}
    (sleepy / "bundle.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))

    with hung_server() as port:
        plan = root / "plan"
        plan.mkdir()
        for name in samples:
            shutil.copy(EXAMPLE_BUNDLE / name, plan / name)
        (plan / "requirements.txt").write_text(
            f"--index-url http://127.0.0.1:{port}/simple\nscikit-learn==1.9.1\nnumpy==2.4.6\n"
        )
        yield {"read": read, "plan": plan, "build": EXAMPLE_BUNDLE, "verify": sleepy}


def _backend_args(backend: str, request: pytest.FixtureRequest) -> list[str]:
    if backend == "venv":
        return ["--backend", "venv"]
    channel = request.getfixturevalue("conda_channel")
    return ["--backend", "conda", "--channel", channel]


def _start(
    stage: str,
    backend: str,
    bundles: dict[str, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> CliRun:
    """Start a rebuild and return once it is well inside ``stage``."""
    env = {**os.environ, "REBUILD_ENV_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("REBUILD_ENV_CONDA_CHANNELS", None)
    if stage == "build" and backend == "venv":
        env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")  # cold: the install takes seconds
    args: list[str | Path] = [
        bundles[stage],
        *_backend_args(backend, request),
        "--prefix",
        tmp_path / "env",
        "--out",
        tmp_path / "out",
        "--allow-module",
        "time",  # the verify-stage model calls time.sleep
    ]
    run = CliRun.start(*args, env=env)
    if stage == "verify":
        run.wait_for_child("probe.py", STAGE_TIMEOUT_S)
    elif stage == "build" and backend == "venv":
        run.wait_for_child("pip install", STAGE_TIMEOUT_S)
    elif stage == "build":
        # py-rattler installs from the local channel in under a second, in-process: wait
        # for the build's own marker rather than a fixed time after the stage line
        marker = tmp_path / "env" / INCOMPLETE_MARKER
        run.wait_until(marker.exists, "the conda build's incomplete marker", STAGE_TIMEOUT_S)
        return run
    else:
        run.wait_for_stage(stage, STAGE_TIMEOUT_S)
    run.linger(0.5)
    return run


@pytest.mark.parametrize("backend", ["venv", "conda"])
@pytest.mark.parametrize("stage", STAGES)
def test_ctrl_c_at_each_stage(
    stage: str,
    backend: str,
    bundles: dict[str, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    run = _start(stage, backend, bundles, tmp_path, request)
    took = run.signal(signal.SIGINT, timeout=60)

    assert run.proc.returncode == 130, run.stderr
    assert took < EXIT_WITHIN_S, f"took {took:.1f} s to stop"
    assert "Traceback" not in run.stderr
    errors = [line for line in run.lines if line.startswith("rebuild-env: error:")]
    assert len(errors) == 1 and "interrupted" in errors[0], run.stderr
    # the installer / probe were stopped with the CLI, not left running
    assert still_running(run.seen) == []
    assert mentioning(str(tmp_path)) == []
    prefix = tmp_path / "env"
    if stage == "verify":
        # the environment was complete before the probe started: it stays, unverified
        assert is_complete(prefix) and not (prefix / VERIFIED_FILE).exists()
    else:
        assert not prefix.exists(), sorted(p.name for p in prefix.iterdir())


@pytest.mark.parametrize("backend", ["venv", "conda"])
@pytest.mark.parametrize("stage", ["build", "verify"])
def test_sigkill_then_the_next_run_needs_no_force(
    stage: str,
    backend: str,
    bundles: dict[str, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    run = _start(stage, backend, bundles, tmp_path, request)
    run.signal(signal.SIGKILL, timeout=30)
    prefix = tmp_path / "env"
    if stage == "build":
        assert (prefix / INCOMPLETE_MARKER).exists()  # what a killed build leaves
    else:
        assert is_complete(prefix)
    # nothing the killed run started outlives it
    assert outliving(run.seen) == [], "children outlived the killed CLI"

    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("REBUILD_ENV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("REBUILD_ENV_CONDA_CHANNELS", raising=False)
    bundle = bundles["build"] if stage == "build" else bundles["verify"]
    extra = ["--timeout", "3"] if stage == "verify" else []
    again = run_cli(
        bundle,
        *_backend_args(backend, request),
        "--prefix",
        prefix,
        "--out",
        tmp_path / "out",
        "--allow-module",
        "time",
        *extra,
    )
    if stage == "build":
        assert again.code == 0, again.stderr
        assert "predictions identical" in again.stdout
    else:
        # the complete env is reused as it is; the sleepy model now times out (exit 8)
        assert again.code == 8, again.stdout + again.stderr
    assert is_complete(prefix)
