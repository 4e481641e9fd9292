"""Offline bundles without the network: the pack record, its atomic publication, the checks
``--offline`` makes before building, and the installer environment it uses."""

from __future__ import annotations

import shutil
import sysconfig
from dataclasses import replace
from pathlib import Path

import pytest

from rebuild_env import interpreters
from rebuild_env.bundle import read_bundle
from rebuild_env.errors import (
    ArtifactsMissing,
    BundleError,
    ExitCode,
    InterpreterNotFound,
    UsageError,
)
from rebuild_env.pack import offline, offline_conda, plan_offline, record
from rebuild_env.pack.record import Artifact, PackRecord
from rebuild_env.plan import PlannedPackage
from rebuild_env.rebuild import Options
from rebuild_env.spec.conda_solution import CondaPackage, CondaSolution, PipPackage
from tests.conftest import EXAMPLE_BUNDLE, run_cli


def _packed_copy(tmp_path: Path, names: tuple[str, ...] = ("numpy", "joblib")) -> Path:
    """A copy of the example bundle with a hand-made pack of small fake wheels."""
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    folder = record.backend_dir(bundle, "venv")
    wheels = folder / record.WHEELS_DIR
    wheels.mkdir(parents=True)
    artifacts = []
    for name in names:
        path = wheels / f"{name}-1.0-py3-none-any.whl"
        path.write_bytes(name.encode() * 100)
        artifacts.append(
            Artifact(name, "1.0", path.name, record.file_sha256(path), path.stat().st_size)
        )
    recorded = read_bundle(bundle)
    pack = PackRecord(
        backend="venv",
        platform=sysconfig.get_platform(),
        python_version="3.11.7",
        python_source="bundle.yaml",
        record_key=record.record_key(recorded, ()),
        artifacts=tuple(artifacts),
        warnings=("a plan warning",),
    )
    record.write(folder, pack)
    return bundle


def test_pack_record_round_trips(tmp_path: Path) -> None:
    bundle = _packed_copy(tmp_path)
    pack = record.read(record.backend_dir(bundle, "venv"))
    assert pack is not None
    assert [a.name for a in pack.artifacts] == ["numpy", "joblib"]
    assert pack.python_version == "3.11.7" and pack.warnings == ("a plan warning",)
    assert (bundle / "bundle.yaml").read_bytes() == (EXAMPLE_BUNDLE / "bundle.yaml").read_bytes()


def test_a_folder_without_its_record_is_no_pack(tmp_path: Path) -> None:
    (tmp_path / "wheels").mkdir()
    assert record.read(tmp_path) is None


def test_interrupted_staging_leaves_the_earlier_pack(tmp_path: Path) -> None:
    bundle = _packed_copy(tmp_path)
    folder = record.backend_dir(bundle, "venv")
    before = sorted(p.name for p in folder.rglob("*"))
    with pytest.raises(KeyboardInterrupt), record.staging(folder) as staged:
        (staged / record.WHEELS_DIR).mkdir()
        (staged / record.WHEELS_DIR / "half.whl").write_bytes(b"half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in folder.rglob("*")) == before
    assert [p.name for p in folder.parent.iterdir()] == ["venv"]


def test_staging_without_a_record_publishes_nothing(tmp_path: Path) -> None:
    final = tmp_path / "artifacts" / "venv"
    with pytest.raises(BundleError), record.staging(final) as staged:
        (staged / "x.whl").write_bytes(b"x")
    assert not final.exists() and not final.parent.exists()


def test_staging_replaces_the_earlier_pack_and_cleans_leftovers(tmp_path: Path) -> None:
    bundle = _packed_copy(tmp_path)
    folder = record.backend_dir(bundle, "venv")
    killed = folder.with_name(".packing-venv-99999")  # what a SIGKILLed pack leaves
    killed.mkdir()
    with record.staging(folder) as staged:
        record.write(staged, PackRecord("venv", "p", "3.11.7", "", "k", ()))
    pack = record.read(folder)
    assert pack is not None and pack.artifacts == ()
    assert [p.name for p in folder.parent.iterdir()] == ["venv"]


def test_offline_names_every_missing_or_altered_artifact(tmp_path: Path) -> None:
    bundle = _packed_copy(tmp_path, ("numpy", "joblib", "scipy"))
    wheels = record.backend_dir(bundle, "venv") / record.WHEELS_DIR
    (wheels / "numpy-1.0-py3-none-any.whl").unlink()
    with (wheels / "scipy-1.0-py3-none-any.whl").open("ab") as handle:
        handle.write(b"tampered")
    folder, pack = offline.read_pack(bundle, "venv")
    with pytest.raises(ArtifactsMissing) as caught:
        offline.check_artifacts(folder, pack, record.WHEELS_DIR)
    message = caught.value.one_line()
    assert "numpy-1.0-py3-none-any.whl (missing)" in message
    assert "scipy-1.0-py3-none-any.whl (sha256 differs" in message
    assert "joblib" not in message and "2 of the 3" in message
    assert caught.value.exit_code == ExitCode.BAD_INPUT


def test_offline_refuses_a_pack_made_for_another_record(tmp_path: Path) -> None:
    bundle = _packed_copy(tmp_path)
    manifest = bundle / "bundle.yaml"
    manifest.write_text(manifest.read_text().replace("1.6.0", "1.5.3"))
    with pytest.raises(BundleError, match="changed after it was packed"):
        plan_offline(read_bundle(bundle), (), Options())


def test_offline_plan_comes_from_the_pack_record(tmp_path: Path) -> None:
    bundle = _packed_copy(tmp_path)
    plan = plan_offline(read_bundle(bundle), (), Options())
    assert [(p.name, p.version) for p in plan.packages] == [("numpy", "1.0"), ("joblib", "1.0")]
    assert all(len(p.hashes) == 1 and p.hashes[0].startswith("sha256:") for p in plan.packages)
    assert plan.index.find_links == (str(record.backend_dir(bundle, "venv") / "wheels"),)
    assert not plan.index.index_url and plan.python_version.startswith("3.11.")
    assert "a plan warning" in plan.warnings


def test_offline_says_the_interpreter_cannot_come_from_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing_here(version: str, *, source: str) -> None:
        raise InterpreterNotFound("no Python 3.11 interpreter found")

    monkeypatch.setattr(interpreters, "find", nothing_here)
    bundle = _packed_copy(tmp_path)
    with pytest.raises(InterpreterNotFound) as caught:
        plan_offline(read_bundle(bundle), (), Options())
    message = caught.value.one_line()
    assert "offline it cannot come from the network" in message and "Python 3.11" in message
    assert caught.value.exit_code == ExitCode.CANNOT_RESOLVE


def test_offline_refuses_another_python_minor(tmp_path: Path) -> None:
    bundle = _packed_copy(tmp_path)
    with pytest.raises(UsageError, match=r"wheels are for Python 3\.11"):
        plan_offline(read_bundle(bundle), (), Options(python="3.12"))


def test_offline_installer_environment_has_no_index_and_no_user_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_FIND_LINKS"):
        monkeypatch.setenv(name, "http://example.invalid/simple")
    monkeypatch.setenv("UV_CACHE_DIR", "/somewhere/the/user/keeps")
    env = offline.offline_env(tmp_path)
    assert not {"UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_FIND_LINKS"} & set(env)
    assert env["UV_CACHE_DIR"] == str(tmp_path) and env["UV_OFFLINE"] == "1"
    assert env["UV_NO_CONFIG"] == "1" and env["PIP_NO_INDEX"] == "1"


def test_offline_without_a_pack_fails_naming_the_pack_command(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    result = run_cli(bundle, "--offline", "--prefix", tmp_path / "env", "--out", tmp_path / "o")
    assert result.code == 2, result.stderr
    assert "carries no artifacts for the venv backend" in result.stderr
    assert "rebuild-env pack" in result.stderr
    assert not (tmp_path / "env").exists()


def _conda_packed_copy(tmp_path: Path) -> Path:
    """A copy of the example bundle with a hand-made conda pack (fake package files)."""
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    folder = record.backend_dir(bundle, "conda")
    files = {
        ("python", "3.11.7", "linux-64"): "python-3.11.7-h0_cpython.conda",
        ("numpy", "2.4.6", "linux-64"): "numpy-2.4.6-py311_0.conda",
        ("six", "1.17.0", ""): "six-1.17.0-py2.py3-none-any.whl",
    }
    artifacts, packages = [], []
    for (name, version, subdir), filename in files.items():
        artifact = Artifact(name, version, filename, "0" * 64, 1, "bundle.yaml", subdir)
        path = record.artifact_path(folder, artifact)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode() * 100)
        artifacts.append(replace(artifact, sha256=record.file_sha256(path)))
        packages.append(PlannedPackage(name, version, "bundle.yaml"))
    solution = CondaSolution(
        channels=("conda-forge",),
        platform="linux-64",
        python_version="3.11.7",
        requested=("python=3.11.7", "numpy==2.4.6"),
        packages=(
            CondaPackage(
                "python", "3.11.7", "h0_cpython", "https://x/linux-64/p.conda", "", "", "linux-64"
            ),
            CondaPackage(
                "numpy", "2.4.6", "py311_0", "https://x/linux-64/n.conda", "", "", "linux-64"
            ),
        ),
        pip=(PipPackage(PlannedPackage("six", "1.17.0", "bundle.yaml"), "https://x/six.whl"),),
        warnings=("six is not on the conda channel(s)",),
    )
    pack = PackRecord(
        backend="conda",
        platform=sysconfig.get_platform(),
        python_version="3.11.7",
        python_source="bundle.yaml",
        record_key=record.record_key(read_bundle(bundle), ()),
        artifacts=tuple(artifacts),
        packages=tuple(p for p in packages if p.name != "python"),
        solution=solution,
    )
    record.write(folder, pack)
    return bundle


def test_conda_pack_record_round_trips_with_its_solution(tmp_path: Path) -> None:
    folder = record.backend_dir(_conda_packed_copy(tmp_path), "conda")
    pack = record.read(folder)
    assert pack is not None and pack.solution is not None
    assert [(a.name, a.subdir) for a in pack.artifacts] == [
        ("python", "linux-64"),
        ("numpy", "linux-64"),
        ("six", ""),
    ]
    assert [p.name for p in pack.packages] == ["numpy", "six"]
    assert pack.solution.pip[0].planned.name == "six"
    assert pack.solution.package("numpy") is not None
    assert record.artifact_path(folder, pack.artifacts[1]) == (
        folder / "channel" / "linux-64" / "numpy-2.4.6-py311_0.conda"
    )


def test_a_record_pointing_outside_its_channel_is_refused(tmp_path: Path) -> None:
    folder = record.backend_dir(_conda_packed_copy(tmp_path), "conda")
    path = folder / record.RECORD_FILE
    path.write_text(path.read_text().replace("subdir: linux-64", "subdir: ..", 1))
    with pytest.raises(BundleError, match="bad subdir"):
        record.read(folder)


def test_offline_conda_names_a_missing_package_file(tmp_path: Path) -> None:
    bundle = _conda_packed_copy(tmp_path)
    folder = record.backend_dir(bundle, "conda")
    (folder / "channel" / "linux-64" / "numpy-2.4.6-py311_0.conda").unlink()
    with pytest.raises(ArtifactsMissing) as caught:
        plan_offline(read_bundle(bundle), (), Options(backend="conda"))
    message = caught.value.one_line()
    assert "numpy-2.4.6-py311_0.conda (missing)" in message and "1 of the 3" in message


def test_offline_conda_plan_needs_no_interpreter_and_ignores_other_channels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_lookup(version: str, *, source: str) -> None:
        raise AssertionError("an offline conda plan looks for no interpreter")

    monkeypatch.setattr(interpreters, "find", no_lookup)
    monkeypatch.setenv("REBUILD_ENV_CONDA_CHANNELS", "/no/such/channel")
    bundle = _conda_packed_copy(tmp_path)
    options = Options(backend="conda", channels=("conda-forge",))
    plan = plan_offline(read_bundle(bundle), (), options)
    assert plan.interpreter is None and plan.python_version == "3.11.7"
    assert [p.name for p in plan.packages] == ["numpy", "six"]
    assert all(p.hashes[0].startswith("sha256:") for p in plan.packages)
    folder = record.backend_dir(bundle, "conda")
    assert plan.index.find_links == (str(folder / "wheels"),) and not plan.index.index_url
    note = next(w for w in plan.warnings if "the only conda channel" in w)
    assert "--channel conda-forge" in note and "/no/such/channel" in note
    with pytest.raises(UsageError, match=r"conda packages are for Python 3\.11"):
        plan_offline(read_bundle(bundle), (), replace(options, python="3.12"))


def test_offline_conda_solution_points_at_the_bundle(tmp_path: Path) -> None:
    bundle = _conda_packed_copy(tmp_path)
    folder, pack = offline.read_pack(bundle, "conda")
    solution = offline_conda.offline_solution(folder, pack)
    channel = (folder / "channel").absolute().as_uri()
    assert solution.channels == (channel,)
    assert {p.url for p in solution.packages} == {
        f"{channel}/linux-64/p.conda",
        f"{channel}/linux-64/n.conda",
    }
    six = solution.pip[0]
    assert six.url == (folder / "wheels" / "six-1.17.0-py2.py3-none-any.whl").as_uri()
    assert six.sha256 == pack.artifacts[2].sha256


def test_a_failed_conda_pack_leaves_the_bundle_as_it_was(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    result = run_cli("pack", bundle, "--backend", "conda", "-c", tmp_path / "no-channel")
    assert result.code == 2 and "does not exist" in result.stderr
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        p.name for p in EXAMPLE_BUNDLE.iterdir()
    )
