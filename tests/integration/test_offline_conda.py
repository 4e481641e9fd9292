"""Offline conda bundles for real: pack from a local channel, delete it, rebuild offline.

The channel is a copy of the ``conda_channel`` fixture's, removed once the bundle is packed;
the bundle pins a package that channel lacks (``six``), so the pack carries a ``pip:`` wheel.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from rebuild_env.backends.conda import CHANNELS_ENV_VAR
from tests.conftest import EXAMPLE_BUNDLE
from tests.integration.conda_channel import conda_channel
from tests.integration.test_offline import _offline_env, _run, _unshare_works
from tests.json_contract import assert_valid, one_document

pytestmark = [pytest.mark.slow, pytest.mark.network]
__all__ = ["conda_channel"]

PACKED = Path("artifacts", "conda")
SITE_PACKAGES = Path("lib", "python3.11", "site-packages")


@pytest.fixture(scope="module")
def packed(conda_channel: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example bundle plus ``six`` (not on the channel), packed for conda, then moved.

    The channel it was packed from is deleted and the bundle copied elsewhere, so nothing
    but the bundle can serve the offline rebuild.
    """
    work = tmp_path_factory.mktemp("conda-packed")
    channel = work / "channel"
    shutil.copytree(Path(conda_channel.removeprefix("file://")), channel)
    bundle = work / "packed-here" / "iris-logreg"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    manifest = yaml.safe_load((bundle / "bundle.yaml").read_text())
    manifest["packages"].append({"name": "six", "version": "1.17.0"})
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))

    env = _offline_env(work)
    for name in ("UV_INDEX_URL", "PIP_INDEX_URL"):  # packing needs the index (for six)
        del env[name]
    result = _run("pack", bundle, "--backend", "conda", "-c", channel, "--json", env=env)
    assert result.code == 0, result.stderr
    doc = one_document(result.stdout)
    assert_valid(doc, "pack")
    by_name = {a["name"]: a for a in doc["artifacts"]}
    assert {"python", "numpy", "scipy", "scikit-learn", "six"} <= set(by_name)
    assert by_name["python"]["subdir"] == "linux-64" and by_name["six"]["subdir"] is None
    assert any("six is not on the conda channel" in w for w in doc["warnings"])
    assert (bundle / PACKED / "channel" / "linux-64" / "repodata.json").is_file()
    assert (bundle / PACKED / "wheels" / by_name["six"]["filename"]).is_file()
    assert (bundle / "bundle.yaml").read_text() == yaml.safe_dump(manifest, sort_keys=False)

    shutil.rmtree(channel)
    moved = work / "moved" / bundle.name
    shutil.copytree(bundle, moved)
    shutil.rmtree(bundle.parent)
    return moved


def _conda_offline_env(tmp_path: Path) -> dict[str, str]:
    """Every index and channel pointing nowhere, every cache empty (rattler's too)."""
    env = _offline_env(tmp_path)
    env[CHANNELS_ENV_VAR] = str(tmp_path / "no-such-channel")
    env["RATTLER_CACHE_DIR"] = str(tmp_path / "rattler-cache")
    return env


def _copy(bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / bundle.name
    shutil.copytree(bundle, target)
    return target


def test_offline_conda_rebuild_from_the_bundle_alone(packed: Path, tmp_path: Path) -> None:
    env = _conda_offline_env(tmp_path)
    prefix, out = tmp_path / "env", tmp_path / "out"
    args = ("--offline", "--backend", "conda", "--prefix", prefix, "--out", out, "--json")
    result = _run(packed, *args, env=env)
    assert result.code == 0, result.stderr
    doc = one_document(result.stdout)
    assert_valid(doc, "rebuild")
    assert doc["status"] == "identical"
    assert doc["verification"]["comparison"]["equal_rows"] == 150
    assert any("the only conda channel" in w for w in doc["warnings"])
    # Python came from the bundle's channel, six from its wheels
    meta = {p.name.rsplit("-", 2)[0] for p in (prefix / "conda-meta").glob("*.json")}
    assert {"python", "numpy", "scikit-learn"} <= meta
    assert list((prefix / SITE_PACKAGES).glob("six-1.17.0.dist-info"))
    channel = (packed / PACKED / "channel").as_uri()
    assert yaml.safe_load((out / "environment.yml").read_text())["channels"] == [channel]
    assert not Path(env["RATTLER_CACHE_DIR"]).exists()  # nothing came through the user's cache
    assert not list(Path(env["REBUILD_ENV_CACHE_DIR"]).glob("conda/pkgs/*"))


@pytest.mark.skipif(not _unshare_works(), reason="no network namespaces here (unshare -n)")
def test_offline_conda_rebuild_in_a_network_namespace(packed: Path, tmp_path: Path) -> None:
    env = _conda_offline_env(tmp_path)
    del env["UV_INDEX_URL"], env["PIP_INDEX_URL"]  # no network at all: the defaults are fine
    args = ("--offline", "--backend", "conda", "--no-cache", "--out", tmp_path / "out", "--json")
    result = _run(packed, *args, env=env, prefix=["unshare", "-n"])
    assert result.code == 0, result.stderr
    doc = one_document(result.stdout)
    assert doc["status"] == "identical", doc


def test_offline_conda_names_a_deleted_package_before_building(
    packed: Path, tmp_path: Path
) -> None:
    bundle = _copy(packed, tmp_path)
    scipy = next((bundle / PACKED / "channel" / "linux-64").glob("scipy-*.conda"))
    scipy.unlink()
    prefix = tmp_path / "env"
    env = _conda_offline_env(tmp_path)
    result = _run(bundle, "--offline", "--backend", "conda", "--prefix", prefix, env=env)
    assert result.code == 2, result.stderr
    assert f"{scipy.name} (missing)" in result.stderr
    assert "rebuild-env pack" in result.stderr
    assert not prefix.exists()


def test_offline_conda_refuses_a_channel_index_edited_after_packing(
    packed: Path, tmp_path: Path
) -> None:
    bundle = _copy(packed, tmp_path)
    index = bundle / PACKED / "channel" / "linux-64" / "repodata.json"
    repodata = json.loads(index.read_text())
    numpy = next(k for k in repodata["packages.conda"] if k.startswith("numpy-"))
    repodata["packages.conda"][numpy]["sha256"] = "0" * 64
    index.write_text(json.dumps(repodata))
    prefix = tmp_path / "env"
    env = _conda_offline_env(tmp_path)
    result = _run(bundle, "--offline", "--backend", "conda", "--prefix", prefix, env=env)
    assert result.code == 2, result.stderr
    assert f"{numpy} (its sha256 in repodata.json differs)" in result.stderr
    assert not prefix.exists()
