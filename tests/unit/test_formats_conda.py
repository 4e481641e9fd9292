"""conda records: environment.yml (export with builds, --from-history), explicit files,
conda-lock.yml; and conda-lock's own test inputs from the corpus."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rebuild_env.bundle.formats.conda_env import conda_spec, host_subdir, parse_conda_file
from rebuild_env.bundle.reader import read_bundle
from rebuild_env.errors import BundleError
from tests.conftest import FIXTURES, ROOT

CONDA = FIXTURES / "formats" / "conda"
CORPUS = Path(os.environ.get("REBUILD_ENV_CORPUS", ROOT.parent / "shared" / "corpus"))


def _specs(path: Path) -> dict[str, str]:
    return {p.name: p.specifier for p in parse_conda_file(path).pins}


def test_export_with_builds_gives_pypi_pins_and_keeps_the_conda_spec() -> None:
    record = parse_conda_file(CONDA / "environment-export.yml")
    assert record.python is not None and record.python.version == "3.11.8"
    pins = {p.name: p for p in record.pins}
    assert pins["numpy"].specifier == "==1.26.4"
    assert pins["scikit-learn"].specifier == "==1.4.1.post1"
    assert pins["xgboost"].specifier == "==2.0.3"  # py-xgboost on conda-forge
    assert conda_spec(pins["numpy"]) == "numpy=1.26.4=py311h64a7726_0"
    assert pins["skops"].specifier == "==0.9.0" and conda_spec(pins["skops"]) is None
    for native in ("openssl", "libgcc-ng", "ca-certificates", "python-abi", "pip"):
        assert native not in pins
    assert any("left to conda" in n and "openssl" in n for n in record.notes)


def test_from_history_translates_conda_version_specs() -> None:
    record = parse_conda_file(CONDA / "environment-from-history.yml")
    assert record.python is not None and record.python.version == "3.10"
    assert _specs(CONDA / "environment-from-history.yml") == {
        "scikit-learn": "==1.3.2",
        "pandas": ">=2,<3",
        "torch": "",
    }


def test_explicit_file() -> None:
    record = parse_conda_file(CONDA / "explicit.txt")
    assert record.python is not None and record.python.version == "3.9.18"
    assert record.platform == "linux-64"
    assert _specs(CONDA / "explicit.txt") == {
        "joblib": "==1.3.2",
        "numpy": "==1.26.4",
        "scikit-learn": "==1.3.2",
    }


@pytest.mark.skipif(host_subdir() != "linux-64", reason="the fixture locks linux-64")
def test_conda_lock_reads_this_platform_and_main_category_only() -> None:
    record = parse_conda_file(CONDA / "conda-lock.yml")
    assert record.python is not None and record.python.version == "3.10.13"
    pins = {p.name: p for p in record.pins}
    assert set(pins) == {"scikit-learn", "skops"}
    assert pins["scikit-learn"].specifier == "==1.3.2"
    assert pins["skops"].hashes and pins["skops"].hashes[0].startswith("sha256:")


def test_conda_bundle_is_detected_next_to_a_model(tmp_path: Path) -> None:
    shutil.copy(CONDA / "environment-export.yml", tmp_path / "environment.yml")
    (tmp_path / "model.joblib").write_bytes(b"\x80\x04.")
    recorded = read_bundle(tmp_path)
    assert recorded.format == "conda-env"
    assert recorded.python is not None and recorded.python.version == "3.11.8"
    assert recorded.pin("scikit-learn") is not None
    (tmp_path / "requirements.txt").write_text("scikit-learn==1.4.1.post1\n")
    assert read_bundle(tmp_path).format == "bare"  # the pip list is the author's record
    assert read_bundle(tmp_path, format="conda-env").format == "conda-env"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dependencies: [numpy=1.0, {conda: [x]}]\n", "unexpected entry"),
        ("dependencies: numpy\n", "must be a list"),
        ("dependencies: ['numpy[version=\">1\"']\n", "conda package spec"),
        ("name: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_environment_files_give_one_clear_error(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "environment.yml"
    path.write_text(text)
    with pytest.raises(BundleError, match=message):
        parse_conda_file(path)


CONDA_LOCK_TESTS = sorted((CORPUS / "conda-lock-tests").glob("*.y*ml"))


@pytest.mark.skipif(not CONDA_LOCK_TESTS, reason="corpus not present")
@pytest.mark.parametrize("path", CONDA_LOCK_TESTS, ids=lambda p: p.name)
def test_conda_lock_test_inputs_read_or_fail_clearly(path: Path) -> None:
    try:
        record = parse_conda_file(path)
    except BundleError as exc:
        assert "\n" not in exc.one_line()
        return
    assert all(p.name == p.name.lower() for p in record.pins)
