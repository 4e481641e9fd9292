"""MLflow model directories: what is read from which file, and the bad inputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rebuild_env.bundle.formats import mlflow
from rebuild_env.bundle.reader import FORMATS, read_bundle
from rebuild_env.errors import BundleError
from tests.conftest import ROOT

CORPUS = Path(os.environ.get("REBUILD_ENV_CORPUS", ROOT.parent / "shared" / "corpus"))
REAL_BUNDLES = sorted(p for p in (CORPUS / "real-bundles").glob("*") if p.is_dir())

MLMODEL = """\
flavors:
  python_function:
    env: {conda: conda.yaml, virtualenv: python_env.yaml}
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.10.12
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.3.2
mlflow_version: 2.9.2
"""
PYTHON_ENV = "python: 3.10.12\nbuild_dependencies: [pip]\ndependencies: [-r requirements.txt]\n"
REQUIREMENTS = "mlflow==2.9.2\ncloudpickle==2.2.1\nscikit-learn==1.3.2\n"
CONDA = """\
channels: [conda-forge]
dependencies:
- python=3.10.12
- pip<=23.3
- pip:
  - mlflow==2.9.2
  - cloudpickle==2.2.1
  - scikit-learn==1.3.2
  - flask==3.0.0
name: mlflow-env
"""


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "python_env.yaml").write_text(PYTHON_ENV)
    (folder / "requirements.txt").write_text(REQUIREMENTS)
    (folder / "conda.yaml").write_text(CONDA)
    (folder / "model.pkl").write_bytes(b"\x80\x04.")
    return folder


def test_reads_model_python_pins_and_drops_mlflow(bundle: Path) -> None:
    recorded = read_bundle(bundle)
    assert recorded.format == "mlflow"
    assert recorded.model.path == (bundle / "model.pkl").resolve()
    assert recorded.model.loader == "cloudpickle"
    assert recorded.python is not None and recorded.python.version == "3.10.12"
    assert recorded.python.source == "python_env.yaml"
    assert {p.name: p.specifier for p in recorded.pins} == {
        "cloudpickle": "==2.2.1",
        "scikit-learn": "==1.3.2",
        "pandas": "",  # mlflow's own dependency: MLflow models are fed DataFrames
    }
    assert any("not installing mlflow==2.9.2" in n for n in recorded.notes)
    assert any("pandas added" in n for n in recorded.notes)


def test_disagreeing_sources_say_which_won(bundle: Path) -> None:
    notes = read_bundle(bundle).notes
    (note,) = [n for n in notes if "disagree" in n]
    assert "flask" in note and "requirements.txt won" in note


def test_conda_yaml_wins_when_only_it_pins_the_recorded_sklearn(bundle: Path) -> None:
    (bundle / "requirements.txt").write_text("pandas\nscikit_learn\nstreamlit\n")
    recorded = read_bundle(bundle)
    assert recorded.pin("scikit-learn") is not None
    assert recorded.pin("scikit-learn").specifier == "==1.3.2"  # type: ignore[union-attr]
    assert recorded.pin("streamlit") is None
    assert any("conda.yaml won" in n for n in recorded.notes)


def test_conda_yaml_only(bundle: Path) -> None:
    (bundle / "python_env.yaml").unlink()
    (bundle / "requirements.txt").unlink()
    recorded = read_bundle(bundle)
    assert recorded.python is not None and recorded.python.source == "conda.yaml"
    assert recorded.pin("flask") is not None


def test_constraints_file_is_followed(bundle: Path) -> None:
    (bundle / "requirements.txt").write_text(REQUIREMENTS + "-c constraints.txt\n")
    (bundle / "constraints.txt").write_text("numpy==1.26.4\n")
    recorded = read_bundle(bundle)
    assert [c.name for c in recorded.constraints] == ["numpy"]


def test_missing_model_file_is_named(bundle: Path) -> None:
    (bundle / "model.pkl").rename(bundle / "model_reg.pkl")
    with pytest.raises(BundleError) as info:
        read_bundle(bundle)
    line = info.value.one_line()
    assert "'model.pkl', which does not exist" in line and "model_reg.pkl" in line
    assert read_bundle(bundle, model=bundle / "model_reg.pkl").model.path.name == "model_reg.pkl"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flavors: [unclosed\n", "not valid YAML"),
        ("artifact_path: model\n", "no 'flavors'"),
        ("- just\n- a list\n", "must be a mapping"),
        (
            "flavors:\n  sklearn: {pickled_model: model.pkl, serialization_format: onnx}\n",
            "serialization_format 'onnx'",
        ),
        ("flavors:\n  sklearn: {serialization_format: pickle}\n", "no 'pickled_model'"),
        (
            "flavors:\n  sklearn: {pickled_model: ../../etc/passwd}\n",
            "outside the model directory",
        ),
    ],
)
def test_broken_mlmodel_gives_one_clear_error(bundle: Path, text: str, message: str) -> None:
    (bundle / "MLmodel").write_text(text)
    with pytest.raises(BundleError, match=message) as info:
        read_bundle(bundle)
    assert "\n" not in info.value.one_line()


def test_pyfunc_only_model_is_refused_with_what_it_needs(bundle: Path) -> None:
    (bundle / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n"
        "    python_model: python_model.pkl\n    python_version: 3.10.12\n"
    )
    with pytest.raises(BundleError) as info:
        read_bundle(bundle)
    line = info.value.one_line()
    assert "mlflow.pyfunc.model" in line and "mlflow==2.9.2" in line
    assert "Python 3.10.12" in line


def _example(bundle: Path, doc: object, info: str = "") -> dict[str, object]:
    (bundle / "input_example.json").write_text(json.dumps(doc))
    if info:
        (bundle / "MLmodel").write_text(MLMODEL + info)
    recorded = read_bundle(bundle)
    assert recorded.sample is not None and recorded.sample.output_path is None
    assert bundle not in recorded.sample.input_path.parents  # never written into the bundle
    loaded: dict[str, object] = json.loads(recorded.sample.input_path.read_text())
    return loaded


SIGNATURE = """\
signature:
  inputs: '[{"type": "long", "name": "a"}, {"type": "double", "name": "b"}]'
"""


def test_split_example_becomes_columns_with_signature_dtypes(bundle: Path) -> None:
    doc = _example(bundle, {"columns": ["a", "b"], "data": [[1, 2.5], [3, 4.0]]}, SIGNATURE)
    assert doc == {
        "kind": "dataframe",
        "columns": ["a", "b"],
        "dtypes": ["int64", "float64"],
        "data": [[1, 3], [2.5, 4.0]],
    }


def test_records_and_serving_examples(bundle: Path) -> None:
    records = _example(bundle, [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    assert records["columns"] == ["a", "b"] and records["dtypes"] == ["int64", "object"]
    serving = _example(bundle, {"dataframe_split": {"columns": ["a"], "data": [[1], [2]]}})
    assert serving["data"] == [[1, 2]]


def test_ndarray_example(bundle: Path) -> None:
    doc = _example(bundle, [[5.1, 3.5], [4.9, 3.0]])
    assert doc == {"kind": "array", "dtype": "float64", "data": [[5.1, 3.5], [4.9, 3.0]]}
    assert _example(bundle, {"inputs": [[1, 2]]})["dtype"] == "int64"


def test_unusable_example_is_a_note_not_an_error(bundle: Path) -> None:
    (bundle / "input_example.json").write_text('{"inputs": {"named": [1]}}')
    recorded = read_bundle(bundle)
    assert recorded.sample is None
    assert any("input example not usable" in n for n in recorded.notes)


def test_format_can_be_forced_and_names_are_listed(bundle: Path) -> None:
    names = [f.name for f in FORMATS]
    assert names[:3] == ["manifest", "mlflow", "skops"] and names[-1] == "bare"
    assert read_bundle(bundle, format="bare").format == "bare"


@pytest.mark.skipif(not REAL_BUNDLES, reason="corpus not present")
@pytest.mark.parametrize("folder", REAL_BUNDLES, ids=lambda p: p.name)
def test_real_published_bundles_read_cleanly(folder: Path) -> None:
    try:
        recorded = read_bundle(folder)
    except BundleError as exc:
        assert "\n" not in exc.one_line()
        assert folder.name == "mlf-azureml-renamed-mismatch"  # MLmodel names a missing file
        assert "model.pkl" in exc.one_line()
        return
    if folder.name.startswith("mlf-"):
        assert recorded.format == mlflow.NAME
        assert recorded.python is not None
        assert recorded.pin("scikit-learn") is not None
        assert recorded.pin("mlflow") is None


def test_signature_is_kept_for_generating_an_input(bundle: Path) -> None:
    (bundle / "MLmodel").write_text(MLMODEL + SIGNATURE)
    model = read_bundle(bundle).model
    assert model.input_columns == (("a", "int64"), ("b", "float64"))
    tensor = (
        'signature:\n  inputs: \'[{"type": "tensor", "tensor-spec": '
        '{"dtype": "float32", "shape": [-1, 4]}}]\'\n'
    )
    (bundle / "MLmodel").write_text(MLMODEL + tensor)
    model = read_bundle(bundle).model
    assert model.input_columns == () and model.input_tensor == ("float32", (-1, 4))
