"""compare's parts on small inputs: --upgrade parsing, the output diff, the larger input,
the candidate's version list, and the bisection (against a one-by-one scan)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from packaging.tags import Tag
from packaging.version import Version

from rebuild_env.commands.compare.candidate import Upgrade, searchable_versions
from rebuild_env.commands.compare.search import newest_identical
from rebuild_env.commands.compare.verdict import Verdict
from rebuild_env.errors import ExitCode, UsageError
from rebuild_env.index import ReleaseFile
from rebuild_env.pins import ModelSpec, RecordedEnv
from rebuild_env.plan import Interpreter, Plan, PlannedPackage
from rebuild_env.resolve import tags_for
from rebuild_env.verify import npy
from rebuild_env.verify.larger_input import make_larger_input, rows_for
from rebuild_env.verify.output_diff import diff_outputs
from rebuild_env.verify.runner import error_headline

PY = "3.8.18"


# -- --upgrade -------------------------------------------------------------------------
def test_upgrade_parses_exact_ranges_and_names() -> None:
    assert Upgrade.parse("Scikit_Learn==1.0.2") == Upgrade("scikit-learn", "==1.0.2")
    assert Upgrade.parse("scikit-learn==1.0.2").version == "1.0.2"
    assert Upgrade.parse("scikit-learn<1.3").version is None
    assert Upgrade.parse("numpy").specifier == ""


@pytest.mark.parametrize(
    "text", ["scikit-learn==1.0 junk", "numpy @ https://x/y.whl", "a[b]==1", "=="]
)
def test_bad_upgrade_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError) as info:
        Upgrade.parse(text)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert "--upgrade" in info.value.one_line()


# -- output diff -----------------------------------------------------------------------
def _save(path: Path, array: Any) -> Path:
    np.save(path, np.asarray(array), allow_pickle=False)
    return path


def test_identical_outputs(tmp_path: Path) -> None:
    a = _save(tmp_path / "a.npy", np.arange(12.0).reshape(4, 3))
    b = _save(tmp_path / "b.npy", np.arange(12.0).reshape(4, 3))
    diff = diff_outputs("predict", a, b)
    assert diff.identical and diff.differing_rows == 0 and diff.rows == 4
    assert diff.text() == "identical (4 rows)"


def test_differing_rows_and_largest_differences(tmp_path: Path) -> None:
    ref = np.array([[0.1, 0.9], [0.5, 0.5], [1.0, 0.0]])
    cand = ref.copy()
    cand[1, 0] = 0.5 + 1e-16 * 8
    cand[2, 1] = 0.25
    diff = diff_outputs("proba", _save(tmp_path / "r.npy", ref), _save(tmp_path / "c.npy", cand))
    assert not diff.identical
    assert diff.differing_rows == 2
    assert diff.max_abs_diff == pytest.approx(0.25)
    assert "2/3 rows differ" in diff.text()


def test_a_change_of_dtype_alone_is_not_identical(tmp_path: Path) -> None:
    ref = _save(tmp_path / "r.npy", np.array([0, 1, 2], dtype=np.int64))
    cand = _save(tmp_path / "c.npy", np.array([0, 1, 2], dtype=np.int32))
    diff = diff_outputs("predict", ref, cand)
    assert not diff.identical and "dtype <i4 (reference <i8)" in diff.text()


def test_negative_zero_is_a_bitwise_difference(tmp_path: Path) -> None:
    ref = _save(tmp_path / "r.npy", np.array([0.0, 1.0]))
    cand = _save(tmp_path / "c.npy", np.array([-0.0, 1.0]))
    diff = diff_outputs("predict", ref, cand)
    assert not diff.identical and diff.differing_rows == 1


def test_shapes_and_strings(tmp_path: Path) -> None:
    ref = _save(tmp_path / "r.npy", np.array(["setosa", "virginica"]))
    same = _save(tmp_path / "s.npy", np.array(["setosa", "virginica"]))
    other = _save(tmp_path / "o.npy", np.array(["setosa", "versicolor"]))
    longer = _save(tmp_path / "l.npy", np.array(["setosa", "virginica", "x"]))
    assert diff_outputs("p", ref, same).identical
    assert diff_outputs("p", ref, other).differing_rows == 1
    assert "shape (3,), reference (2,)" in diff_outputs("p", ref, longer).text()


def test_npy_reader_matches_numpy(tmp_path: Path) -> None:
    for array in (
        np.asfortranarray(np.arange(24, dtype=">i4").reshape(4, 6)),
        np.array([True, False]),
        np.array([[1.5, np.nan], [np.inf, -2.0]], dtype=np.float32),
    ):
        path = _save(tmp_path / "x.npy", array)
        read = npy.read(path)
        assert read.shape == array.shape
        back = np.array(read.values(), dtype=array.dtype).reshape(read.shape)
        np.testing.assert_array_equal(back, array)


# -- the larger input ------------------------------------------------------------------
def test_larger_input_is_reproducible_and_within_the_recorded_ranges(tmp_path: Path) -> None:
    rng = np.random.RandomState(3)
    sample = np.column_stack([rng.uniform(-2, 5, 30), rng.randint(0, 3, 30).astype(float)])
    path = _save(tmp_path / "sample.npy", sample)
    first = make_larger_input(path, tmp_path / "one")
    second = make_larger_input(path, tmp_path / "two")
    assert first is not None and second is not None
    assert first.read_bytes() == second.read_bytes()
    larger = np.load(first, allow_pickle=False)
    assert larger.shape == (rows_for(30), 2) and larger.dtype == sample.dtype
    assert sample[:, 0].min() <= larger[:, 0].min() and larger[:, 0].max() <= sample[:, 0].max()
    assert set(larger[:, 1]) <= set(sample[:, 1])  # few distinct values: drawn from those seen


def test_larger_dataframe_keeps_columns_and_categories(tmp_path: Path) -> None:
    doc = {
        "kind": "dataframe",
        "columns": ["age", "city"],
        "dtypes": ["int64", "object"],
        "data": [[20, 31, 45, 60], ["Oslo", "Lima", "Oslo", "Pune"]],
    }
    path = tmp_path / "sample.json"
    path.write_text(json.dumps(doc))
    out = make_larger_input(path, tmp_path / "out")
    assert out is not None
    larger = json.loads(out.read_text())
    assert larger["columns"] == ["age", "city"] and larger["dtypes"] == ["int64", "object"]
    ages, cities = larger["data"]
    assert len(ages) == rows_for(4) and all(isinstance(a, int) and 20 <= a <= 60 for a in ages)
    assert set(cities) <= {"Oslo", "Lima", "Pune"}


# -- which releases a search looks at --------------------------------------------------
def _files(name: str, versions: dict[str, str]) -> dict[str, list[ReleaseFile]]:
    """Releases of ``name``: version -> the wheel's tag (``none`` for an sdist only)."""
    out = []
    for version, tag in versions.items():
        tags = frozenset() if tag == "none" else frozenset([Tag(*tag.split("-"))])
        out.append(
            ReleaseFile(
                filename=f"{name}-{version}.whl",
                version=Version(version),
                tags=tags,
                requires_python="",
                upload_time="2022-01-01T00:00:00Z",
                sha256="",
                yanked=False,
            )
        )
    return {name: out}


def _plan(version: str = "0.24.2") -> Plan:
    recorded = RecordedEnv(bundle_dir=Path("b"), format="bare", model=ModelSpec(Path("m")))
    return Plan(
        recorded=recorded,
        backend="venv",
        python_version=PY,
        python_source="test",
        interpreter=Interpreter(Path("/nonexistent/python"), PY),
        packages=(PlannedPackage("scikit-learn", version, "test"),),
    )


CP38 = next(t for t in tags_for(PY) if t.interpreter == "cp38" and t.abi == "cp38")
CP311 = "cp311-cp311-" + CP38.platform


def test_searchable_versions_are_newer_finals_with_a_wheel_for_the_python() -> None:
    here = f"cp38-cp38-{CP38.platform}"
    files = _files(
        "scikit-learn",
        {
            "0.24.1": here,
            "0.24.2": here,
            "1.0": here,
            "1.1.0rc1": here,
            "1.1.0": here,
            "1.2.0": CP311,  # no wheel for 3.8
            "1.3.0": "none",  # sdist only: not for a compiled library
        },
    )
    upgrade = Upgrade("scikit-learn")
    assert searchable_versions(upgrade, _plan(), PY, files) == ["1.0", "1.1.0"]
    bounded = Upgrade("scikit-learn", "<1.1")
    assert searchable_versions(bounded, _plan(), PY, files) == ["1.0"]


# -- the bisection ---------------------------------------------------------------------
class _FakeSession:
    """A session whose candidates' verdicts follow ``outcome(version)``."""

    def __init__(self, versions: list[str], outcome: dict[str, str]) -> None:
        here = f"cp38-cp38-{CP38.platform}"
        self.plan = _plan()
        self.options = SimpleNamespace(python=None)
        self.files = _files("scikit-learn", {"0.24.2": here, **dict.fromkeys(versions, here)})
        self.outcome = outcome
        self.checked: list[str] = []
        self.stages: list[tuple[str, str]] = []

    def progress(self, stage: str, event: str) -> None:
        self.stages.append((stage, event))

    def check(self, upgrades: list[Upgrade]) -> Verdict:
        version = upgrades[-1].version
        assert version is not None
        self.checked.append(version)
        return Verdict(self.outcome[version], label=version)


VERSIONS = ["1.0", "1.0.1", "1.0.2", "1.1.0", "1.1.1", "1.2.0", "1.2.1", "1.3.0", "1.3.2"]


@pytest.mark.parametrize("boundary", range(len(VERSIONS) + 1))
def test_bisection_finds_the_boundary_a_linear_scan_finds(boundary: int) -> None:
    outcome = {v: "identical" if i < boundary else "fails-to-load" for i, v in enumerate(VERSIONS)}
    session = _FakeSession(VERSIONS, outcome)
    found = newest_identical(session, [Upgrade("scikit-learn")])  # type: ignore[arg-type]
    identical = [v for v in VERSIONS if outcome[v] == "identical"]
    linear_newest = identical[-1] if identical else "0.24.2"
    linear_first_not = next((v for v in VERSIONS if outcome[v] != "identical"), "")
    assert found.newest_identical == linear_newest
    assert found.first_not_identical == linear_first_not
    assert len(session.checked) <= 6  # log2(9) + the newest + a neighbour: not all nine
    assert found.not_monotone == ""


def test_a_return_to_identical_past_the_boundary_is_reported() -> None:
    outcome = dict.fromkeys(VERSIONS, "identical")
    outcome["1.1.0"] = "differs"  # one bad release in the middle, the newest fine
    outcome["1.3.2"] = "differs"
    session = _FakeSession(VERSIONS, outcome)
    found = newest_identical(session, [Upgrade("scikit-learn")])  # type: ignore[arg-type]
    # the bisection lands on the first bad release; the next one is checked and is fine
    assert (found.newest_identical, found.first_not_identical) == ("1.0.2", "1.1.0")
    assert found.not_monotone == "1.1.1"
    verdict = found.verdict_of("1.1.0")
    assert verdict is not None and verdict.status == "differs"


def test_nothing_to_search_is_one_clear_line() -> None:
    session = _FakeSession([], {})
    with pytest.raises(UsageError) as info:
        newest_identical(session, [Upgrade("scikit-learn", ">5")])  # type: ignore[arg-type]
    assert "no release of scikit-learn newer than 0.24.2" in info.value.one_line()


def test_search_needs_exactly_one_open_upgrade() -> None:
    session = _FakeSession(VERSIONS, {})
    with pytest.raises(UsageError):
        newest_identical(session, [Upgrade("scikit-learn", "==1.0")])  # type: ignore[arg-type]


def test_an_error_is_named_by_the_line_that_names_its_type() -> None:
    multi = (
        "ValueError: node array from the pickle has an incompatible dtype:\n"
        "- expected: [...]\n- got     : [...]"
    )
    assert error_headline("ValueError", multi).startswith("ValueError: node array")
    one = "ModuleNotFoundError: No module named 'sklearn.ensemble._gb_losses'"
    assert error_headline("ModuleNotFoundError", one) == one
    dotted = "pickle.UnpicklingError: refused\n  detail"
    assert error_headline("UnpicklingError", dotted) == "pickle.UnpicklingError: refused"
    assert error_headline("Crash", "the probe wrote no result\nsignal 11") == "signal 11"
