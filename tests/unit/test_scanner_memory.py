"""The scanner's memory stays bounded whatever the file: huge declared lengths, compression
bombs, endless memo entries, stack growth, global references by the hundred thousand.
It answers with a report (refusing what it cannot account for) and never raises.
"""

from __future__ import annotations

import bz2
import json
import lzma
import os
import pickletools
import struct
import subprocess
import sys
import tempfile
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebuild_env.pickle_scan import scan_file

PROPERTY_PEAK_BYTES = 32 << 20  # generated files are below a few MB decompressed
BOMB_EXTRA_RSS_KB = 96 << 10  # above an interpreter that imported the scanner
HONEST_PAYLOAD = 32 << 20
BOMB_PAYLOAD = 300 << 20
BOMB_OPS = 3 << 20
PROTO4 = b"\x80\x04"
COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "raw": lambda data: data,
    "zlib": zlib.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
}

UNLISTED_GLOBAL = b"\x8c\x07sklearn\x8c\x0fLinearRegression\x93"  # not where the class lives

# Building blocks of hostile pickles (each leaves the stack as it found it, or grows it).
BLOCKS = st.sampled_from(
    [
        b"N\x94",  # push None, MEMOIZE
        b"N\x940",  # push, MEMOIZE, POP
        b"2",  # DUP
        b"(",  # MARK
        b"]\x94(NNe",  # EMPTY_LIST, MEMOIZE, MARK, items, APPENDS
        b"}(\x8c\x01a\x94N\x8c\x01b\x94Nu",  # EMPTY_DICT, SETITEMS with memoized keys
        b"q\x07",  # BINPUT 7
        b"r\xff\xff\xff\x7f",  # LONG_BINPUT 2**31-1
        b"h\x00",  # BINGET 0
        b"\x8e" + struct.pack("<Q", 1 << 33),  # BINBYTES8 declaring 8 GiB
        b"B\xff\xff\xff\x7f",  # BINBYTES declaring 2 GiB
        UNLISTED_GLOBAL,  # STACK_GLOBAL
        b"\x95" + struct.pack("<Q", 1 << 40),  # FRAME declaring 1 TiB
        b"X" + struct.pack("<I", 4000) + b"x" * 4000,  # a long kept string
    ]
)


def _well_formed(body: bytes) -> bool:
    """pickletools walks it to a STOP that ends the data (what a loader could load)."""
    try:
        ops = list(pickletools.genops(body))
    except (ValueError, EOFError):
        return False
    last = ops[-1]
    return last[0].name == "STOP" and (last[2] or 0) + 1 == len(body)


def _check(report_safe: bool, body: bytes) -> None:
    """The verdict a loader would agree with: never safe for a body that is not a whole
    pickle or that names a global off the allow-list."""
    if not _well_formed(body):
        assert not report_safe, f"a malformed pickle reported safe ({len(body)} bytes)"
    if UNLISTED_GLOBAL in body:
        assert not report_safe, "sklearn.LinearRegression (no such global) reported safe"


def _scan_bytes(data: bytes) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pkl"
        path.write_bytes(data)
        return scan_file(path).safe


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(st.tuples(BLOCKS, st.integers(1, 20_000)), min_size=1, max_size=6),
    container=st.sampled_from(sorted(COMPRESSORS)),
    stop=st.booleans(),
)
def test_hostile_pickles_stay_within_a_memory_bound(
    blocks: list[tuple[bytes, int]], container: str, stop: bool
) -> None:
    body = PROTO4 + b"".join(block * times for block, times in blocks) + (b"N." if stop else b"")
    data = COMPRESSORS[container](body)
    tracemalloc.start()  # the scan alone: the test's own checks run outside the window
    try:
        safe = _scan_bytes(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _check(safe, body)
    assert peak < PROPERTY_PEAK_BYTES, f"{peak / 1e6:.0f} MB for {len(body)} bytes"


_CHILD = """
import json, resource, sys
from pathlib import Path
from rebuild_env.pickle_scan import scan_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
report = scan_file(Path(sys.argv[1]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_kb": after - before, "safe": report.safe, "error": report.error}))
"""


def _bomb(kind: str) -> bytes:
    if kind == "honest":  # 32 MB of random bytes: compresses 1:1, so it is no bomb
        data = os.urandom(HONEST_PAYLOAD)
        return PROTO4 + b"\x8e" + struct.pack("<Q", len(data)) + data + b"."
    if kind == "payload":  # 300 MB of zeros behind an honest length
        return PROTO4 + b"\x8e" + struct.pack("<Q", BOMB_PAYLOAD) + bytes(BOMB_PAYLOAD) + b"."
    if kind == "memo":
        return PROTO4 + b"N" + b"\x94" * BOMB_OPS + b"."
    if kind == "stack":
        return PROTO4 + b"N" + b"2" * BOMB_OPS + b"."
    # the same two memoized strings named as a global again and again
    head = PROTO4 + b"\x8c\x07sklearn\x94\x8c\x10LinearRegression\x94"
    return head + b"h\x00h\x01\x930" * (BOMB_OPS // 8) + b"N."


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "container"),
    [
        ("honest", "zlib"),
        ("payload", "zlib"),
        ("payload", "bz2"),
        ("payload", "xz"),
        ("memo", "zlib"),
        ("stack", "zlib"),
        ("globals", "zlib"),
    ],
)
def test_compression_bombs_are_walked_in_bounded_memory(
    kind: str, container: str, tmp_path: Path
) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(COMPRESSORS[container](_bomb(kind)))
    if kind != "honest":
        assert path.stat().st_size < 1 << 20  # a small file...
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, path], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    assert result["grew_kb"] < BOMB_EXTRA_RSS_KB, result  # ...never held inflated
    if kind == "honest":
        assert result["safe"], result  # skipped, chunk by chunk, to the STOP behind it
    elif kind == "payload":  # inflates past its budget: too large to prove safe
        assert not result["safe"] and "decompresses to more than" in result["error"], result
    else:
        assert (not result["safe"] and "more than" in result["error"]) or "past" in result["error"]
