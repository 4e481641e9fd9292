"""Probe inputs when no sample is recorded (issue 21, class 6), on estimators fitted here."""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rebuild_env.verify.runner import PROBE

spec = importlib.util.spec_from_file_location("probe_fallbacks", PROBE)
assert spec and spec.loader
probe: Any = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)

X = np.random.RandomState(0).normal(size=(30, 8))
y = (X[:, 0] > 0).astype(int)


def test_a_signature_that_disagrees_with_the_model_yields_to_the_model() -> None:
    model = LogisticRegression().fit(X, y)
    schema = {"columns": [[f"c{i}", "float64"] for i in range(10)]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sample = probe.generate_input(model, schema)
    assert np.asarray(sample).shape == (probe.GENERATED_ROWS, 8)
    assert any(
        "model's own description (8 features)" in str(w.message)
        and "signature has 10 columns" in str(w.message)
        for w in caught
    )
    model.predict(sample)


def test_a_dict_vectorizer_pipeline_gets_dict_rows_from_its_vocabulary() -> None:
    rows = [{"city": "a", "t": 1.0}, {"city": "b", "t": 2.0}, {"city": "c", "t": 0.5}]
    model = make_pipeline(DictVectorizer(), LogisticRegression()).fit(rows, [0, 1, 0])
    sample = probe.generate_input(model)
    assert isinstance(sample, list) and len(sample) == probe.GENERATED_ROWS
    assert all(set(r) == {"city", "t"} and r["city"] in "abc" for r in sample)
    assert len(model.predict(sample)) == probe.GENERATED_ROWS


class Booster:
    """A stand-in with LightGBM's Booster interface (its class name and module)."""

    __module__ = "lightgbm.basic"

    def num_feature(self) -> int:
        return 4


def test_a_raw_lightgbm_booster_gets_an_array_of_its_feature_count() -> None:
    assert np.asarray(probe.generate_input(Booster())).shape == (probe.GENERATED_ROWS, 4)


@pytest.mark.parametrize("wrap", [tuple, list, lambda m: dict(enumerate(m))])
def test_a_collection_of_estimators_verifies_each_member(wrap: Any) -> None:
    members = [LinearRegression().fit(X, X[:, 1]), StandardScaler().fit(X[:, :3])]
    result: dict[str, Any] = {"error": None, "timings": {}, "level": "loads"}
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        probe._predict(wrap(members), {"method": "predict"}, result)
    assert result["members"] == {"0": "predicts", "1": "predicts"}
    assert result["level"] == "predicts" and result["error"] is None


def test_a_collection_with_a_failing_member_does_not_predict() -> None:
    broken = LinearRegression().fit(X, X[:, 1])
    broken.coef_ = np.zeros(3)  # no longer matches n_features_in_: predict raises
    result: dict[str, Any] = {"error": None, "timings": {}, "level": "loads"}
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        probe._predict({"ok": LinearRegression().fit(X, y), "bad": broken}, {}, result)
    assert result["members"] == {"ok": "predicts", "bad": "failed"}
    assert result["level"] == "loads" and result["error"]["stage"] == "predict"


def test_a_pickle_that_is_not_a_model_says_what_it_holds() -> None:
    result: dict[str, Any] = {"error": None, "timings": {}, "level": "loads", "input": None}
    probe._predict({"name": "churn", "version": "3"}, {"method": "predict"}, result)
    assert result["error"]["type"] == "NotAModel"
    assert (
        "the file holds a builtins.dict object, which has no predict()"
        in (result["error"]["message"])
    )
    assert result["level"] == "loads"
