"""Fuzzing the scanner with real model pickles into which a sentinel side effect is spliced.

A sentinel (``posix.system('touch MARKER')``, ``open(MARKER, 'w')``, a side-effecting
constructor of a trusted package...) spliced between two opcodes runs when the file is
loaded: the scanner must never call such a file safe. Random overwrites of a real joblib
file may land in array data, where a sentinel is inert: whenever the scanner calls a
mutated file safe, the probe's restricted loader loads it (in a scratch process, with
the request the product sends) and the marker must not appear.
"""

from __future__ import annotations

import pickle
import tempfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

from rebuild_env.pickle_scan import scan_file
from tests.conftest import EXAMPLE_BUNDLE
from tests.hostile.firing import probe_load, scratch_load_many
from tests.hostile.sentinels import FRAGMENTS, Fragment, fragments, unframed

SPLICES = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MUTATIONS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODEL = (EXAMPLE_BUNDLE / "model.joblib").read_bytes()
PROTOCOLS = (0, 2, 3, 4, 5)


def _real_pickle(protocol: int) -> bytes:
    """A fitted estimator pickled here (pickling, never unpickling)."""
    rng = np.random.RandomState(0)
    features = rng.normal(size=(20, 3))
    model = LogisticRegression().fit(features, (features[:, 0] > 0).astype(int))
    return pickle.dumps(model, protocol=protocol)


REAL = {p: unframed(_real_pickle(p)) for p in PROTOCOLS}


def _splice(protocol: int, where: int, fragment: Fragment, marker: Path) -> bytes:
    data, boundaries = REAL[protocol]
    at = boundaries[where % len(boundaries)]
    return data[:at] + fragment(marker) + data[at:]


def _probe_never_fires(path: Path, marker: Path) -> None:
    report = scan_file(path)
    if report.safe:
        request: dict[str, object] = {"model": str(path), "loader": "joblib"}
        request["allowed_globals"] = [list(g) for g in report.allowed_globals()]
        output = probe_load(request, path.parent)
        assert not marker.exists(), f"reported safe and the probe's loader ran it: {output}"


def test_every_fragment_fires_when_spliced(tmp_path: Path) -> None:
    """The sentinels are real: spliced into each protocol's pickle, plain loading fires them."""
    files, markers = [], []
    for protocol in PROTOCOLS:
        for index, fragment in enumerate(fragments(protocol)):
            marker = tmp_path / f"m{protocol}-{index}"
            path = tmp_path / f"model{protocol}-{index}.pkl"
            path.write_bytes(_splice(protocol, index * 7 + 3, fragment, marker))
            files.append(path)
            markers.append(marker)
    scratch_load_many(files)
    missing = [m.name for m in markers if not m.exists()]
    assert not missing, f"these spliced sentinels did not fire: {missing}"


@SPLICES
@given(
    protocol=st.sampled_from(PROTOCOLS),
    where=st.integers(min_value=0),
    pick=st.integers(min_value=0),
    compress=st.booleans(),
)
def test_spliced_sentinel_is_never_safe(
    protocol: int, where: int, pick: int, compress: bool
) -> None:
    choices = fragments(protocol)
    fragment = choices[pick % len(choices)]
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "marker"
        data = _splice(protocol, where, fragment, marker)
        path = Path(tmp) / "model.joblib"
        path.write_bytes(zlib.compress(data) if compress else data)
        report = scan_file(path)
        assert not marker.exists()
        if report.safe:
            _probe_never_fires(path, marker)
        assert not report.safe, f"{fragment.__name__} at opcode {where}: reported safe"


@MUTATIONS
@given(
    position=st.integers(min_value=0),
    patch=st.one_of(st.binary(min_size=1, max_size=16), st.sampled_from(FRAGMENTS)),
    raw=st.booleans(),
)
def test_mutated_joblib_reported_safe_never_runs_code(
    position: int, patch: bytes | Fragment, raw: bool
) -> None:
    base = zlib.decompress(MODEL) if raw else MODEL
    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "marker"
        data = patch if isinstance(patch, bytes) else patch(marker)
        position %= len(base)
        mutated = base[:position] + data + base[position + len(data) :]
        path = Path(tmp) / "model.joblib"
        path.write_bytes(mutated)
        _probe_never_fires(path, marker)
