"""The scanner: malicious files are refused and never run; real models pass; bad files fail."""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from rebuild_env.errors import UnsafeModelError
from rebuild_env.pickle_scan import check_safe, scan_file
from tests.conftest import run_cli

COMPRESSIONS = ["zlib", "gzip", "bz2", "lzma", "xz"]


class Payload:
    """Unpickling this would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def _assert_refused(path: Path, marker: Path) -> None:
    report = scan_file(path)
    assert not report.safe
    with pytest.raises(UnsafeModelError) as info:
        check_safe(report)
    assert "system" in info.value.one_line() or "refused" in info.value.one_line()
    result = run_cli("inspect", path)
    assert result.code == 7
    assert not marker.exists()


def test_raw_pickle_payload(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps({"model": Payload(marker)}))
    _assert_refused(path, marker)
    report = scan_file(path)
    assert any(g.module in ("posix", "os") and g.name == "system" for g in report.refused)


@pytest.mark.parametrize("compress", [None, *COMPRESSIONS])
def test_payload_after_numpy_arrays_in_joblib(tmp_path: Path, compress: str | None) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.joblib"
    obj = [np.arange(1000.0), np.ones((10, 10), dtype="int32"), Payload(marker)]
    joblib.dump(obj, path, compress=(compress, 3) if compress else 0)
    report = scan_file(path)
    assert report.compression == (compress or "none")
    assert len(report.arrays) == 2
    _assert_refused(path, marker)


def test_payload_inside_object_array(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.joblib"
    array = np.empty(2, dtype=object)
    array[0], array[1] = "fine", Payload(marker)
    joblib.dump({"weights": np.zeros(5), "labels": array}, path)
    report = scan_file(path)
    assert any(g.where.startswith("object array") for g in report.refused)
    _assert_refused(path, marker)


def test_gadget_in_a_library_testing_module(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x02cnumpy.testing._private.utils\nrunstring\nX\x01\x00\x00\x001}\x86R.")
    report = scan_file(path)
    assert [g.name for g in report.refused] == ["runstring"]


def test_stack_global_needs_literal_strings(tmp_path: Path) -> None:
    # STACK_GLOBAL fed by memo gets: still two strings, still checked.
    data = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93\x8c\x04true\x85R."
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    report = scan_file(path)
    assert [(g.module, g.name) for g in report.refused] == [("os", "system")]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage that is not a pickle",
        pickle.dumps([1, 2, 3])[:-1],
        pickle.dumps(1) + b"extra",
        b"\x80\x04\xff.",
    ],
)
def test_bad_files_fail_closed(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    report = scan_file(path)
    assert report.error and not report.safe
    with pytest.raises(UnsafeModelError):
        check_safe(report)


def test_truncated_joblib(tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    joblib.dump(np.arange(10000.0), path)
    path.write_bytes(path.read_bytes()[:5000])
    assert "truncated" in scan_file(path).error


@pytest.mark.parametrize("compress", [0, 3])
def test_real_models_pass_with_hints(tmp_path: Path, compress: int) -> None:
    X, y = load_iris(return_X_y=True)
    import sklearn

    for i, model in enumerate(
        [
            LogisticRegression(max_iter=300).fit(X, y),
            RandomForestClassifier(3).fit(X, y),
            HistGradientBoostingClassifier(max_iter=3).fit(X, y),
        ]
    ):
        path = tmp_path / f"m{i}.joblib"
        joblib.dump(model, path, compress=compress)
        report = scan_file(path)
        assert report.safe, (report.refused, report.error)
        hints = {p.name: p.specifier for p in report.hints}
        assert hints["scikit-learn"] == f"=={sklearn.__version__}"
        assert ("sklearn.tree._tree", "Tree") in report.allowed_globals() or i != 1


def test_pickletools_agrees_on_plain_pickles(tmp_path: Path) -> None:
    X, y = load_iris(return_X_y=True)
    data = pickle.dumps(LogisticRegression(max_iter=300).fit(X, y), protocol=2)
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    expected = {
        tuple(arg.split(" "))
        for op, arg, _ in pickletools.genops(io.BytesIO(data))
        if op.name == "GLOBAL"
    }
    found = {(g.module, g.name) for g in scan_file(path).globals}
    compat = {("__builtin__", "builtins"), ("copy_reg", "copyreg")}
    mapped = {(dict(compat).get(m, m), n) for m, n in expected}
    assert found == mapped


def test_spline_and_quantile_pipelines_are_safe(tmp_path: Path) -> None:
    # SplineTransformer keeps scipy's BSpline and (scipy >= 1.15) an array_api_compat asarray.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import QuantileTransformer, SplineTransformer

    X, y = load_iris(return_X_y=True)
    model = make_pipeline(
        SplineTransformer(), QuantileTransformer(n_quantiles=10), LogisticRegression()
    ).fit(X, y)
    path = tmp_path / "spline.joblib"
    joblib.dump(model, path)
    report = scan_file(path)
    assert report.safe, report.refused


@pytest.mark.parametrize("filler", [0, 1, 65_520, 65_521, 65_522, 65_523, 200_001])
def test_fast_paths_across_the_read_buffer_edge(tmp_path: Path, filler: int) -> None:
    # BINGET / BININT1 / MEMOIZE are walked on the stream's buffer directly; one that falls
    # on the buffer's edge goes the general way. Either way the memoized strings still name
    # the global, and the walk ends exactly at STOP.
    pad = b"\x8e" + filler.to_bytes(8, "little") + b"\0" * filler + b"0"  # BINBYTES8, POP
    body = b"K\x050h\x000N\x940" * 2000  # BININT1, BINGET, MEMOIZE, each popped again
    data = b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94" + pad + body + b"h\x00h\x01\x93N\x85R."
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    report = scan_file(path)
    assert not report.error
    assert [(g.module, g.name) for g in report.refused] == [("os", "system")]


def test_always_on_profiles_and_pinned_ones() -> None:
    from rebuild_env.pickle_scan.allowlist import active_profiles, verdict

    always = {p.name for p in active_profiles(())}
    assert always == {"scikit-learn", "python"}
    assert {p.name for p in active_profiles(["XGBoost", "numpy"])} == always | {"xgboost"}
    assert verdict("collections", "OrderedDict", active=active_profiles(())) == "allowed:python"
    assert verdict("xgboost.sklearn", "XGBClassifier", active=active_profiles(())) == "refused"
    pinned = active_profiles(["xgboost"])
    assert verdict("xgboost.sklearn", "XGBClassifier", active=pinned) == "allowed:xgboost"
    assert verdict("builtins", "getattr", active=pinned) == "refused"
