"""The probe generates an input of the right shape when no sample was recorded.

Old scikit-learn releases do not store ``n_features_in_`` / ``feature_names_in_``; the probe
falls back to what they do store. The estimators are fitted here with the host's
scikit-learn and the newer attributes removed, which is what an old pickle looks like to
the probe (the attribute is simply absent from ``__dict__``).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

from rebuild_env.verify.runner import PROBE

spec = importlib.util.spec_from_file_location("probe", PROBE)
assert spec and spec.loader
probe: Any = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)

X = np.random.RandomState(0).normal(size=(60, 5))
y = (X[:, 0] > 0).astype(int)
FRAME = pd.DataFrame(
    {"age": X[:, 0], "income": X[:, 1], "city": np.where(X[:, 2] > 0, "a", "b")},
)


def _as_old(model: Any) -> Any:
    """Drop what scikit-learn >= 1.0 adds, recursively (a 0.2x pickle has none of it)."""
    for attr in ("n_features_in_", "feature_names_in_"):
        model.__dict__.pop(attr, None)
    for value in model.__dict__.values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            inner = item[1] if isinstance(item, tuple) and len(item) > 1 else item
            if hasattr(inner, "fit") and hasattr(inner, "__dict__"):
                _as_old(inner)
    return model


@pytest.mark.parametrize(
    "model",
    [
        DecisionTreeClassifier(random_state=0),
        RandomForestClassifier(n_estimators=3, random_state=0),
        LogisticRegression(),
        Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]),
        GridSearchCV(LogisticRegression(), {"C": [1.0]}, cv=2),
    ],
    ids=["tree", "forest", "linear", "pipeline", "search"],
)
def test_old_models_get_an_input_of_their_width(model: Any) -> None:
    model = _as_old(model.fit(X, y))
    assert getattr(model, "n_features_in_", None) is None
    sample = probe.generate_input(model)
    assert sample.shape == (probe.GENERATED_ROWS, 5)
    assert model.predict(sample).shape == (probe.GENERATED_ROWS,)


def test_linear_model_without_any_count_uses_its_coefficients() -> None:
    model = _as_old(LinearRegression().fit(X, y))
    assert probe.n_features(model) == 5


def test_named_columns_of_a_pipeline_become_a_dataframe() -> None:
    model = Pipeline(
        [
            ("prep", ColumnTransformer([("num", StandardScaler(), ["age", "income"])])),
            ("clf", LogisticRegression()),
        ]
    ).fit(FRAME, y)
    sample = probe.generate_input(model)
    assert list(sample.columns) == ["age", "income", "city"]
    assert model.predict(sample).shape == (probe.GENERATED_ROWS,)
    old = _as_old(model)
    names = probe.feature_names(old)
    assert names == ["age", "income"]  # what the old ColumnTransformer selects by name
    assert old.predict(probe.generate_input(old)).shape == (probe.GENERATED_ROWS,)


def test_recorded_signature_gives_columns_and_dtypes() -> None:
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["age", "income"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(FRAME, y)
    schema = {"columns": [["age", "float64"], ["income", "float32"], ["city", "object"]]}
    sample = probe.generate_input(_as_old(model), schema)
    assert [str(t) for t in sample.dtypes][:2] == ["float64", "float32"]
    assert not pd.api.types.is_numeric_dtype(sample["city"])
    assert model.predict(sample).shape == (probe.GENERATED_ROWS,)


def test_recorded_tensor_shape_gives_an_array() -> None:
    sample = probe.generate_input(None, {"tensor": {"dtype": "float32", "shape": [-1, 7]}})
    assert sample.shape == (probe.GENERATED_ROWS, 7) and sample.dtype == np.float32


def test_nothing_known_means_no_input() -> None:
    assert probe.generate_input(object()) is None


@pytest.mark.parametrize("old", [False, True], ids=["new", "old"])
@pytest.mark.parametrize("by", ["name", "position", "slice"])
def test_one_hot_columns_get_categories_the_encoder_knows(by: str, old: bool) -> None:
    frame = FRAME.assign(city=np.where(X[:, 2] > 0, "paris", "lyon"))
    select = {
        "name": (["age", "income"], ["city"]),
        "position": ([0, 1], [2]),
        "slice": (slice(0, 2), slice(2, 3)),
    }[by]
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), select[0]),
                        ("cat", Pipeline([("enc", OneHotEncoder())]), select[1]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(frame if by == "name" else frame.to_numpy(dtype=object), y)
    if old:  # what a 0.2x ColumnTransformer stored instead of n_features_in_ / names
        _as_old(model)
        model.steps[0][1]._n_features = 3
        if by == "name":
            model.steps[0][1]._df_columns = frame.columns
    sample = probe.generate_input(model)
    cities = sample["city"] if by == "name" else sample[:, 2]
    assert set(cities) <= {"paris", "lyon"}
    assert model.predict(sample).shape == (probe.GENERATED_ROWS,)
