"""Spec files of the conda backend parse back with conda-lock's own parser and pyyaml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from rebuild_env.backends.conda import (
    CHANNELS_ENV_VAR,
    DEFAULT_CHANNELS,
    EXE_ENV_VAR,
    CondaBackend,
    external_command,
    find_external,
)
from rebuild_env.backends.conda_names import conda_name
from rebuild_env.errors import BuildError, UsageError
from rebuild_env.plan import PlannedPackage
from rebuild_env.spec import conda_lock
from tests.unit.test_conda_solve import make_channel, make_plan


@pytest.fixture
def written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[CondaBackend, Path]:
    monkeypatch.setenv("UV_OFFLINE", "1")
    backend = CondaBackend([str(make_channel(tmp_path / "channel"))])
    plan = make_plan(
        tmp_path,
        PlannedPackage("numpy", "1.26.4", "requirements.txt:1"),
        PlannedPackage("tables", "3.9.2", "requirements.txt:2"),
        PlannedPackage("only-on-pypi", "0.3.1", "requirements.txt:3"),
    )
    paths = backend.write_specs(plan, tmp_path / "out")
    assert [p.name for p in paths] == ["environment.yml", "conda-lock.yml", "conda-explicit.txt"]
    return backend, tmp_path / "out"


def test_environment_yml_lists_conda_names_exact_pins_and_pip(
    written: tuple[CondaBackend, Path],
) -> None:
    doc = yaml.safe_load((written[1] / "environment.yml").read_text())
    assert doc["name"] == "bundle"
    assert doc["channels"] == list(written[0].channels)
    assert doc["dependencies"][:3] == ["python=3.11.7", "numpy==1.26.4", "pytables==3.9.2"]
    assert doc["dependencies"][3] == {"pip": ["only-on-pypi==0.3.1"]}


def test_environment_yml_reads_back_with_conda_lock(written: tuple[CondaBackend, Path]) -> None:
    from conda_lock.src_parser import make_lock_spec

    mapping = written[1].parent / "empty-mapping.json"  # offline: no name lookups needed
    mapping.write_text("{}")
    spec = make_lock_spec(
        src_files=[written[1] / "environment.yml"],
        platform_overrides=None,
        mapping_url=str(mapping),
    )
    deps = {d.name: d for d in spec.dependencies["linux-64"]}
    assert {"python", "numpy", "pytables", "only-on-pypi"} <= set(deps)
    assert deps["only-on-pypi"].manager == "pip"


def test_conda_lock_round_trips_through_conda_locks_parser(
    written: tuple[CondaBackend, Path],
) -> None:
    lock = conda_lock.read(written[1] / "conda-lock.yml")
    conda = {p.name: p for p in lock.package if p.manager == "conda"}
    assert {"python", "python_abi", "numpy", "pytables"} == set(conda)
    numpy = conda["numpy"]
    assert numpy.version == "1.26.4" and numpy.platform == "linux-64"
    assert numpy.url.endswith(f"/linux-64/numpy-1.26.4-{numpy.build}.conda")
    assert numpy.hash.md5 == "0" * 32 and numpy.hash.sha256 == "0" * 64
    assert numpy.dependencies["python_abi"] == "3.11.* *_cp311"
    pip = [p for p in lock.package if p.manager == "pip"]
    assert [(p.name, p.version) for p in pip] == [("only-on-pypi", "0.3.1")]
    assert lock.metadata.platforms == ["linux-64"]
    assert [c.url for c in lock.metadata.channels] == list(written[0].channels)


def test_explicit_file_lists_the_exact_urls(written: tuple[CondaBackend, Path]) -> None:
    text = (written[1] / "conda-explicit.txt").read_text()
    head, _, body = text.partition("@EXPLICIT\n")
    assert "# platform: linux-64" in head and "only-on-pypi==0.3.1" in head
    urls = body.split()
    assert len(urls) == 4 and all(u.startswith("file://") and "#" in u for u in urls)
    assert urls[0].split("/")[-1].startswith("python_abi-")  # dependencies first
    lock = conda_lock.read(written[1] / "conda-lock.yml")
    assert {u.split("#")[0] for u in urls} == {p.url for p in lock.package if p.manager == "conda"}


def test_name_mapping() -> None:
    assert conda_name("torch") == "pytorch"
    assert conda_name("tables") == "pytables"
    assert conda_name("msgpack") == "msgpack-python"
    assert conda_name("Scikit_Learn") == "scikit-learn"


def test_channels_default_and_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CHANNELS_ENV_VAR, raising=False)
    assert CondaBackend().channels == DEFAULT_CHANNELS
    monkeypatch.setenv(CHANNELS_ENV_VAR, f"{tmp_path}, conda-forge")
    assert CondaBackend().channels == (tmp_path.as_uri(), "conda-forge")
    assert CondaBackend(["bioconda"]).channels == ("bioconda",)


def test_external_command_construction(tmp_path: Path) -> None:
    prefix, lock = tmp_path / "env", tmp_path / "conda-explicit.txt"
    assert external_command("/opt/bin/micromamba", prefix, lock) == [
        "/opt/bin/micromamba",
        *("create", "--yes", "--prefix", str(prefix), "--file", str(lock)),
    ]
    command = external_command("mamba", prefix, lock)
    assert command[:2] == ["mamba", "create"] and command[-2:] == ["--file", str(lock)]


def test_external_tool_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.devnull)
    with pytest.raises(BuildError) as caught:
        find_external("micromamba")
    assert "micromamba is not on PATH" in caught.value.one_line()


def test_external_tool_must_be_a_conda_tool(tmp_path: Path) -> None:
    tool = tmp_path / "not-conda"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    with pytest.raises(UsageError):
        find_external(str(tool))
    with pytest.raises(BuildError):
        find_external(str(tmp_path / "missing" / "conda"))


def test_conda_exe_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXE_ENV_VAR, "micromamba")
    assert CondaBackend(["conda-forge"]).use_external == "micromamba"
    assert CondaBackend(["conda-forge"], use_external="mamba").use_external == "mamba"


def test_stored_solution_round_trips_and_rejects_garbage(
    written: tuple[CondaBackend, Path],
) -> None:
    from rebuild_env.spec import conda_solution

    backend, _ = written
    assert backend._solved is not None
    solution = backend._solved[1].solution
    assert solution.pip  # the round trip covers the pip: section too
    assert conda_solution.from_json(conda_solution.to_json(solution)) == solution
    for garbage in ({}, {"packages": [{"name": 1}]}, {"packages": None}):
        with pytest.raises(ValueError):
            conda_solution.from_json(garbage)
