"""Issue 21's rules, one test each, on small fixtures (no index, no uv run).

Each rule is the README's ("What the plan does with what was recorded"): legacy metadata
restated to uv, the true reason of a dropped pin, the nearest Python with wheels, the
cutoff never before a locked release, installer failures that name a package, a pin the
model file contradicts, setuptools seeded as of the plan's date.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest
from packaging.tags import Tag
from packaging.version import Version

from rebuild_env import interpreters, legacy_metadata, resolve
from rebuild_env.errors import ResolveError
from rebuild_env.index import ReleaseFile
from rebuild_env.pins import IndexOptions, ModelSpec, Pin, PythonRecord, RecordedEnv
from rebuild_env.plan import Interpreter

PANDAS_METADATA = """Metadata-Version: 2.1
Name: pandas
Version: 0.23.4
Requires-Python: >=2.7,!=3.0.*
Requires-Dist: python-dateutil (>=2.5.0)
Requires-Dist: pytz (>=2011k)
Requires-Dist: numpy (>=1.9.0)

pandas
"""
UV_INVALID = """error: No solution found when resolving dependencies
  cause: Because pandas==0.23.4 has invalid metadata and you require pandas==0.23.4, we can \
conclude that your requirements are unsatisfiable.
"""
LINUX_X86 = "manylinux2014_x86_64"


def _recorded(*pins: Pin, python: str = "3.9") -> RecordedEnv:
    return RecordedEnv(
        bundle_dir=Path("b"),
        format="bare",
        model=ModelSpec(Path("b/model.joblib")),
        pins=pins,
        python=PythonRecord(python, source="runtime.txt"),
    )


def _wheel(
    name: str, version: str, python: str, uploaded: str = "2020-08-04T13:00:00Z"
) -> ReleaseFile:
    tag = f"cp{python.replace('.', '')}"
    abi = tag + ("m" if Version(python) < Version("3.8") else "")  # cp37m: pymalloc ABI
    return ReleaseFile(
        filename=f"{name}-{version}-{tag}-{abi}-{LINUX_X86}.whl",
        version=Version(version),
        tags=frozenset({Tag(tag, abi, LINUX_X86)}),
        requires_python="",
        upload_time=uploaded,
        sha256="",
        yanked=False,
    )


def _sdist(name: str, version: str) -> ReleaseFile:
    return ReleaseFile(f"{name}-{version}.tar.gz", Version(version), frozenset(), "", "", "", False)


# -- class 4: legacy metadata ---------------------------------------------------------------
def test_legacy_metadata_is_restated_with_the_invalid_clause_left_out() -> None:
    assert legacy_metadata.invalid_release(UV_INVALID) == ("pandas", "0.23.4")
    stated = legacy_metadata.describe("pandas", "0.23.4", PANDAS_METADATA)
    assert stated is not None
    assert stated.requires_dist == ("python-dateutil>=2.5.0", "pytz", "numpy>=1.9.0")
    assert stated.repaired == ("pytz (>=2011k)",)
    toml: Any = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    config = toml.loads(legacy_metadata.uv_config([stated]))
    entry = config["dependency-metadata"][0]
    assert (entry["name"], entry["version"]) == ("pandas", "0.23.4")
    assert entry["requires-dist"] == ["python-dateutil>=2.5.0", "pytz", "numpy>=1.9.0"]


# -- class 5: every dropped pin carries its true reason ---------------------------------------
@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"foo": [_wheel("foo", "1.0", "3.8")]}, "foo 1.2 is not on the index"),
        ({"foo": [_wheel("foo", "1.2", "3.8")]}, "foo 1.2 has no file for Python 3.11.7 here"),
        ({"foo": [_sdist("foo", "1.2")]}, "foo 1.2 is only an sdist, and it did not build"),
    ],
)
def test_a_dropped_pin_says_why_from_the_index(files: Any, expected: str) -> None:
    reason = resolve.why_uninstallable(Pin.parse("foo==1.2", source="r"), files, "3.11.7", "uv")
    assert reason.startswith(expected)


def test_no_wheel_for_this_python_names_the_pythons_that_have_one() -> None:
    files = {"foo": [_wheel("foo", "1.2", "3.8")]}
    reason = resolve.why_uninstallable(Pin.parse("foo==1.2", source="r"), files, "3.11", "")
    assert "(it has files for Python 3.8)" in reason


def test_a_locked_release_published_after_the_cutoff_moves_the_cutoff() -> None:
    resolver = resolve._Resolver(_recorded(), "venv", prefer_recorded=False)
    cause = "Because there is no version of foo==1.2 and you require foo==1.2"
    files = {"foo": [_wheel("foo", "1.2", "3.8", uploaded="2021-05-07T10:00:00Z")]}
    pins = [Pin.parse("foo==1.2", source="requirements.txt:3")]
    assert resolver._moved_cutoff(cause, pins, files, "2021-04-30") == "2021-05-08"
    assert "the record locks foo==1.2, published 2021-05-07" in resolver.warnings[-1]


# -- class 2: the nearest Python with wheels ---------------------------------------------------
def _interp(version: str) -> Interpreter:
    return Interpreter(Path(f"/py/{version}/bin/python"), version, "cpython", "pyenv")


def test_no_wheels_for_the_recorded_python_tries_the_nearest_older_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    found = [_interp(v) for v in ("3.11.7", "3.10.13", "3.8.18", "3.7.16")]
    monkeypatch.setattr(interpreters, "available", lambda **_: found)
    sklearn = Pin.parse("scikit-learn==0.23.2", source="requirements.txt:1")
    files = {"scikit-learn": [_wheel("scikit-learn", "0.23.2", m) for m in ("3.7", "3.8")]}
    resolver = resolve._Resolver(_recorded(sklearn), "venv", prefer_recorded=False)
    _, version, _ = resolver.nearest_python_with_wheels(
        [sklearn], frozenset({"scikit-learn"}), files, _interp("3.9.18"), "runtime.txt"
    )
    assert version == "3.8.18"
    assert (
        "Python 3.9 (runtime.txt) has no wheels for scikit-learn==0.23.2; using 3.8.18"
        in (resolver.warnings[-1])
    )


def test_when_no_python_here_fits_the_error_says_which_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(interpreters, "available", lambda **_: [_interp("3.11.7")])
    sklearn = Pin.parse("scikit-learn==0.23.2", source="requirements.txt:1")
    files = {"scikit-learn": [_wheel("scikit-learn", "0.23.2", m) for m in ("3.7", "3.8")]}
    resolver = resolve._Resolver(_recorded(sklearn), "venv", prefer_recorded=False)
    with pytest.raises(ResolveError) as caught:
        resolver.nearest_python_with_wheels(
            [sklearn], frozenset({"scikit-learn"}), files, _interp("3.11.7"), "runtime.txt"
        )
    assert "install Python 3.7 or 3.8" in (caught.value.hint or "")


# -- class 3: installer failures that name a package --------------------------------------------
def test_a_failed_vcs_line_names_its_pin() -> None:
    output = (
        "error: Failed to download and build `nothing-here @ git+https://example.invalid/x.git`\n"
        "  cause: Git operation failed\n"
    )
    pins = [Pin.parse("requests==2.25.1", source="r:1"), Pin(name="nothing-here", url="git+x")]
    culprit = resolve._failed_pin(output, pins)
    assert culprit is not None and culprit.name == "nothing-here"


def test_an_unreachable_extra_index_is_left_out_with_a_warning() -> None:
    recorded = _recorded()
    recorded = RecordedEnv(
        **{
            **recorded.__dict__,
            "index": IndexOptions(extra_index_urls=("https://private.example/simple",)),
        }
    )
    resolver = resolve._Resolver(recorded, "venv", prefer_recorded=False)
    unreachable = "`https://private.example/simple/foo/`, which cannot be reached (dns error)"
    assert resolver._drop_index(unreachable, "2020-01-01") == "2020-01-01"
    assert resolver.index.extra_index_urls == ()
    assert "left out the extra index https://private.example/simple" in resolver.warnings[-1]


def test_an_sdist_only_release_may_be_built() -> None:
    pin = Pin.parse("purepy==0.1", source="r:1")
    assert resolve._sdist_only({"purepy": [_sdist("purepy", "0.1")]}, pin)
    assert not resolve._sdist_only({"purepy": [_wheel("purepy", "0.1", "3.8")]}, pin)


# -- class 7: a pin the model file contradicts yields to the model ------------------------------
@pytest.mark.parametrize("prefer_recorded", [False, True])
def test_a_pin_the_model_file_excludes_yields_unless_prefer_recorded(prefer_recorded: bool) -> None:
    numpy = Pin.parse("numpy==2.0.1", source="requirements.txt:2")
    hint = Pin(name="numpy", specifier="<2", source="model file: numpy.core (numpy 1)")
    resolver = resolve._Resolver(_recorded(numpy), "venv", prefer_recorded=prefer_recorded)
    (merged,) = resolver.merge_hints([numpy], [hint])
    assert merged.specifier == ("==2.0.1" if prefer_recorded else "<2")
    assert ("keeping the recorded pin" in resolver.conflicts[0]) is prefer_recorded


# -- class 1: setuptools seeded as of the plan's date -------------------------------------------
@pytest.mark.parametrize(("cutoff", "line"), [("2020-08-05", "setuptools"), ("", "setuptools<81")])
def test_setuptools_is_seeded_as_of_the_plans_date(
    monkeypatch: pytest.MonkeyPatch, cutoff: str, line: str
) -> None:
    asked: list[str] = []

    def fake_compile(args: Any, key: list[str], dated: bool, **_: Any) -> tuple[bool, str]:
        asked.append(key[-3])  # the requirements.in text
        return True, "scikit-learn==0.23.2\nsetuptools==49.2.1\n"

    monkeypatch.setattr(resolve, "cached_compile", fake_compile)
    resolver = resolve._Resolver(_recorded(), "venv", prefer_recorded=False)
    sklearn = Pin.parse("scikit-learn==0.23.2", source="requirements.txt:1")
    packages = resolver.compile([sklearn], "3.8", cutoff, None)
    assert line in asked[0].splitlines()
    seeded = next(p for p in packages if p.name == "setuptools")
    assert seeded.source == (f"seeded, resolved as of {cutoff}" if cutoff else "seeded")


# -- class 8: --newest-identical claims only what it checked -----------------------------------
def test_newest_identical_names_only_the_releases_it_checked() -> None:
    from rebuild_env.commands.compare.search import Search

    verdict: Any = object()
    search = Search(
        distribution="scikit-learn",
        python="3.11",
        reference_version="1.3.0",
        versions=("1.3.1", "1.3.2", "1.4.0"),
        steps=(("1.4.0", verdict),),
        newest_identical="1.4.0",
    )
    summary = search.summary()
    assert "every release" not in summary
    assert "checked 1 of the 3 releases after 1.3.0 (1.4.0); the others were not run" in summary
    full = Search(**{**search.__dict__, "steps": tuple((v, verdict) for v in search.versions)})
    assert full.summary().startswith("every release of scikit-learn up to 1.4.0")


# -- class 7: *.pk files are found; a relative --model names a file of the bundle -------------
def test_pk_files_and_a_relative_model_are_found(tmp_path: Path, monkeypatch: Any) -> None:
    import pickle

    from rebuild_env.bundle.reader import read_bundle

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "requirements.txt").write_text("scikit-learn==1.3.2\n")
    with (bundle / "clf.pk").open("wb") as handle:
        pickle.dump({"weights": [1.0]}, handle, protocol=2)
    assert read_bundle(bundle).model.path.name == "clf.pk"
    (bundle / "other.pkl").write_bytes((bundle / "clf.pk").read_bytes())
    monkeypatch.chdir(tmp_path)
    assert read_bundle(bundle, model="other.pkl").model.path == bundle / "other.pkl"
