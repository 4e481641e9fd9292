"""The resolver: every change to a pin is a warning; Python comes from the record."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from rebuild_env.errors import ExitCode, InterpreterNotFound
from rebuild_env.pins import ModelSpec, Pin, PythonRecord, RecordedEnv
from rebuild_env.resolve import make_plan

HOST = platform.python_version()


def _recorded(*pins: Pin, python: str = HOST, fmt: str = "bare") -> RecordedEnv:
    return RecordedEnv(
        bundle_dir=Path("b"),
        format=fmt,
        model=ModelSpec(Path("b/model.joblib")),
        pins=pins,
        python=PythonRecord(python, source="runtime.txt"),
    )


def _pin(text: str, line: int = 1) -> Pin:
    return Pin.parse(text, source=f"requirements.txt:{line}")


def test_platform_only_and_fake_packages_are_dropped_with_a_warning() -> None:
    plan = make_plan(
        _recorded(
            _pin("numpy==1.26.4"),
            _pin("pywin32==306", 2),
            _pin("sklearn==0.0", 3),
            _pin("pkg-resources==0.0.0", 4),
            _pin('colorama==0.4.6; sys_platform == "win32"', 5),
        ),
        resolve=False,
    )
    assert [p.name for p in plan.packages] == ["numpy", "scikit-learn"]
    dropped = {d.pin.name for d in plan.dropped}
    assert dropped == {"pywin32", "sklearn", "pkg-resources", "colorama"}
    for name in dropped:
        assert any(name in w and "dropped" in w for w in plan.warnings), name
    assert plan.package("scikit-learn").source == "stands for the dummy 'sklearn' pin"  # type: ignore[union-attr]


def test_recorded_python_is_found_and_says_where_from() -> None:
    plan = make_plan(_recorded(_pin("numpy==1.26.4")), resolve=False)
    assert plan.python_version == HOST
    assert plan.python_source == "runtime.txt"
    assert plan.interpreter is not None and plan.interpreter.version == HOST


def test_missing_python_is_one_clear_error() -> None:
    with pytest.raises(InterpreterNotFound) as info:
        make_plan(_recorded(python="3.4.10"), resolve=False)
    line = info.value.one_line()
    assert "no Python 3.4 interpreter" in line and "runtime.txt" in line and "--python" in line
    assert info.value.exit_code == ExitCode.CANNOT_RESOLVE


def test_model_file_version_fills_a_loose_pin_with_a_warning() -> None:
    hint = Pin("scikit-learn", "==1.3.2", source="model file: _sklearn_version")
    plan = make_plan(_recorded(_pin("scikit-learn>=1.0")), hints=[hint], resolve=False)
    assert plan.package("scikit-learn").version == "1.3.2"  # type: ignore[union-attr]
    assert any("pinned to 1.3.2" in w for w in plan.warnings)
    assert plan.conflicts == ()


def test_contradicting_pin_is_a_conflict_and_the_model_version_wins() -> None:
    hint = Pin("scikit-learn", "==1.3.0", source="model file: _sklearn_version")
    plan = make_plan(_recorded(_pin("scikit-learn==1.5.2")), hints=[hint], resolve=False)
    assert plan.package("scikit-learn").version == "1.3.0"  # type: ignore[union-attr]
    assert len(plan.conflicts) == 1
    assert "1.5.2" in plan.conflicts[0] and "1.3.0" in plan.conflicts[0]
    kept = make_plan(
        _recorded(_pin("scikit-learn==1.5.2")), hints=[hint], resolve=False, prefer_recorded=True
    )
    assert kept.package("scikit-learn").version == "1.5.2"  # type: ignore[union-attr]
    assert "--prefer-recorded" in kept.conflicts[0]


def test_unrecorded_package_from_model_file_is_added_with_a_warning() -> None:
    hint = Pin("scikit-learn", "==1.3.2", source="model file: _sklearn_version")
    plan = make_plan(_recorded(_pin("numpy==1.26.4")), hints=[hint], resolve=False)
    assert plan.package("scikit-learn").source == "model file: _sklearn_version"  # type: ignore[union-attr]
    assert any("added" in w for w in plan.warnings)


def test_reader_notes_become_warnings() -> None:
    recorded = RecordedEnv(
        bundle_dir=Path("b"),
        format="bare",
        model=ModelSpec(Path("b/m.pkl")),
        python=PythonRecord(HOST, "x"),
        notes=("requirements.txt:3: dropped editable install '-e .'",),
    )
    assert (
        "requirements.txt:3: dropped editable install '-e .'"
        in make_plan(recorded, resolve=False).warnings
    )


@pytest.mark.network
def test_loose_pins_resolve_as_of_the_recorded_release() -> None:
    # scikit-learn 0.24.2 was released in April 2021: numpy must come from that time.
    plan = make_plan(
        _recorded(_pin("scikit-learn==0.24.2"), _pin("numpy"), python="3.8"), resolve=True
    )
    assert plan.exclude_newer.startswith("2021-04")
    numpy = plan.package("numpy")
    assert numpy is not None and numpy.version.startswith("1.20")
    assert any("resolved as of 2021-04" in w for w in plan.warnings)
    assert plan.package("scikit-learn").source == "requirements.txt:1"  # type: ignore[union-attr]


@pytest.mark.network
def test_a_series_pin_dates_the_record_by_its_oldest_matching_release() -> None:
    # conda's `requests=2.26` is `requests==2.26.*`; with an exact pin from 2019 beside it the
    # record cannot predate requests 2.26.0 (July 2021), or nothing satisfies it.
    plan = make_plan(
        _recorded(_pin("requests==2.26.*"), _pin("requests-toolbelt==0.9.1"), python="3.9"),
        resolve=True,
    )
    assert plan.exclude_newer.startswith("2021-07")
    assert plan.package("requests").version == "2.26.0"  # type: ignore[union-attr]
    assert not any("unpinned requests" in w for w in plan.warnings)


@pytest.mark.network
def test_unrecorded_python_is_the_newest_with_wheels_for_every_pin() -> None:
    recorded = RecordedEnv(
        bundle_dir=Path("b"),
        format="bare",
        model=ModelSpec(Path("b/model.joblib")),
        pins=(_pin("scikit-learn==0.24.2"), _pin("numpy==1.19.5")),
    )
    plan = make_plan(recorded, resolve=True)
    # numpy 1.19.5 has wheels up to cp39; scikit-learn 0.24.2 too.
    assert plan.python_version.startswith("3.9.")
    assert any("records no Python version" in w for w in plan.warnings)


def test_resolver_failure_names_its_first_cause() -> None:
    from rebuild_env.uv_output import first_cause as _resolver_reason

    output = (
        "error: No solution found when resolving dependencies\n"
        "  cause: Because the requested Python version (>=3.9) does not satisfy Python>=3.11 "
        "and scikit-learn==1.9.1 depends on Python>=3.11, we can conclude that "
        "scikit-learn==1.9.1 cannot be used.\n"
        "         And because only scikit-learn<=1.9.1 is available, we can conclude that "
        "your requirements are unsatisfiable.\n\nhint: The `--python-version` value ...\n"
    )
    assert _resolver_reason(output) == (
        "Because the requested Python version (>=3.9) does not satisfy Python>=3.11 "
        "and scikit-learn==1.9.1 depends on Python>=3.11"
    )
    assert _resolver_reason("error: something else\n") == "something else"


def test_unreachable_url_is_named_instead_of_a_conflict() -> None:
    from rebuild_env.uv_output import unreachable as _unreachable

    output = """error: Request failed after 3 retries in 11.2s
  cause: Failed to fetch: http://private-pypi.org/api/pypi/simple/fake-private-package/
  cause: error sending request for url (http://private-pypi.org/api/pypi/simple/fake/)
  cause: failed to lookup address information: Name or service not known
"""
    assert _unreachable(output) == (
        "http://private-pypi.org/api/pypi/simple/fake-private-package/, which cannot be "
        "reached (failed to lookup address information: Name or service not known)"
    )
    assert _unreachable("error: Because foo==1 is unavailable") == ""


@pytest.mark.network
def test_an_app_pin_that_cannot_install_here_does_not_block_the_model() -> None:
    # The web app pinned things this machine cannot have; the model only needs scikit-learn.
    hints = [Pin.parse("scikit-learn==1.3.2", source="model file: _sklearn_version")]
    recorded = _recorded(
        _pin("flask==2.3.3", 1),
        _pin("cowsay==0.0.0", 2),  # no such release
        _pin("tensorflow==1.15.0", 3),  # no wheel for Python 3.11
        _pin("psycopg2==2.8.6", 4),  # an sdist that needs pg_config to build
        python="3.11",
    )
    plan = make_plan(recorded, hints=hints, resolve=True)
    assert {d.pin.name for d in plan.dropped} == {"cowsay", "tensorflow", "psycopg2"}
    assert plan.package("flask").version == "2.3.3"  # type: ignore[union-attr]
    assert plan.package("scikit-learn").version == "1.3.2"  # type: ignore[union-attr]
    assert sum("the model does not need it" in w for w in plan.warnings) == 3


@pytest.mark.network
def test_what_the_model_needs_is_never_dropped() -> None:
    hints = [Pin.parse("scikit-learn==0.0.999", source="model file: _sklearn_version")]
    with pytest.raises(Exception) as caught:
        make_plan(_recorded(_pin("flask==2.3.3")), hints=hints, resolve=True)
    assert getattr(caught.value, "exit_code", None) == ExitCode.CANNOT_RESOLVE
    assert "scikit-learn" in str(caught.value)


def test_model_needs_includes_the_dependencies_of_what_the_scan_found() -> None:
    from rebuild_env.resolve import model_needs

    needed = model_needs([Pin(name="scikit-learn")], "joblib")
    assert {"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"} <= needed
    assert "flask" not in needed


@pytest.mark.network
def test_the_same_question_is_resolved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rebuild_env import _subprocess

    monkeypatch.setenv("REBUILD_ENV_CACHE_DIR", str(tmp_path))
    calls: list[object] = []
    real_run = _subprocess.run

    def counting_run(args, **kwargs):  # type: ignore[no-untyped-def]
        if "compile" in [str(a) for a in args]:
            calls.append(args)
        return real_run(args, **kwargs)

    monkeypatch.setattr(_subprocess, "run", counting_run)
    recorded = _recorded(_pin("scikit-learn==1.3.2"), _pin("numpy"), _pin("cowsay==0.0.0", 2))
    first = make_plan(recorded, resolve=True)
    asked = len(calls)  # one that fails on cowsay, one without it
    second = make_plan(recorded, resolve=True)
    assert asked == 2 and len(calls) == asked
    assert first.packages == second.packages and first.dropped == second.dropped
