"""joblib array payloads: the scanner skips exactly the bytes joblib reads as data.

Each hostile variant is a real ``joblib.dump`` file edited so that joblib would read the
payload from somewhere else than a naive scanner assumes; the scanner must refuse it.
The unedited file is the control: it must pass, or the edits prove nothing.
"""

from __future__ import annotations

import pickle
import pickletools
import struct
from pathlib import Path

import joblib
import numpy as np
import pytest

from rebuild_env.pickle_scan import scan_file

STATE_KEY = b"\x8c\x05order"  # SHORT_BINUNICODE 'order': a key of the wrapper's state


def _real(tmp_path: Path) -> bytes:
    path = tmp_path / "real.joblib"
    joblib.dump(np.arange(5.0), path, protocol=4)
    return path.read_bytes()


def _frame(data: bytes) -> tuple[int, int]:
    """The first FRAME opcode's position and length."""
    for op, arg, pos in pickletools.genops(data):
        if op.name == "FRAME":
            assert isinstance(arg, int)
            return pos, arg
    raise AssertionError("no frame")


def _with_frame(data: bytes, length: int) -> bytes:
    pos, _ = _frame(data)
    return data[: pos + 1] + struct.pack("<Q", length) + data[pos + 9 :]


def _insert_in_state(data: bytes, items: bytes) -> bytes:
    """Insert key/value opcodes before the wrapper state's 'order' key (inside its MARK)."""
    at = data.index(STATE_KEY)
    _, length = _frame(data)
    return _with_frame(data[:at] + items + data[at:], length + len(items))


def _scan(tmp_path: Path, data: bytes) -> tuple[bool, str]:
    path = tmp_path / "model.joblib"
    path.write_bytes(data)
    report = scan_file(path)
    return report.safe, report.error


def test_the_unedited_file_passes(tmp_path: Path) -> None:
    assert _scan(tmp_path, _real(tmp_path)) == (True, "")


def test_a_payload_inside_a_frame_is_refused(tmp_path: Path) -> None:
    data = _real(tmp_path)
    _, length = _frame(data)
    safe, error = _scan(tmp_path, _with_frame(data, length + 8))
    assert not safe
    assert "frame" in error


ALIGNMENT = b"\x8c\x1bnumpy_array_alignment_bytes\x94"
REAL_ALIGNMENT = b"K\x10"  # joblib 1.x writes 16, then a padding-length byte and padding


@pytest.mark.parametrize(
    ("value", "reads_padding"),
    [
        (REAL_ALIGNMENT, True),
        (b"N", False),  # None: joblib reads no padding byte
        (b"\x88", True),  # True is not None either: joblib reads the padding
        (b"G" + struct.pack(">d", 16.0), None),  # a float: not modelled, refused
    ],
)
def test_alignment_is_read_exactly_when_joblib_reads_it(
    tmp_path: Path, value: bytes, reads_padding: bool | None
) -> None:
    data = _real(tmp_path)
    at = data.index(ALIGNMENT + REAL_ALIGNMENT) + len(ALIGNMENT)
    assert data.count(ALIGNMENT) == 1
    pos, length = _frame(data)
    frame_end = pos + 9 + length
    padding = data[frame_end]
    edited = data[:at] + value + data[at + len(REAL_ALIGNMENT) :]
    shift = len(value) - len(REAL_ALIGNMENT)
    if reads_padding is False:  # as joblib would have written it: no padding section
        start = frame_end + shift
        edited = edited[:start] + edited[start + 1 + padding :]
    safe, error = _scan(tmp_path, _with_frame(edited, length + shift))
    if reads_padding is None:
        assert not safe
        assert "alignment" in error
    else:
        assert safe, error


def test_a_state_key_the_scanner_cannot_read_is_refused(tmp_path: Path) -> None:
    # ('numpy_array_alignment_bytes' built by str(b'...', 'ascii') would be invisible)
    key = b"\x8c\x08builtins\x8c\x03str\x93" + b"C\x1bnumpy_array_alignment_bytes\x8c\x05ascii\x86R"
    data = _real(tmp_path)
    safe, error = _scan(tmp_path, _insert_in_state(data, key + b"K\x10"))
    assert not safe
    assert "unreadable state" in error


def test_a_wrapper_passed_as_a_value_is_refused(tmp_path: Path) -> None:
    # a tuple holding the wrapper class (for a partial, a reconstructor...) instead of NEWOBJ
    data = _real(tmp_path)
    at = data.index(b")\x81")  # EMPTY_TUPLE NEWOBJ after the wrapper's STACK_GLOBAL
    edited = data[:at] + b"\x85)\x81" + data[at + 2 :]  # TUPLE1 of the class first
    _, length = _frame(data)
    safe, error = _scan(tmp_path, _with_frame(edited, length + 1))
    assert not safe
    assert "wrapper" in error


def test_protocol_0_escapes_are_decoded_as_pickle_does(tmp_path: Path) -> None:
    # 'o\x73' is 'os' once escape-decoded: the scanner must see os.system, not 'o\\x73'
    data = b"(S'o\\x73'\nS'system'\n\x93S'true'\n\x85R."
    path = tmp_path / "model.pkl"
    path.write_bytes(data)
    report = scan_file(path)
    assert ("os", "system") in {(g.module, g.name) for g in report.globals}
    assert not report.safe
    assert pickle.loads  # (nothing here is ever loaded)
