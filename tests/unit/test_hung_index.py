"""A package index that accepts the connection and never answers: ``uv pip compile`` hangs.

Before, its timeout (``CommandTimeout``) fell outside the error hierarchy and came out as
"internal error ... please report it" (exit 1). Now it is one line with exit code 4.
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from rebuild_env import index, resolve
from rebuild_env.cli import main
from rebuild_env.errors import ExitCode
from tests.conftest import EXAMPLE_BUNDLE

SHORT_TIMEOUT_S = 3.0


@pytest.fixture
def silent_index() -> Iterator[str]:
    """A URL whose server accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/simple"


def test_a_hung_resolver_is_one_line_with_exit_4(
    tmp_path: Path,
    silent_index: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("model.joblib", "sample_input.npy", "sample_output.npy"):
        shutil.copy(EXAMPLE_BUNDLE / name, bundle / name)
    (bundle / "requirements.txt").write_text(f"--index-url {silent_index}\nscikit-learn\n")
    monkeypatch.setattr(resolve, "COMPILE_TIMEOUT_S", SHORT_TIMEOUT_S)
    monkeypatch.setattr(index, "REQUEST_TIMEOUT_S", SHORT_TIMEOUT_S)

    code = main(["plan", str(bundle), "--out", str(tmp_path / "out"), "-q"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == ExitCode.BUILD_FAILED, err
    assert err[-1].startswith("rebuild-env: error: uv pip compile did not finish within 3 s")
    assert "check the network" in err[-1] and "internal error" not in "\n".join(err)
