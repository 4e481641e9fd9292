"""Hostile model files (issue 19): each payload is first shown to fire under plain
``joblib.load`` in a scratch process; then rebuild-env must refuse it without running it.

One test per attack class (parametrized by its variants), benign controls that must stay
safe, and the full ``rebuild`` path on a representative subset. No hostile file is ever
loaded in this process.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.hostile import payloads as hostile
from tests.hostile.firing import UNSAFE_EXIT, inspect, prove_it_fires
from tests.hostile.payloads import Payload

Builder = Callable[[Path], Payload]
CPU_BUDGET_S = 1.0  # "well under a second of CPU" for hostile inputs
RSS_BUDGET_KB = 256 << 10  # an interpreter with rebuild-env imported, plus a bounded scan
HANG_TIMEOUT_S = 30  # past this the scan is treated as a hang
LISTEN_TIMEOUT_S = 60


def _ids(builders: tuple[Builder, ...]) -> list[str]:
    return [b.__name__ for b in builders]


def _assert_fires_then_refused(build: Builder, tmp_path: Path) -> None:
    """The payload fires under plain joblib.load (else the test proves nothing), and
    ``inspect --json`` refuses its twin (exit 7, not safe) without creating its marker."""
    output = prove_it_fires(build, tmp_path / "proof")
    assert build(tmp_path / "proof" / "markers" / "proof").fired(), (
        f"the payload does not fire under plain joblib.load: the test proves nothing ({output})"
    )
    payload = build(tmp_path / "product" / "markers" / "m")
    payload.marker.parent.mkdir(parents=True, exist_ok=True)
    model = payload.write(tmp_path / "product" / "bundle")
    result = inspect(model)
    assert not payload.fired(), "inspect ran the payload"
    assert result.scan.get("safe") is False, (result.code, result.scan, result.stderr[-500:])
    assert result.code == UNSAFE_EXIT, (result.code, result.stderr[-500:])


@pytest.mark.parametrize("build", hostile.REEXPORTS, ids=_ids(hostile.REEXPORTS))
def test_reexported_stdlib_classes_are_refused(build: Builder, tmp_path: Path) -> None:
    _assert_fires_then_refused(build, tmp_path)


@pytest.mark.parametrize("build", hostile.CONSTRUCTORS, ids=_ids(hostile.CONSTRUCTORS))
def test_side_effecting_constructors_are_refused(build: Builder, tmp_path: Path) -> None:
    _assert_fires_then_refused(build, tmp_path)


@pytest.mark.parametrize("build", hostile.DTYPE_DESYNC, ids=_ids(hostile.DTYPE_DESYNC))
def test_dtype_desync_hides_no_pickle(build: Builder, tmp_path: Path) -> None:
    _assert_fires_then_refused(build, tmp_path)


@pytest.mark.parametrize("build", hostile.ESCAPED, ids=_ids(hostile.ESCAPED))
def test_escaped_protocol0_names_are_refused(build: Builder, tmp_path: Path) -> None:
    _assert_fires_then_refused(build, tmp_path)


@pytest.mark.parametrize("build", hostile.NESTED, ids=_ids(hostile.NESTED))
def test_nested_and_compat_pickles_are_refused(build: Builder, tmp_path: Path) -> None:
    _assert_fires_then_refused(build, tmp_path)


# --- bounded work: memo blow-ups and compression bombs --------------------------------

_MEASURED_INSPECT = """
import json, resource, runpy, sys
sys.argv = ["rebuild-env", "inspect", sys.argv[1], "--json"]
code = 0
try:
    runpy.run_module("rebuild_env", run_name="__main__")
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
usage = resource.getrusage(resource.RUSAGE_SELF)
sys.stderr.write("\\nMEASURED " + json.dumps(
    {"code": code, "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}
) + "\\n")
"""
_BASELINE = """
import json, resource, sys
import rebuild_env.cli, rebuild_env.pickle_scan  # what inspect imports before it scans
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}))
"""


def _measured_inspect(model: Path) -> dict[str, object]:
    """inspect in a child that reports its own exit code, CPU time and peak RSS; a hang
    past HANG_TIMEOUT_S fails the test."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _MEASURED_INSPECT, str(model)],
            capture_output=True,
            text=True,
            timeout=HANG_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"inspect still scanning after {HANG_TIMEOUT_S} s ({model.stat().st_size} B)")
    line = done.stderr.rsplit("MEASURED ", 1)[-1]
    measured: dict[str, object] = json.loads(line)
    scan = json.loads(done.stdout).get("scan") or {}
    measured["safe"] = scan.get("safe")
    measured["error"] = scan.get("error")
    return measured


@pytest.fixture(scope="module")
def baseline() -> dict[str, float]:
    """CPU and RSS of a child that only imports what inspect imports."""
    done = subprocess.run(
        [sys.executable, "-c", _BASELINE], capture_output=True, text=True, check=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def _assert_bounded(
    measured: dict[str, object], baseline: dict[str, float], *, refused: bool = True
) -> None:
    if refused:
        assert measured["safe"] is False, measured
        assert measured["code"] == UNSAFE_EXIT, measured
    cpu = float(measured["cpu_s"]) - baseline["cpu_s"]  # type: ignore[arg-type]
    assert cpu < CPU_BUDGET_S, f"{cpu:.2f} s of CPU to refuse it: {measured}"
    rss = int(measured["maxrss_kb"]) - baseline["maxrss_kb"]  # type: ignore[call-overload]
    assert rss < RSS_BUDGET_KB, f"{rss} KB more RSS than importing rebuild-env: {measured}"


@pytest.mark.parametrize("kind", sorted(hostile.MEMO_BLOWUPS))
def test_memo_blowups_are_refused_quickly(
    kind: str, tmp_path: Path, baseline: dict[str, float]
) -> None:
    model = tmp_path / "model.joblib"
    model.write_bytes(hostile.MEMO_BLOWUPS[kind](tmp_path / "unused"))
    assert model.stat().st_size < 2048  # a 1-2 KB file
    # The plain tower is a legitimate object (pickle loads it at once): only its cost is
    # bounded; a tower in a dtype's state is walked by the object check, and refused.
    _assert_bounded(_measured_inspect(model), baseline, refused=kind != "plain-shared-tuples")


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small file per compression that inflates to 512 MiB (built once: ~30 s)."""
    folder = tmp_path_factory.mktemp("bombs")
    out = {}
    for kind in hostile.BOMB_KINDS:
        path = folder / f"{kind}.joblib"
        path.write_bytes(hostile.bomb(kind))
        out[kind] = path
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", hostile.BOMB_KINDS)
def test_compression_bombs_are_refused_quickly(
    kind: str, bombs: dict[str, Path], baseline: dict[str, float]
) -> None:
    model = bombs[kind]
    assert model.stat().st_size < hostile.BOMB_INFLATED // 500  # zlib tops out near 1000:1
    _assert_bounded(_measured_inspect(model), baseline)


# --- benign controls: real models must stay safe ---------------------------------------

_SAVE_BENIGN = """
import sys
import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.preprocessing import OneHotEncoder, StandardScaler

kind, path = sys.argv[1], sys.argv[2]
rng = np.random.RandomState(0)
X = rng.normal(size=(60, 3))
y = (X[:, 0] > 0).astype(int)
if kind == "gradient-boosting":
    model = GradientBoostingClassifier(n_estimators=5).fit(X, y)
elif kind == "hist-gradient-boosting-categorical":
    Xc = np.column_stack([X[:, :2], rng.randint(0, 4, size=60)])
    model = HistGradientBoostingClassifier(max_iter=5, categorical_features=[2]).fit(Xc, y)
elif kind == "column-transformer-selector-remainder":
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": rng.choice(["x", "y"], 60)})
    frame["d"] = X[:, 2]
    numbers = make_column_selector(dtype_include=np.number, pattern="^[ab]$")
    words = make_column_selector(dtype_include=object)
    steps = [("num", StandardScaler(), numbers), ("cat", OneHotEncoder(), words)]
    model = ColumnTransformer(steps, remainder=StandardScaler()).fit(frame)
else:
    model = np.array(["red", "green", None, "a longer string"], dtype=object)
joblib.dump(model, path)
"""
BENIGN = (
    "gradient-boosting",
    "hist-gradient-boosting-categorical",
    "column-transformer-selector-remainder",
    "object-array-of-strings",
)


@pytest.mark.parametrize("kind", BENIGN)
def test_real_models_stay_safe(kind: str, tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    subprocess.run([sys.executable, "-c", _SAVE_BENIGN, kind, model], check=True)
    result = inspect(model)
    refused = (result.scan.get("refused"), result.scan.get("error"), result.stderr[-300:])
    assert result.scan.get("safe") is True, refused
    assert result.code == 0, result.stderr[-500:]


# --- the full rebuild path on a representative subset (slow: builds one shared env) -----

REBUILD_SUBSET: tuple[Builder, ...] = (
    hostile.gzipfile_reduce,
    hostile.memory_reduce,
    hostile.fortranfile_inst,
    hostile.dtype_float64_name,
    hostile.dtype_flags_lie,
    hostile.escaped_string_qualname,
    hostile.nested_object_gzipfile,
    hostile.compat_npy_companion,
)


def _bundle(payload: Payload, folder: Path) -> Path:
    """The example bundle (same pins as the project venv, so every test shares its env)
    with its model replaced by the payload."""
    shutil.copytree(EXAMPLE_BUNDLE, folder)
    payload.write(folder)
    return folder


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.parametrize("build", REBUILD_SUBSET, ids=_ids(REBUILD_SUBSET))
def test_rebuild_refuses_hostile_bundle(build: Builder, tmp_path: Path) -> None:
    output = prove_it_fires(build, tmp_path / "proof")
    assert build(tmp_path / "proof" / "markers" / "proof").fired(), output
    payload = build(tmp_path / "markers" / "m")
    payload.marker.parent.mkdir(parents=True)
    bundle = _bundle(payload, tmp_path / "bundle")
    result = run_cli(bundle, "--backend", "venv", "--out", tmp_path / "out", "--json")
    assert not payload.fired(), "rebuild ran the payload"
    assert result.code == UNSAFE_EXIT, (result.code, result.stdout[-800:], result.stderr[-800:])


@pytest.mark.slow
@pytest.mark.network
def test_rebuild_of_the_example_bundle_still_verifies(tmp_path: Path) -> None:
    """The control for the subset above: the shared env builds and verifies a real model."""
    result = run_cli(EXAMPLE_BUNDLE, "--backend", "venv", "--out", tmp_path / "out")
    assert result.code == 0, result.stderr[-800:]


# --- class 8: a trusted payload against the OS sandbox ---------------------------------


def _sandbox_available() -> bool:
    done = run_cli("rebuild", "--help")
    return "--no-sandbox" in done.stdout


@pytest.fixture
def loopback_listener() -> Iterator[tuple[int, list[bytes]]]:
    """A TCP listener on 127.0.0.1 that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(LISTEN_TIMEOUT_S)
    accepted: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(b"connected")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    server.close()
    thread.join(timeout=5)


@pytest.mark.slow
@pytest.mark.network
def test_trusted_payload_is_stopped_by_the_sandbox(
    tmp_path: Path, loopback_listener: tuple[int, list[bytes]]
) -> None:
    if not _sandbox_available():
        pytest.skip(
            "the OS sandbox is not built yet: `rebuild-env rebuild --help` has no --no-sandbox"
        )
    port, accepted = loopback_listener
    outside = tmp_path / "outside"
    outside.mkdir()

    def build(marker: Path) -> Payload:
        return hostile.sandbox_escape(marker, port)

    proof = build(tmp_path / "proof-marker")
    output = hostile_scratch(proof, tmp_path / "proof")
    assert proof.fired() and accepted, f"the payload does not fire under joblib.load: {output}"
    accepted.clear()

    payload = build(outside / "written-by-the-model")
    bundle = _bundle(payload, tmp_path / "bundle")
    sandboxed = run_cli(bundle, "--backend", "venv", "--trust", "--out", tmp_path / "o1", "--json")
    assert not payload.fired(), "the trusted model wrote outside its folder under the sandbox"
    assert not accepted, "the trusted model reached a loopback listener under the sandbox"
    assert sandboxed.code != 0, sandboxed.stdout[-800:]

    opened = run_cli(
        bundle, "--backend", "venv", "--trust", "--no-sandbox", "--out", tmp_path / "o2", "--json"
    )
    assert payload.fired(), (
        "without the sandbox the model was not really loaded",
        opened.stdout[-800:],
    )
    assert accepted, "without the sandbox the model did not connect: the test proves nothing"


def hostile_scratch(payload: Payload, folder: Path) -> str:
    """Load ``payload`` with plain joblib in a scratch process."""
    from tests.hostile.firing import scratch_load

    return scratch_load(payload.write(folder))


_ = os  # environment is inherited by the CLI children as is
