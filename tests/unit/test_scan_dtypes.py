"""The scanner sizes and types numpy dtypes exactly as numpy rebuilds them (issue 19, rule 7).

Each dtype is pickled by numpy itself, then BUILT by the scanner's symbolic machine; its
layout must equal what ``pickle.loads`` gives numpy (itemsize, hasobject). States that
numpy would read differently from their code are refused, never guessed.
"""

from __future__ import annotations

import io
import pickle
import pickletools

import numpy as np
import pytest

from rebuild_env.pickle_scan import dtypes
from rebuild_env.pickle_scan.machine import Budget, Machine, Result, ScanError
from rebuild_env.pickle_scan.stream import ByteStream
from rebuild_env.pickle_scan.values import Obj

DTYPES = [
    "f8",
    ">f8",
    "<i4",
    "u1",
    "?",
    "f2",
    "c16",
    "c8",
    "i8",
    ">u8",
    "f4",
    "U1",
    "U40",
    ">U3",
    "S1",
    "S17",
    "V8",
    "O",
    "M8[ns]",
    "m8[s]",
    "M8",
    "float128",
    [("a", "f8"), ("b", "i4")],
    [("a", "f8"), ("b", "O")],
    [("x", "U5"), ("y", [("p", "O"), ("q", "i2")])],
    ("f8", (2, 3)),
    ("O", (2,)),
    [("a", ("f8", (2,))), ("b", "S3")],
]


def _layout_of_pickled(data: bytes) -> dtypes.Layout:
    """Walk the pickle; return the layout the machine recorded for the top dtype."""
    stream = ByteStream(io.BytesIO(data), "none", size=len(data))
    machine = Machine(stream, Result(), "test", Budget(limit=1 << 20), joblib=True)
    machine.run()
    assert isinstance(machine.value, Obj)
    return dtypes.layout_of(machine.value)


@pytest.mark.parametrize("spec", DTYPES, ids=str)
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
@pytest.mark.parametrize("align", [False, True])
def test_layout_matches_numpy(spec: object, protocol: int, align: bool) -> None:
    dtype = np.dtype(spec, align=align) if isinstance(spec, list) else np.dtype(spec)
    data = pickle.dumps(dtype, protocol=protocol)
    layout = _layout_of_pickled(data)
    rebuilt = pickle.loads(data)  # a dtype of the test's own making: safe to load
    assert (layout.itemsize, layout.has_object) == (rebuilt.itemsize, rebuilt.hasobject)


def _with_state(dtype: np.dtype, state: tuple[object, ...]) -> bytes:
    """A pickle of ``dtype`` whose BUILD state is ``state`` (numpy accepts many lies)."""
    cls, args, _ = dtype.__reduce__()

    class Forged:
        def __reduce__(self) -> tuple[object, ...]:
            return (cls, args, state)

    return pickle.dumps(Forged(), protocol=2)


LIES = [
    # (dtype, forged state, why numpy and a guess would disagree)
    ("V8", (3, "|", None, None, None, 32, 1, 0), "elsize says 32, the code 8"),
    ("U2", (3, "<", None, None, None, 40, 4, 8), "U2 with 40-byte items"),
    ("V16", (3, "|", None, None, None, 16, 1, 1), "object flag without object fields"),
    ("V16", (3, "|", None, ("a",), {"a": (np.dtype("O"), 0)}, 16, 1, 0), "object field, no flag"),
    ("f8", (3, "<", None, None, None, -1, -1, 1), "object flag on a float"),
    ("i4", (3, "<", (np.dtype("f8"), (2,)), None, None, -1, -1, 0), "subarray on an int"),
    ("V16", (3, "|", (np.dtype("f8"), (3,)), None, None, 16, 8, 0), "subarray overflows items"),
    ("V16", (7, "|", None, None, None, 16, 1, 0), "unknown state version"),
]


@pytest.mark.parametrize(("code", "state", "why"), LIES, ids=[lie[2] for lie in LIES])
def test_states_numpy_reads_differently_are_refused(
    code: str, state: tuple[object, ...], why: str
) -> None:
    with pytest.raises(ScanError):
        _layout_of_pickled(_with_state(np.dtype(code), state))


def _dtype_pickle(code: str) -> bytes:
    return (
        b"\x80\x02cnumpy\ndtype\nq\x00X"
        + len(code).to_bytes(4, "little")
        + code.encode()
        + b"\x89\x88\x87q\x01Rq\x02(K\x03X\x01\x00\x00\x00<q\x03NNN"
        + b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x04b."
    )


def test_a_code_numpy_writes_is_read() -> None:
    assert _layout_of_pickled(_dtype_pickle("f8")) == dtypes.Layout(8, False, "f8")


@pytest.mark.parametrize("code", ["(2,)f8", "f8,O", "float64", "d", "<f8,<i4", "S", "U"])
def test_codes_numpy_never_writes_are_refused(code: str) -> None:
    data = _dtype_pickle(code)
    pickletools.dis(data, out=io.StringIO())  # a well-formed pickle...
    with pytest.raises(ScanError):  # ...whose dtype code the scanner will not guess at
        _layout_of_pickled(data)
