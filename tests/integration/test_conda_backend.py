"""``--backend conda`` end to end on a real local channel: real rattler solve and install.

The channel (``conda_channel``) is built by ``scripts/build_test_channel.py`` from this
machine's pyenv CPython and the example bundle's wheels; no conda binary is involved.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from rebuild_env.backends.base import INCOMPLETE_MARKER, building, is_complete
from rebuild_env.backends.conda import CHANNELS_ENV_VAR, SOLUTION_FILE, CondaBackend
from rebuild_env.rebuild import Options, plan_bundle
from rebuild_env.spec import conda_lock
from tests.conftest import EXAMPLE_BUNDLE, run_cli
from tests.integration.conda_channel import conda_channel

pytestmark = [pytest.mark.slow, pytest.mark.network]
__all__ = ["conda_channel"]


@pytest.fixture
def on_channel(conda_channel: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI (a child process) reads its conda channel from the environment."""
    monkeypatch.setenv(CHANNELS_ENV_VAR, conda_channel)
    return conda_channel


def _copy_bundle(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    return bundle


def test_example_bundle_rebuilds_with_conda_and_verifies(tmp_path: Path, on_channel: str) -> None:
    prefix, out = tmp_path / "env", tmp_path / "out"
    done = run_cli(EXAMPLE_BUNDLE, "--backend", "conda", "--prefix", prefix, "--out", out, "--json")
    assert done.code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["status"] == "identical"
    assert report["verification"]["comparison"]["equal_rows"] == 150
    assert report["verification"]["versions"]["scikit-learn"] == "1.9.1"
    # a real conda prefix: conda-meta records, the repackaged interpreter, nothing half-built
    meta = {p.name.rsplit("-", 2)[0] for p in (prefix / "conda-meta").glob("*.json")}
    assert {"python", "python_abi", "numpy", "scikit-learn", "scipy", "joblib"} <= meta
    assert is_complete(prefix) and not (prefix / INCOMPLETE_MARKER).exists()

    env_yml = yaml.safe_load((out / "environment.yml").read_text())
    assert env_yml["channels"] == [on_channel]
    assert "scikit-learn==1.9.1" in env_yml["dependencies"]
    lock = conda_lock.read(out / "conda-lock.yml")
    locked = {p.name: p for p in lock.package}
    assert locked["scikit-learn"].url.startswith(on_channel)
    assert locked["python"].version == "3.11.7"
    explicit = (out / "conda-explicit.txt").read_text().split("@EXPLICIT\n")[1].split()
    assert {u.split("#")[0] for u in explicit} == {p.url for p in lock.package}


def test_package_left_off_the_channel_goes_to_the_pip_section(
    tmp_path: Path, on_channel: str
) -> None:
    bundle = _copy_bundle(tmp_path)
    manifest = yaml.safe_load((bundle / "bundle.yaml").read_text())
    manifest["packages"].append({"name": "six", "version": "1.17.0"})  # not on the channel
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    prefix, out = tmp_path / "env", tmp_path / "out"
    done = run_cli(bundle, "--backend", "conda", "--prefix", prefix, "--out", out)
    assert done.code == 0, done.stderr
    assert "predictions identical (150/150)" in done.stdout
    assert "six is not on the conda channel" in done.stdout + done.stderr
    env_yml = yaml.safe_load((out / "environment.yml").read_text())
    assert env_yml["dependencies"][-1] == {"pip": ["six==1.17.0"]}
    lock = conda_lock.read(out / "conda-lock.yml")
    six = next(p for p in lock.package if p.name == "six")
    assert six.manager == "pip" and six.url.endswith(".whl") and six.hash.sha256
    assert list((prefix / "lib" / "python3.11" / "site-packages").glob("six-1.17.0.dist-info"))


def test_conda_env_export_with_a_vanished_build_rebuilds(tmp_path: Path, on_channel: str) -> None:
    bundle = tmp_path / "exported"
    bundle.mkdir()
    for name in ("model.joblib", "sample_input.npy", "sample_output.npy"):
        shutil.copy(EXAMPLE_BUNDLE / name, bundle / name)
    manifest = yaml.safe_load((EXAMPLE_BUNDLE / "bundle.yaml").read_text())
    deps = ["python=3.11.7=hab00c5b_0_cpython", "openssl=3.2.1=hd590300_0"]
    for package in manifest["packages"]:
        build = "py311hdeadbee_0" if package["name"] == "scikit-learn" else "py311_0"
        deps.append(f"{package['name']}={package['version']}={build}")
    (bundle / "environment.yml").write_text(
        yaml.safe_dump({"name": "exported", "channels": ["conda-forge"], "dependencies": deps})
    )
    prefix = tmp_path / "env"
    done = run_cli(bundle, "--backend", "conda", "--prefix", prefix, "--out", tmp_path / "out")
    assert done.code == 0, done.stderr
    assert "predictions identical (150/150)" in done.stdout
    said = done.stdout + done.stderr
    assert "build py311hdeadbee_0" in said and "using the same version, any build" in said
    record = json.loads(next((prefix / "conda-meta").glob("numpy-*.json")).read_text())
    assert record["build"] == "py311_0"  # the recorded build, kept: the channel has it


def test_interrupted_install_leaves_nothing_complete_looking(
    tmp_path: Path, on_channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rebuild_env.backends import conda

    plan, _ = plan_bundle(EXAMPLE_BUNDLE, Options(backend="conda"))
    backend = CondaBackend([on_channel])
    specs = backend.write_specs(plan, tmp_path / "out")
    real_install = conda._install

    def install_then_ctrl_c(records: list[object], prefix: Path) -> None:
        real_install(records, prefix)  # the packages are linked...
        raise KeyboardInterrupt  # ...and the user presses Ctrl-C before the end

    monkeypatch.setattr(conda, "_install", install_then_ctrl_c)
    prefix = tmp_path / "env"
    with (
        pytest.raises(KeyboardInterrupt),
        building(prefix, force=False, record={}) as target,
    ):
        backend.build(plan, target, specs)
    assert not prefix.exists()


@pytest.mark.parametrize("record", ["conda-lock.yml", "conda-explicit.txt"])
def test_written_conda_files_rebuild_as_bundles(
    tmp_path: Path, on_channel: str, record: str
) -> None:
    first = run_cli(EXAMPLE_BUNDLE, "--backend", "conda", "--dry-run", "--out", tmp_path / "out")
    assert first.code == 0, first.stderr
    bundle = tmp_path / "from-lock"
    bundle.mkdir()
    for name in ("model.joblib", "sample_input.npy", "sample_output.npy"):
        shutil.copy(EXAMPLE_BUNDLE / name, bundle / name)
    shutil.copy(tmp_path / "out" / record, bundle / record)
    prefix = tmp_path / "env"
    done = run_cli(bundle, "--backend", "conda", "--prefix", prefix, "--out", tmp_path / "again")
    assert done.code == 0, done.stderr
    assert "predictions identical (150/150)" in done.stdout
    assert "any build" not in done.stdout + done.stderr  # every recorded build was found
    again = conda_lock.read(tmp_path / "again" / "conda-lock.yml")
    before = conda_lock.read(tmp_path / "out" / "conda-lock.yml")
    # the same conda packages, builds included (the resolver adds pip, which comes from PyPI)
    assert {(p.name, p.version, p.build) for p in again.package if p.manager == "conda"} == {
        (p.name, p.version, p.build) for p in before.package
    }


def test_channel_flag_builds_into_the_cache_and_reuses_it(
    tmp_path: Path, conda_channel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CHANNELS_ENV_VAR, raising=False)
    directory = conda_channel.removeprefix("file://")  # a plain path works as well as a URL
    args = ("--backend", "conda", "--channel", directory, "--out", tmp_path / "out", "--json")
    first = run_cli(EXAMPLE_BUNDLE, *args)
    assert first.code == 0, first.stderr
    built = json.loads(first.stdout)
    assert built["status"] == "identical" and built["reused_env"] is False
    prefix = Path(built["prefix"])
    assert prefix.name.startswith("conda-") and is_complete(prefix)

    # the hit writes the spec files from the solution stored in the env, without solving
    assert (prefix / SOLUTION_FILE).is_file()
    (tmp_path / "out").rename(tmp_path / "first-out")
    second = json.loads(run_cli(EXAMPLE_BUNDLE, *args, "--reverify").stdout)
    assert second["reused_env"] is True and second["prefix"] == built["prefix"]
    assert second["status"] == "identical"
    for name in ("environment.yml", "conda-lock.yml", "conda-explicit.txt"):
        assert (tmp_path / "out" / name).read_text() == (tmp_path / "first-out" / name).read_text()
    located = run_cli("cache", "path", EXAMPLE_BUNDLE, "--backend", "conda", "-c", conda_channel)
    assert located.code == 0 and located.stdout.strip() == built["prefix"]
    # another channel is another environment
    elsewhere = run_cli("cache", "path", EXAMPLE_BUNDLE, "--backend", "conda", "-c", "conda-forge")
    assert elsewhere.code == 0 and elsewhere.stdout.strip() != built["prefix"]


def test_external_conda_tool_failure_is_one_line_and_leaves_nothing(
    tmp_path: Path, on_channel: str
) -> None:
    # No conda, mamba or micromamba can be installed here: a stand-in that fails the way
    # they do proves the command is run, its failure reported, and the prefix removed.
    tools = tmp_path / "bin"
    tools.mkdir()
    tool = tools / "micromamba"
    log = tmp_path / "argv.txt"
    tool.write_text(
        f"#!/bin/sh\necho \"$@\" > {log}\necho 'critical libmamba Could not open lockfile' >&2\n"
        "exit 1\n"
    )
    tool.chmod(0o755)
    prefix = tmp_path / "env"
    done = run_cli(
        EXAMPLE_BUNDLE,
        "--backend",
        "conda",
        "--conda-exe",
        tool,
        "--prefix",
        prefix,
        "--out",
        tmp_path / "out",
    )
    assert done.code == 4, done.stderr
    assert "micromamba" in done.stderr.splitlines()[-1]
    argv = log.read_text().split()
    assert argv[:2] == ["create", "--yes"] and argv[argv.index("--prefix") + 1] == str(prefix)
    assert argv[argv.index("--file") + 1].endswith("conda-explicit.txt")
    assert not prefix.exists()
