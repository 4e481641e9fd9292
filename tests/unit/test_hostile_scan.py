"""The scanner in-process on every hostile payload of ``tests/hostile`` (issue 19).

Each payload is proven to fire under plain ``joblib.load`` (all of them in one scratch
process, for speed); then ``scan_file`` must not call it safe. A payload the scanner does
call safe is also loaded with the probe's restricted loader (the request the product
sends), in a scratch process: its marker must not appear there either.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from rebuild_env.pickle_scan import scan_file
from tests.hostile import payloads as hostile
from tests.hostile.firing import probe_load, scratch_load_many
from tests.hostile.payloads import Payload

Builder = Callable[[Path], Payload]
ALL = [(kind, b) for kind, builders in hostile.ALL_FIRING.items() for b in builders]
CPU_BUDGET_S = 1.0
PEAK_BYTES = 64 << 20
SCAN_TIMEOUT_S = 20


@pytest.fixture(scope="module")
def fired(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bool]:
    """Which payloads fire under plain joblib.load (markers in a folder of their own)."""
    root = tmp_path_factory.mktemp("proof")
    built = [(b.__name__, b(root / b.__name__ / "marker" / "m")) for _, b in ALL]
    scratch_load_many([p.write(root / name / "bundle") for name, p in built])
    return {name: p.fired() for name, p in built}


@pytest.mark.parametrize(("kind", "build"), ALL, ids=[f"{k}-{b.__name__}" for k, b in ALL])
def test_scanner_refuses_payload(
    kind: str, build: Builder, fired: dict[str, bool], tmp_path: Path
) -> None:
    assert fired[build.__name__], f"{build.__name__} does not fire under joblib.load"
    payload = build(tmp_path / "marker" / "m")
    model = payload.write(tmp_path / "bundle")
    report = scan_file(model)
    assert not payload.fired()
    if report.safe:
        request: dict[str, object] = {"model": str(model), "loader": "joblib"}
        request["allowed_globals"] = [list(g) for g in report.allowed_globals()]
        output = probe_load(request, tmp_path)
        assert not payload.fired(), f"reported safe, and the probe's loader ran it: {output}"
    assert not report.safe, f"{kind}: reported safe: {report.globals} {report.arrays}"


@pytest.mark.timeout(SCAN_TIMEOUT_S)
@pytest.mark.parametrize("kind", ["dtype-state-tuples", "dtype-state-dicts"])
def test_memo_blowup_refused_in_bounded_cpu_and_memory(kind: str, tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(hostile.MEMO_BLOWUPS[kind](tmp_path))
    tracemalloc.start()
    started = time.process_time()
    try:
        report = scan_file(model)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    cpu = time.process_time() - started
    assert not report.safe, report
    assert cpu < CPU_BUDGET_S, f"{cpu:.2f} s of CPU"
    assert peak < PEAK_BYTES, f"{peak / 1e6:.0f} MB"


@pytest.mark.timeout(SCAN_TIMEOUT_S)
def test_shared_tuples_are_not_walked_per_path(tmp_path: Path) -> None:
    """A benign-looking tower of shared tuples: whatever the verdict, it costs no walk."""
    model = tmp_path / "model.pkl"
    model.write_bytes(hostile.MEMO_BLOWUPS["plain-shared-tuples"](tmp_path))
    started = time.process_time()
    scan_file(model)
    assert time.process_time() - started < CPU_BUDGET_S


BOMB_SMALL = 64 << 20  # a few hundred bytes of bz2 inflating to 64 MiB: no model's ratio


@pytest.mark.timeout(SCAN_TIMEOUT_S)
@pytest.mark.parametrize("kind", ["bz2"])
def test_small_compression_bomb_refused_in_bounded_cpu(kind: str, tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(hostile.bomb(kind, BOMB_SMALL))
    started = time.process_time()
    report = scan_file(model)
    cpu = time.process_time() - started
    assert not report.safe, f"{model.stat().st_size} B inflating to {BOMB_SMALL} B reported safe"
    assert cpu < CPU_BUDGET_S, f"{cpu:.2f} s of CPU"
