"""The probe's OS sandbox, end to end: a trusted (``--trust``) hostile model runs its payload
inside the rebuilt environment, and the sandbox stops it from writing outside the probe's
folder and from connecting to a loopback listener; ``--no-sandbox`` shows the payload
really ran. The hostile file is only written here (pickling runs nothing), never loaded
in this process.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest

from rebuild_env.verify import sandbox_report as sandbox
from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.json_contract import SANDBOX_KEYS, VERIFICATION_KEYS, one_document

pytestmark = [
    pytest.mark.slow,
    pytest.mark.network,
    pytest.mark.skipif(not sandbox.available(), reason="the sandbox launcher is Linux-only"),
]

ACCEPT_WAIT_S = 1.0
MODEL_FAILED = 5
# Tries both things, then says what happened in the load error the report shows.
PAYLOAD = """
import socket
done = []
try:
    with open({marker!r}, "w") as handle:
        handle.write("payload")
    done.append("wrote")
except Exception as exc:
    done.append("write " + type(exc).__name__)
try:
    sock = socket.create_connection(("127.0.0.1", {port}), timeout=2)
    sock.sendall(b"payload")
    sock.close()
    done.append("connected")
except Exception as exc:
    done.append("connect " + type(exc).__name__)
raise RuntimeError("payload ran: " + ", ".join(done))
"""


class Payload:
    """Unpickles as ``exec(code)``."""

    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (self.code,)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(5)
    sock.settimeout(ACCEPT_WAIT_S)
    yield sock
    sock.close()


def connections(listener: socket.socket) -> list[bytes]:
    """What each connection the listener got sent."""
    got = []
    try:
        while True:
            conn, _ = listener.accept()
            with conn:
                got.append(conn.recv(64))
    except TimeoutError:
        return got


def hostile_bundle(folder: Path, marker: Path, port: int) -> Path:
    """The example bundle (same pins, so the same cached env) with a hostile model."""
    bundle = folder / "bundle"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    joblib.dump(Payload(PAYLOAD.format(marker=str(marker), port=port)), bundle / "model.joblib")
    return bundle


def rebuild_trusted(bundle: Path, out: Path, *extra: str) -> dict[str, object]:
    result = run_cli(bundle, "--trust", "--out", out, "--json", *extra)
    assert result.code == MODEL_FAILED, result.stdout + result.stderr
    return one_document(result.stdout)


def test_a_trusted_payload_cannot_write_outside_or_connect(
    tmp_path: Path, listener: socket.socket
) -> None:
    marker = tmp_path / "outside" / "MARKER"
    marker.parent.mkdir()
    bundle = hostile_bundle(tmp_path, marker, listener.getsockname()[1])
    doc = rebuild_trusted(bundle, tmp_path / "out")
    verification = doc["verification"]
    assert isinstance(verification, dict)
    assert "payload ran: write PermissionError, connect PermissionError" in str(
        verification["error"]
    )
    assert not marker.exists()
    assert connections(listener) == []
    assert verification["sandbox"]["mode"] == "on" and verification["sandbox"]["netns"]


def test_the_same_payload_without_the_sandbox_really_runs(
    tmp_path: Path, listener: socket.socket
) -> None:
    marker = tmp_path / "outside" / "MARKER"
    marker.parent.mkdir()
    bundle = hostile_bundle(tmp_path, marker, listener.getsockname()[1])
    doc = rebuild_trusted(bundle, tmp_path / "out", "--no-sandbox")
    verification = doc["verification"]
    assert isinstance(verification, dict)
    assert "payload ran: wrote, connected" in str(verification["error"])
    assert marker.read_text() == "payload"
    assert connections(listener) == [b"payload"]
    assert verification["sandbox"]["mode"] == "off"


def test_the_example_bundle_verifies_in_the_sandbox(tmp_path: Path) -> None:
    text = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--reverify")
    assert text.code == 0, text.stdout + text.stderr
    assert "predictions identical (150/150)" in text.stdout
    line = next(x for x in text.stdout.splitlines() if x.startswith("sandbox  "))
    assert "network namespace" in line and "warning  sandbox" not in text.stdout

    again = run_cli(EXAMPLE_BUNDLE, "--out", tmp_path / "out", "--reverify", "--json")
    assert again.code == 0, again.stderr
    doc = json.loads(again.stdout)
    assert set(doc["verification"]) == VERIFICATION_KEYS
    found = doc["verification"]["sandbox"]
    assert set(found) == SANDBOX_KEYS and found["mode"] == "on" and found["netns"]
    assert found["description"] == line.removeprefix("sandbox  ")
