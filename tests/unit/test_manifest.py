"""bundle.yaml: the example bundle reads; every malformed field gets its own clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from rebuild_env.bundle import read_bundle
from rebuild_env.errors import BundleError, ExitCode
from tests.conftest import EXAMPLE_BUNDLE


def test_example_bundle_reads() -> None:
    env = read_bundle(EXAMPLE_BUNDLE)
    assert env.format == "manifest"
    assert env.model.path.name == "model.joblib"
    assert env.model.loader == "joblib" and env.model.method == "predict"
    assert env.python is not None and env.python.version.count(".") == 2
    sklearn = env.pin("scikit-learn")
    assert sklearn is not None and sklearn.version and sklearn.source == "bundle.yaml"
    assert env.sample is not None and env.sample.output_path is not None


def _bundle_with(tmp_path: Path, edit: object) -> Path:
    bundle = tmp_path / "b"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    data = yaml.safe_load((bundle / "bundle.yaml").read_text())
    assert callable(edit)
    edit(data)
    (bundle / "bundle.yaml").write_text(yaml.safe_dump(data))
    return bundle


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("format_version"), "format_version"),
        (lambda d: d.update(format_version=99), "format_version"),
        (lambda d: d.pop("model"), "'model' is missing"),
        (lambda d: d["model"].pop("file"), "model.file"),
        (lambda d: d["model"].update(file="gone.joblib"), "gone.joblib"),
        (lambda d: d["model"].update(file="../../etc/passwd"), "outside the bundle"),
        (lambda d: d["model"].update(loader="dill"), "model.loader"),
        (lambda d: d.pop("python"), "'python' is missing"),
        (lambda d: d["python"].update(version="three"), "python.version"),
        (lambda d: d.pop("packages"), "packages"),
        (lambda d: d.update(packages="numpy"), "must be a list"),
        (lambda d: d["packages"].append({"name": "numpy"}), "version"),
        (lambda d: d["packages"].append({"name": "x", "version": "1", "sha256": "ab"}), "sha256"),
        (lambda d: d["sample"].update(output="missing.npy"), "missing.npy"),
    ],
)
def test_bad_field_is_named(tmp_path: Path, edit: object, message: str) -> None:
    bundle = _bundle_with(tmp_path, edit)
    with pytest.raises(BundleError) as info:
        read_bundle(bundle)
    assert message in info.value.one_line()
    assert "bundle.yaml" in info.value.one_line()
    assert info.value.exit_code == ExitCode.BAD_INPUT


def test_not_yaml(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    shutil.copytree(EXAMPLE_BUNDLE, bundle)
    (bundle / "bundle.yaml").write_text("model: [unclosed\n")
    with pytest.raises(BundleError, match="not valid YAML"):
        read_bundle(bundle)
