"""Fuzzing the MLflow, skops, conda and lockfile readers with well-formed files of the wrong
shape: whatever the structure, only rebuild-env's own errors come out."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebuild_env.bundle.reader import read_bundle
from rebuild_env.errors import RebuildEnvError

KEYS = st.sampled_from(
    [
        "flavors",
        "sklearn",
        "python_function",
        "pickled_model",
        "serialization_format",
        "skops_trusted_types",
        "loader_module",
        "python_version",
        "saved_input_example_info",
        "artifact_path",
        "signature",
        "inputs",
        "dependencies",
        "pip",
        "python",
        "model",
        "file",
        "environment",
        "example_input",
        "model_format",
        "columns",
        "package",
        "metadata",
        "platforms",
        "default",
        "_meta",
        "version",
        "name",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.sampled_from(["model.pkl", "input_example.json", "pickle", "skops", "3.10", "numpy=1"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4),
    max_leaves=20,
)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp)
        (bundle / "model.pkl").write_bytes(b"\x80\x04N.")
        (bundle / "input_example.json").write_text('{"columns": ["a"], "data": [[1]]}')
        for name, text in files.items():
            (bundle / name).write_text(text)
        with contextlib.suppress(RebuildEnvError):
            read_bundle(bundle)


@FUZZ
@given(mlmodel=VALUES, conda=VALUES, python_env=VALUES)
def test_mlflow_reader(mlmodel: Any, conda: Any, python_env: Any) -> None:
    _read(
        {
            "MLmodel": yaml.safe_dump(mlmodel),
            "conda.yaml": yaml.safe_dump(conda),
            "python_env.yaml": yaml.safe_dump(python_env),
        }
    )


@FUZZ
@given(sklearn=VALUES)
def test_skops_reader(sklearn: Any) -> None:
    _read({"config.json": json.dumps({"sklearn": sklearn})})


@FUZZ
@given(env=VALUES, lock=VALUES)
def test_conda_reader(env: Any, lock: Any) -> None:
    _read({"environment.yml": yaml.safe_dump(env)})
    _read({"conda-lock.yml": yaml.safe_dump(lock)})


@FUZZ
@given(lock=VALUES)
def test_pipfile_lock_reader(lock: Any) -> None:
    _read({"Pipfile.lock": json.dumps(lock)})


SKLEARN_FLAVOR = st.fixed_dictionaries(
    {},
    optional={
        "pickled_model": VALUES,
        "serialization_format": VALUES,
        "sklearn_version": VALUES,
        "skops_trusted_types": VALUES,
        "code": VALUES,
    },
)


@FUZZ
@given(
    flavor=SKLEARN_FLAVOR,
    pyfunc=VALUES,
    info=VALUES,
    signature=VALUES,
    deps=VALUES,
    example=VALUES,
)
def test_mlflow_reader_deep(
    *, flavor: Any, pyfunc: Any, info: Any, signature: Any, deps: Any, example: Any
) -> None:
    mlmodel = {
        "flavors": {"sklearn": {"pickled_model": "model.pkl", **flavor}, "python_function": pyfunc},
        "saved_input_example_info": info,
        "signature": {"inputs": json.dumps(signature)},
    }
    _read(
        {
            "MLmodel": yaml.safe_dump(mlmodel),
            "conda.yaml": yaml.safe_dump({"dependencies": deps}),
            "input_example.json": json.dumps(example),
        }
    )


@FUZZ
@given(
    environment=VALUES,
    example=VALUES,
    columns=VALUES,
    model=VALUES,
)
def test_skops_reader_deep(environment: Any, example: Any, columns: Any, model: Any) -> None:
    section = {
        "model": {"file": "model.pkl"} if model is None else model,
        "environment": environment,
        "example_input": example,
        "columns": columns,
    }
    _read({"config.json": json.dumps({"sklearn": section})})


@FUZZ
@given(packages=st.lists(st.dictionaries(KEYS, VALUES, max_size=6), max_size=4), meta=VALUES)
def test_conda_lock_reader_deep(packages: Any, meta: Any) -> None:
    _read({"conda-lock.yml": yaml.safe_dump({"metadata": meta, "package": packages})})


@FUZZ
@given(default=st.dictionaries(st.text(max_size=6), VALUES, max_size=4), meta=VALUES)
def test_pipfile_lock_reader_deep(default: Any, meta: Any) -> None:
    _read({"Pipfile.lock": json.dumps({"_meta": meta, "default": default, "develop": meta})})
