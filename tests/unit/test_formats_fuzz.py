"""Fuzzing the MLflow, skops, conda and lockfile readers with well-formed files of the wrong
shape: whatever the structure, a bundle is either read or refused with rebuild-env's own
one-line error. Each run also checks that its examples reached the reader it is named after
(some were read as that format, some refused by it): a fuzz test that stops at the
top-level shape check proves nothing about the reader."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable
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


def _read(files: dict[str, str]) -> str:
    """``read:<format>``, or ``refused`` (a RebuildEnvError with a one-line message)."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp)
        (bundle / "model.pkl").write_bytes(b"\x80\x04N.")
        (bundle / "input_example.json").write_text('{"columns": ["a"], "data": [[1]]}')
        for name, text in files.items():
            (bundle / name).write_text(text)
        try:
            recorded = read_bundle(bundle)
        except RebuildEnvError as exc:
            first = str(exc).split("\n", 1)[0]
            assert first.strip(), "an error with no message"
            return "refused"
        assert recorded.model.path.name == "model.pkl"
        for pin in recorded.pins:
            assert pin.name and pin.name == pin.name.strip()
        return f"read:{recorded.format}"


def _fuzz(run: Callable[[Counter[str]], None], expected: str) -> None:
    """Run a hypothesis test; the reader must have both read and refused some examples."""
    seen: Counter[str] = Counter()
    run(seen)
    assert seen[f"read:{expected}"] > 0, f"no example was read as {expected}: {seen}"
    assert seen["refused"] > 0, f"no example was refused: {seen}"


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
REQUIREMENT = st.sampled_from(["numpy==1.26.4", "scikit-learn>=1.0", "pandas", "x y", "", "=="])
DEPENDENCIES = st.lists(
    st.one_of(REQUIREMENT, VALUES, st.fixed_dictionaries({"pip": st.lists(REQUIREMENT)})),
    max_size=4,
)


def test_mlflow_reader() -> None:
    @FUZZ
    @given(
        flavor=SKLEARN_FLAVOR,
        pyfunc=VALUES,
        info=VALUES,
        signature=VALUES,
        deps=st.one_of(DEPENDENCIES, VALUES),
        example=VALUES,
        python_env=VALUES,
    )
    def run(
        seen: Counter[str],
        *,
        flavor: Any,
        pyfunc: Any,
        info: Any,
        signature: Any,
        deps: Any,
        example: Any,
        python_env: Any,
    ) -> None:
        mlmodel = {
            "flavors": {
                "sklearn": {"pickled_model": "model.pkl", **flavor},
                "python_function": pyfunc,
            },
            "saved_input_example_info": info,
            "signature": {"inputs": json.dumps(signature)},
        }
        seen[
            _read(
                {
                    "MLmodel": yaml.safe_dump(mlmodel),
                    "conda.yaml": yaml.safe_dump({"dependencies": deps}),
                    "python_env.yaml": yaml.safe_dump(python_env),
                    "input_example.json": json.dumps(example),
                }
            )
        ] += 1

    _fuzz(run, "mlflow")


def test_skops_reader() -> None:
    @FUZZ
    @given(
        environment=st.one_of(st.lists(REQUIREMENT, max_size=4), VALUES),
        example=VALUES,
        columns=VALUES,
        model=st.one_of(st.just({"file": "model.pkl"}), VALUES),
    )
    def run(seen: Counter[str], environment: Any, example: Any, columns: Any, model: Any) -> None:
        section = {
            "model": model,
            "environment": environment,
            "example_input": example,
            "columns": columns,
        }
        seen[_read({"config.json": json.dumps({"sklearn": section})})] += 1

    _fuzz(run, "skops")


def test_conda_environment_reader() -> None:
    @FUZZ
    @given(name=SCALARS, deps=st.one_of(DEPENDENCIES, VALUES), channels=VALUES)
    def run(seen: Counter[str], name: Any, deps: Any, channels: Any) -> None:
        env = {"name": name, "channels": channels, "dependencies": deps}
        seen[_read({"environment.yml": yaml.safe_dump(env)})] += 1

    _fuzz(run, "conda-env")


PACKAGE = st.fixed_dictionaries(
    {"name": st.sampled_from(["numpy", "scikit-learn", ""]), "version": SCALARS},
    optional={
        "manager": st.sampled_from(["conda", "pip"]),
        "platform": st.sampled_from(["linux-64", "osx-arm64"]),
        "url": SCALARS,
        "hash": VALUES,
        "category": SCALARS,
        "optional": st.booleans(),
    },
)


def test_conda_lock_reader() -> None:
    @FUZZ
    @given(packages=st.lists(st.one_of(PACKAGE, VALUES), max_size=4), meta=VALUES)
    def run(seen: Counter[str], packages: Any, meta: Any) -> None:
        doc = {"version": 1, "metadata": meta, "package": packages}
        seen[_read({"conda-lock.yml": yaml.safe_dump(doc)})] += 1

    _fuzz(run, "conda-env")


def test_pipfile_lock_reader() -> None:
    @FUZZ
    @given(default=st.dictionaries(st.text(max_size=6), VALUES, max_size=4), meta=VALUES)
    def run(seen: Counter[str], default: Any, meta: Any) -> None:
        doc = {"_meta": meta, "default": default, "develop": meta}
        seen[_read({"Pipfile.lock": json.dumps(doc)})] += 1

    _fuzz(run, "pipfile-lock")
