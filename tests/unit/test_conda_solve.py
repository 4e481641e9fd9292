"""The conda backend's solve on a channel of repodata only: names, pip: section, ladder, errors.

The solver needs nothing but ``repodata.json``, so these tests build a tiny channel of
package records (no package files) in a temporary folder: fast, offline.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rebuild_env.backends.conda import CondaBackend
from rebuild_env.errors import ExitCode, ResolveError
from rebuild_env.pins import ModelSpec, RecordedEnv
from rebuild_env.plan import Plan, PlannedPackage

PYTHON_DEPS = ["python >=3.11,<3.12.0a0", "python_abi 3.11.* *_cp311"]
RECORDS = [
    ("python", "3.11.7", "h1_0_cpython", ["python_abi 3.11.* *_cp311"]),
    ("python", "3.11.9", "h2_0_cpython", ["python_abi 3.11.* *_cp311"]),
    ("python_abi", "3.11", "8_cp311", []),
    ("numpy", "1.26.4", "py311h64a7726_0", PYTHON_DEPS),
    ("numpy", "1.26.4", "py311h0000000_1", PYTHON_DEPS),
    ("numpy", "2.0.2", "py311h0000000_0", PYTHON_DEPS),
    ("scipy", "1.11.4", "py311h0_0", [*PYTHON_DEPS, "numpy >=1.23,<1.28"]),
    ("pytorch", "2.1.0", "cpu_py311h0_0", [*PYTHON_DEPS, "numpy"]),
    ("pytables", "3.9.2", "py311h0_0", [*PYTHON_DEPS, "numpy"]),
]


def make_channel(root: Path) -> Path:
    """A channel whose repodata lists RECORDS (there are no package files)."""
    packages = {}
    for name, version, build, depends in RECORDS:
        packages[f"{name}-{version}-{build}.conda"] = {
            "name": name,
            "version": version,
            "build": build,
            "build_number": int(last) if (last := build.rsplit("_", 1)[-1]).isdigit() else 0,
            "depends": depends,
            "subdir": "linux-64",
            "md5": "0" * 32,
            "sha256": "0" * 64,
            "timestamp": 1700000000000,
        }
    for subdir, content in (("linux-64", packages), ("noarch", {})):
        (root / subdir).mkdir(parents=True)
        doc = {"info": {"subdir": subdir}, "packages": {}, "packages.conda": content}
        (root / subdir / "repodata.json").write_text(json.dumps(doc))
    return root


def make_plan(tmp_path: Path, *packages: PlannedPackage, python: str = "3.11.7") -> Plan:
    recorded = RecordedEnv(
        bundle_dir=tmp_path / "bundle",
        format="conda-env",
        model=ModelSpec(path=tmp_path / "bundle" / "model.joblib"),
    )
    return Plan(
        recorded=recorded,
        backend="conda",
        python_version=python,
        python_source="environment.yml",
        interpreter=None,
        packages=packages,
    )


@pytest.fixture
def channel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("UV_OFFLINE", "1")  # the pip: section's wheel lookup stays offline
    return str(make_channel(tmp_path / "channel"))


def test_pypi_names_map_to_conda_names(tmp_path: Path, channel: str) -> None:
    backend = CondaBackend([channel])
    plan = make_plan(
        tmp_path,
        PlannedPackage("torch", "2.1.0", "requirements.txt:1"),
        PlannedPackage("tables", "3.9.2", "requirements.txt:2"),
        PlannedPackage("numpy", "1.26.4", "requirements.txt:3"),
    )
    solution = backend.solve(plan)
    assert "pytorch==2.1.0" in solution.requested and "pytables==3.9.2" in solution.requested
    assert {p.name for p in solution.packages} >= {"pytorch", "pytables", "numpy", "python"}
    assert solution.pip == () and backend.last_warnings == []


def test_package_missing_from_channel_goes_to_pip_with_a_warning(
    tmp_path: Path, channel: str
) -> None:
    backend = CondaBackend([channel])
    plan = make_plan(
        tmp_path,
        PlannedPackage("numpy", "1.26.4", "requirements.txt:1"),
        PlannedPackage("only-on-pypi", "0.3.1", "requirements.txt:2"),
        PlannedPackage("scipy", "1.13.0", "requirements.txt:3"),
    )
    solution = backend.solve(plan)
    assert [p.planned.name for p in solution.pip] == ["only-on-pypi", "scipy"]
    assert any(
        "only-on-pypi is not on the conda channel" in w and "pip: section" in w
        for w in backend.last_warnings
    )
    assert any("scipy 1.13.0 is not on the conda channel" in w for w in backend.last_warnings)
    env_yml = (backend.write_specs(plan, tmp_path / "out")[0]).read_text()
    assert "- pip:" in env_yml and "only-on-pypi==0.3.1" in env_yml


def test_recorded_build_kept_when_the_channel_has_it(tmp_path: Path, channel: str) -> None:
    source = "environment.yml (conda: numpy=1.26.4=py311h64a7726_0)"
    solution = CondaBackend([channel]).solve(
        make_plan(tmp_path, PlannedPackage("numpy", "1.26.4", source))
    )
    numpy = solution.package("numpy")
    assert numpy is not None and numpy.build == "py311h64a7726_0"


def test_missing_build_falls_back_to_same_version_with_a_warning(
    tmp_path: Path, channel: str
) -> None:
    backend = CondaBackend([channel])
    source = "environment.yml (conda: numpy=1.26.4=py311hdeadbee_0)"
    solution = backend.solve(make_plan(tmp_path, PlannedPackage("numpy", "1.26.4", source)))
    numpy = solution.package("numpy")
    assert numpy is not None and numpy.version == "1.26.4"
    assert any("build py311hdeadbee_0" in w and "any build" in w for w in backend.last_warnings)


def test_missing_version_takes_any_version_only_when_allowed(tmp_path: Path, channel: str) -> None:
    plan = make_plan(tmp_path, PlannedPackage("numpy", "1.99.0", "environment.yml"))
    strict = CondaBackend([channel]).solve(plan)
    assert [p.planned.name for p in strict.pip] == ["numpy"]
    backend = CondaBackend([channel], allow_name_only=True)
    loose = backend.solve(plan)
    assert loose.pip == () and loose.package("numpy") is not None
    assert any("taking any version, as allowed" in w for w in backend.last_warnings)


def test_python_patch_missing_uses_the_same_minor_with_a_warning(
    tmp_path: Path, channel: str
) -> None:
    backend = CondaBackend([channel])
    solution = backend.solve(make_plan(tmp_path, python="3.11.2"))
    assert solution.python_version == "3.11.9"
    assert any("Python 3.11.2 is not on the conda channel" in w for w in backend.last_warnings)


def test_python_minor_missing_is_a_clear_error(tmp_path: Path, channel: str) -> None:
    with pytest.raises(ResolveError) as caught:
        CondaBackend([channel]).solve(make_plan(tmp_path, python="3.8.18"))
    assert "Python 3.8 is not on the conda channel" in caught.value.one_line()
    assert caught.value.exit_code == ExitCode.CANNOT_RESOLVE


def test_unsatisfiable_pins_name_the_conflict(tmp_path: Path, channel: str) -> None:
    plan = make_plan(
        tmp_path,
        PlannedPackage("numpy", "2.0.2", "requirements.txt:1"),
        PlannedPackage("scipy", "1.11.4", "requirements.txt:2"),
    )
    with pytest.raises(ResolveError) as caught:
        CondaBackend([channel]).solve(plan)
    line = caught.value.one_line()
    assert "\n" not in line
    assert line.startswith("the conda channel(s) cannot install these pins together: ")
    assert "numpy" in line and "scipy" in line


def test_unknown_channel_path_is_a_clear_error(tmp_path: Path) -> None:
    from rebuild_env.errors import UsageError

    with pytest.raises(UsageError) as caught:
        CondaBackend([str(tmp_path / "no-such-channel")])
    assert "does not exist" in caught.value.one_line()


def test_unreachable_channel_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ResolveError) as caught:
        CondaBackend(["https://conda.invalid/channel"]).solve(make_plan(tmp_path))
    line = caught.value.one_line()
    assert "\n" not in line and "cannot read the conda channel(s)" in line


def test_empty_directory_is_not_a_channel(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResolveError) as caught:
        CondaBackend([str(tmp_path / "empty")]).solve(make_plan(tmp_path))
    assert "cannot read the conda channel(s)" in caught.value.one_line()
