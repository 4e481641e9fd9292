"""Fuzzing the scanner with mutated real joblib files: it answers, it never runs anything."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebuild_env.pickle_scan import scan_file
from tests.conftest import EXAMPLE_BUNDLE

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODEL = (EXAMPLE_BUNDLE / "model.joblib").read_bytes()


def _scan(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.joblib"
        path.write_bytes(data)
        report = scan_file(path)
        assert report.safe or report.error or report.refused


@FUZZ
@given(st.integers(min_value=0), st.binary(min_size=1, max_size=16))
def test_mutated_compressed_joblib(position: int, patch: bytes) -> None:
    position %= len(MODEL)
    _scan(MODEL[:position] + patch + MODEL[position + len(patch) :])


@FUZZ
@given(st.integers(min_value=0), st.binary(min_size=1, max_size=16), st.booleans())
def test_mutated_raw_pickle(position: int, patch: bytes, truncate: bool) -> None:
    import zlib

    raw = zlib.decompress(MODEL)
    position %= len(raw)
    data = raw[:position] if truncate else raw[:position] + patch + raw[position + len(patch) :]
    _scan(data)
