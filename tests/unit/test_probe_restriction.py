"""Every unpickle in the probe's process is restricted, not only the top-level one (issue 19).

These tests play the case where the host's scan missed something: the probe is handed an
allow-list without the payload's global, and the payload must still not run. Each payload
is first shown to fire when the probe is told the file is trusted (no list), or the test
would prove nothing. Files are only ever loaded in the probe's own subprocess.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest

PROBE = Path(__file__).parents[2] / "src" / "rebuild_env" / "verify" / "probe.py"
OUTER = [
    ["joblib.numpy_pickle", "NumpyArrayWrapper"],
    ["numpy", "ndarray"],
    ["numpy", "dtype"],
    ["numpy._core.multiarray", "_reconstruct"],
    ["numpy.core.multiarray", "_reconstruct"],
]


class Touch:
    """Unpickling it runs ``touch MARKER`` (the test's own sentinel)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


def _probe(tmp_path: Path, model: Path, allowed: list[list[str]] | None) -> dict[str, object]:
    request = {
        "model": str(model),
        "loader": "joblib",
        "method": "predict",
        "input": None,
        "expected": None,
        "allowed_globals": allowed,
        "tolerance": None,
    }
    req, res = tmp_path / "request.json", tmp_path / "result.json"
    req.write_text(json.dumps(request))
    subprocess.run([sys.executable, "-I", str(PROBE), str(req), str(res)], check=True, timeout=120)
    result: dict[str, object] = json.loads(res.read_text())
    return result


@pytest.fixture
def nested(tmp_path: Path) -> tuple[Path, Path]:
    """A joblib file whose object array's nested pickle (plain pickle.load) runs a command."""
    marker = tmp_path / "nested-fired"
    model = tmp_path / "model.joblib"
    joblib.dump(np.array([Touch(marker)], dtype=object), model)
    return model, marker


def test_the_nested_payload_fires_when_trusted(tmp_path: Path, nested: tuple[Path, Path]) -> None:
    model, marker = nested
    _probe(tmp_path, model, allowed=None)
    assert marker.exists()


def test_a_nested_object_array_pickle_is_restricted(
    tmp_path: Path, nested: tuple[Path, Path]
) -> None:
    model, marker = nested
    result = _probe(tmp_path, model, allowed=OUTER)
    assert not marker.exists()
    error = result["error"]
    assert isinstance(error, dict)
    assert error["refused"] is True
    assert "posix.system" in str(error["message"])


RESTRICTED_CALLS = {
    "pickle.loads": "pickle.loads(data)",
    "pickle.load": "pickle.load(io.BytesIO(data))",
    "pickle.Unpickler": "pickle.Unpickler(io.BytesIO(data)).load()",
    "pickle._loads": "pickle._loads(data)",
    "numpy.load": "numpy.load(path, allow_pickle=True)",
}

_CHILD = r"""
import importlib.util, io, json, pickle, sys
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
probe = importlib.util.module_from_spec(spec); spec.loader.exec_module(probe)
probe.restrict_unpickling()
import numpy
probe.set_policy({"allowed_globals": json.loads(sys.argv[4])})
path = sys.argv[2]
data = open(path, "rb").read()
try:
    CALL
    print("loaded")
except probe.Refused as exc:
    print("refused", exc)
"""


def _child(tmp_path: Path, call: str, payload: Path, allowed: list[list[str]]) -> str:
    code = _CHILD.replace("CALL", call)
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(PROBE), str(payload), "", json.dumps(allowed)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip()


@pytest.mark.parametrize("name", sorted(RESTRICTED_CALLS))
def test_every_unpickler_of_the_process_is_restricted(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "fired"
    payload = tmp_path / "payload.pkl"
    payload.write_bytes(pickle.dumps(Touch(marker), protocol=2))
    assert _child(tmp_path, RESTRICTED_CALLS[name], payload, [["posix", "system"]]) == "loaded"
    assert marker.exists()  # the payload fires where the list allows it...
    marker.unlink()
    out = _child(tmp_path, RESTRICTED_CALLS[name], payload, OUTER)
    assert out.startswith("refused"), out  # ...and is refused where it does not
    assert not marker.exists()


def test_allocations_asked_for_by_the_file_are_bounded(tmp_path: Path) -> None:
    payload = tmp_path / "alloc.pkl"
    payload.write_bytes(
        b"\x80\x02c__builtin__\nbytearray\n\x8a\x06\x00\x00\x00\x00\x00\x01\x85R."
    )  # bytearray(2**40)
    allowed = [["builtins", "bytearray"]]
    out = _child(tmp_path, "pickle.loads(data)", payload, allowed)
    assert out.startswith("refused") and "allocation" in out, out
    small = tmp_path / "small.pkl"
    small.write_bytes(pickle.dumps(bytearray(b"ok"), protocol=2))
    assert (
        _child(tmp_path, "pickle.loads(data)", small, [*allowed, ["_codecs", "encode"]]) == "loaded"
    )
