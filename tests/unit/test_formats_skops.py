"""skops / Hugging Face repos, from config.json files written by skops' own hub_utils."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rebuild_env.bundle.reader import read_bundle
from rebuild_env.errors import BundleError
from tests.conftest import FIXTURES

SKOPS = FIXTURES / "formats" / "skops"
PICKLE_HEAD = b"\x80\x04."
ZIP_HEAD = b"PK\x03\x04"


def _repo(tmp_path: Path, kind: str) -> Path:
    repo = tmp_path / kind
    repo.mkdir()
    shutil.copy(SKOPS / kind / "config.json", repo / "config.json")
    config = json.loads((repo / "config.json").read_text())
    model = config["sklearn"]["model"]["file"]
    (repo / model).write_bytes(ZIP_HEAD if model.endswith(".skops") else PICKLE_HEAD)
    return repo


def test_pickle_repo(tmp_path: Path) -> None:
    recorded = read_bundle(_repo(tmp_path, "frame"))
    assert recorded.format == "skops"
    assert recorded.model.path.name == "model.pkl" and recorded.model.loader == "joblib"
    assert [(p.name, p.specifier) for p in recorded.pins] == [
        ("scikit-learn", "==1.5.2"),
        ("pandas", ""),
    ]
    assert recorded.sample is not None
    doc = json.loads(recorded.sample.input_path.read_text())
    # config.json stores example_input with sorted keys; the training order comes back
    assert doc["columns"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert doc["data"][0] == [5.1, 4.9, 4.7] and doc["dtypes"][0] == "float64"


def test_array_repo_gives_an_array_sample(tmp_path: Path) -> None:
    recorded = read_bundle(_repo(tmp_path, "array"))
    assert recorded.sample is not None
    doc = json.loads(recorded.sample.input_path.read_text())
    assert doc["kind"] == "array" and doc["data"][0] == [5.1, 3.5, 1.4, 0.2]
    assert recorded.pin("pandas") is None


def test_skops_repo_loads_with_skops(tmp_path: Path) -> None:
    recorded = read_bundle(_repo(tmp_path, "skops"))
    assert recorded.model.loader == "skops"
    assert recorded.pin("skops") is not None


def test_config_without_sklearn_section(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"architectures": ["BertModel"]}')
    (tmp_path / "model.pkl").write_bytes(PICKLE_HEAD)
    assert read_bundle(tmp_path).format == "bare"  # not detected as skops
    with pytest.raises(BundleError, match="has no 'sklearn' section"):
        read_bundle(tmp_path, format="skops")


def test_missing_model_file_is_named(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "frame")
    (repo / "model.pkl").unlink()
    (repo / "other.pkl").write_bytes(PICKLE_HEAD)
    with pytest.raises(BundleError, match=r"'model\.pkl', which does not exist"):
        read_bundle(repo)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"model": {}}, "sklearn.model.file is missing"),
        ({"model": {"file": "model.pkl"}, "model_format": "onnx"}, "model_format is 'onnx'"),
        ({"model": {"file": "model.pkl"}, "environment": "scikit-learn"}, "must be a list"),
        ({"model": {"file": "model.pkl"}, "environment": ["scikit learn ="]}, "not a requirement"),
    ],
)
def test_bad_config(tmp_path: Path, section: dict[str, object], message: str) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"sklearn": section}))
    (tmp_path / "model.pkl").write_bytes(PICKLE_HEAD)
    with pytest.raises(BundleError, match=message):
        read_bundle(tmp_path)


def test_invalid_json_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"sklearn": ')
    (tmp_path / "model.pkl").write_bytes(PICKLE_HEAD)
    with pytest.raises(BundleError, match="not valid JSON"):
        read_bundle(tmp_path, format="skops")
