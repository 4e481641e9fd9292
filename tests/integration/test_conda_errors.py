"""``--backend conda`` on bad input: one clear line, the documented exit code, no prefix left."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rebuild_env.backends.conda import CHANNELS_ENV_VAR
from rebuild_env.errors import ExitCode
from tests.conftest import EXAMPLE_BUNDLE, run_cli


def _error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("rebuild-env: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def test_unknown_channel_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHANNELS_ENV_VAR, str(tmp_path / "no-such-channel"))
    done = run_cli(EXAMPLE_BUNDLE, "--backend", "conda", "--prefix", tmp_path / "env")
    assert done.code == ExitCode.BAD_INPUT
    assert "no-such-channel does not exist" in _error_line(done.stderr)
    assert not (tmp_path / "env").exists()


def test_unreachable_channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the default conda-forge gives on a machine without network: one line, exit 3.
    monkeypatch.setenv(CHANNELS_ENV_VAR, "https://conda.invalid/channel")
    out = tmp_path / "out"
    done = run_cli(EXAMPLE_BUNDLE, "--backend", "conda", "--prefix", tmp_path / "env", "--out", out)
    assert done.code == ExitCode.CANNOT_RESOLVE
    line = _error_line(done.stderr)
    assert "cannot read the conda channel(s) https://conda.invalid/channel" in line
    assert "local file:// channel" in line
    assert not (tmp_path / "env").exists()


def test_garbage_environment_yml(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(EXAMPLE_BUNDLE / "model.joblib", bundle)
    (bundle / "environment.yml").write_text("name: x\ndependencies: [numpy=1.2, {pip: 3}\n")
    done = run_cli(bundle, "--backend", "conda", "--prefix", tmp_path / "env")
    assert done.code == ExitCode.BAD_INPUT
    assert "environment.yml: is not valid YAML" in _error_line(done.stderr)
    assert not (tmp_path / "env").exists()
