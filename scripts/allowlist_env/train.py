# ruff: noqa: UP004, UP031, BLE001, SIM105
"""Fit and save the model objects of one allow-list matrix cell.

Runs INSIDE the cell's environment, with its own interpreter (Python 3.6 and newer: no
modern-only syntax), using only the standard library and the environment's libraries.

    python train.py OUT_DIR --profile scikit-learn [--sample]

Writes OUT_DIR/models/<name>.{joblib,<compression>.joblib,p2.pkl,pN.pkl} and
OUT_DIR/train.json (what was saved, what was skipped and why). Every failure is logged,
never fatal: the matrix wants as many real files as the version can produce.
"""

import argparse
import inspect
import json
import os
import pickle
import signal
import sys
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402

FIT_TIMEOUT_S = 90
COMPRESSIONS = ("zlib", "gzip", "bz2", "lzma", "xz", "lz4")
COMPRESS_LEVEL = 3
N_SAMPLES = 60
N_FEATURES = 6
N_INFORMATIVE = 4
N_CLASSES = 3
SEED = 0
REASON_CHARS = 160

# The sample for CI: estimators that cover the main pickled structures (trees, Cython
# losses, linear models, encoders with object arrays, text vocabularies, neighbours).
SAMPLE_ESTIMATORS = (
    "LogisticRegression",
    "RandomForestClassifier",
    "GradientBoostingClassifier",
    "HistGradientBoostingClassifier",
    "SVC",
    "KMeans",
    "StandardScaler",
    "OneHotEncoder",
    "PCA",
    "KNeighborsClassifier",
    "DecisionTreeRegressor",
    "Ridge",
    "SGDClassifier",
    "TfidfVectorizer",
    "SimpleImputer",
)
SAMPLE_COMPOSITIONS = ("pipeline", "column_transformer_selector", "function_transformer_log1p")


class FitTimeout(Exception):
    """A fit ran past FIT_TIMEOUT_S."""


def _on_alarm(signum, frame):
    raise FitTimeout("fit took more than %d s" % FIT_TIMEOUT_S)


def reason(exc):
    lines = str(exc).strip().splitlines()
    text = type(exc).__name__
    if lines:
        text += ": " + lines[0][:REASON_CHARS]
    return text


def timed_fit(estimator, args):
    signal.alarm(FIT_TIMEOUT_S)
    try:
        return estimator.fit(*args)
    finally:
        signal.alarm(0)


# ---------------------------------------------------------------------------- data


class Data(object):
    """Small data sets of every shape an estimator may want."""

    def __init__(self):
        from sklearn.datasets import make_classification

        rng = np.random.RandomState(SEED)
        X, yc = make_classification(
            n_samples=N_SAMPLES,
            n_features=N_FEATURES,
            n_informative=N_INFORMATIVE,
            n_redundant=0,
            n_classes=N_CLASSES,
            random_state=SEED,
        )
        self.X = X
        self.yc = yc
        self.yb = (yc > 0).astype(int)
        self.Xpos = np.abs(X)
        self.Xint = np.floor(np.abs(X) * 2).astype(int)
        coef = rng.randn(N_FEATURES)
        self.yr = X.dot(coef) + 0.1 * rng.randn(N_SAMPLES)
        self.ypos = np.exp(self.yr / (2 * self.yr.std()))
        self.Y2 = np.column_stack([self.yr, 0.5 * self.yr + 1.0])
        self.Ymulti = np.column_stack([self.yb, (yc == 2).astype(int)])
        self.x1 = X[:, 0]
        self.K = X.dot(X.T)
        words = ["cat", "dog", "bird", "fish", "tree", "house", "red", "blue"]
        self.texts = [
            " ".join(words[(i * k) % len(words)] for k in range(1, 5)) for i in range(N_SAMPLES)
        ]
        self.dicts = [
            {"size": float(i % 7), "colour": ["red", "blue"][i % 2]} for i in range(N_SAMPLES)
        ]
        self.yc_str = np.array(["class_%d" % v for v in yc], dtype=object)
        self.labelsets = [("a", "b")[: 1 + i % 2] for i in range(N_SAMPLES)]
        self.images = rng.rand(2, 8, 8)

    def recipes(self, kind):
        """(name, fit args) in the order worth trying for an estimator of this kind."""
        every = [
            ("X,yc", (self.X, self.yc)),
            ("X,yr", (self.X, self.yr)),
            ("X", (self.X,)),
            ("Xpos,yc", (self.Xpos, self.yc)),
            ("Xint,yc", (self.Xint, self.yc)),
            ("X,yb", (self.X, self.yb)),
            ("X,ypos", (self.X, self.ypos)),
            ("Xpos,ypos", (self.Xpos, self.ypos)),
            ("X,Y2", (self.X, self.Y2)),
            ("X,Ymulti", (self.X, self.Ymulti)),
            ("Xpos", (self.Xpos,)),
            ("Xint", (self.Xint,)),
            ("texts,yb", (self.texts, self.yb)),
            ("texts", (self.texts,)),
            ("dicts", (self.dicts,)),
            ("labels", (self.yc_str,)),
            ("labelsets", (self.labelsets,)),
            ("x1,yr", (self.x1, self.yr)),
            ("K", (self.K,)),
            ("images", (self.images,)),
        ]
        first = {
            "classifier": ["X,yc", "Xpos,yc", "Xint,yc", "X,yb", "X,Ymulti", "texts,yb"],
            "regressor": ["X,yr", "X,ypos", "X,Y2", "Xpos,ypos", "x1,yr"],
            "cluster": ["X", "Xpos"],
        }.get(kind, [])
        by_name = dict(every)
        ordered = [(n, by_name[n]) for n in first]
        ordered += [(n, a) for n, a in every if n not in first]
        return ordered


# ------------------------------------------------------------------ all estimators


def all_estimators():
    for enabler in (
        "sklearn.experimental.enable_hist_gradient_boosting",
        "sklearn.experimental.enable_iterative_imputer",
        "sklearn.experimental.enable_halving_search_cv",
    ):
        try:
            __import__(enabler)
        except Exception:
            pass
    try:
        from sklearn.utils import all_estimators as listing
    except ImportError:
        # Before 0.22 the listing lived in sklearn.utils.testing and imported every module,
        # test helpers included (pytest): walk the package the way later versions do.
        return walk_estimators()
    for kwargs in (
        {"include_meta_estimators": True, "include_dont_test": True},
        {"include_meta_estimators": True},
        {},
    ):
        try:
            return sorted(listing(**kwargs), key=lambda pair: pair[0])
        except TypeError:
            continue
    return []


def walk_estimators():
    import pkgutil

    import sklearn
    from sklearn.base import BaseEstimator

    skipped_parts = ("tests", "externals", "testing", "_testing", "conftest")
    found = {}
    for _, modname, _ in pkgutil.walk_packages(
        sklearn.__path__, prefix="sklearn.", onerror=lambda name: None
    ):
        parts = modname.split(".")
        if any(p in skipped_parts or p.startswith("test_") for p in parts):
            continue
        try:
            module = __import__(modname, fromlist=["_"])
        except Exception:
            continue
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, BaseEstimator)
                and obj is not BaseEstimator
                and hasattr(obj, "fit")
                and not name.startswith("_")
                and not inspect.isabstract(obj)
                and obj.__module__.startswith("sklearn.")
                and not any(p in skipped_parts for p in obj.__module__.split("."))
            ):
                found[name] = obj
    return sorted(found.items())


def kind_of(cls):
    from sklearn.base import ClassifierMixin, ClusterMixin, RegressorMixin

    for mixin, kind in (
        (ClassifierMixin, "classifier"),
        (RegressorMixin, "regressor"),
        (ClusterMixin, "cluster"),
    ):
        if issubclass(cls, mixin):
            return kind
    return "transformer"


def constructor_kwargs():
    """Arguments for meta-estimators that cannot be built with defaults: one classifier
    flavour, one regressor flavour."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    def shared():
        return {
            "transformer_list": [("pca", PCA(2)), ("scale", StandardScaler())],
            "transformers": [("scale", StandardScaler(), [0, 1]), ("pca", PCA(1), [2, 3, 4])],
            "dictionary": np.random.RandomState(SEED).randn(3, N_FEATURES),
            "n_components": 2,
            "quantile": 0.5,
            "k": 3,
        }

    def classifier():
        kw = shared()
        kw.update(
            estimator=LogisticRegression(),
            base_estimator=LogisticRegression(),
            estimators=[
                ("lr", LogisticRegression()),
                ("tree", DecisionTreeClassifier(max_depth=3)),
            ],
            param_grid={"C": [0.5, 1.0]},
            param_distributions={"C": [0.5, 1.0]},
            steps=[("scale", StandardScaler()), ("lr", LogisticRegression())],
        )
        return kw

    def regressor():
        kw = shared()
        kw.update(
            estimator=Ridge(),
            base_estimator=Ridge(),
            estimators=[("ridge", Ridge()), ("tree", DecisionTreeRegressor(max_depth=3))],
            param_grid={"alpha": [0.5, 1.0]},
            param_distributions={"alpha": [0.5, 1.0]},
            steps=[("scale", StandardScaler()), ("ridge", Ridge())],
        )
        return kw

    return [classifier, regressor]


def init_params(cls):
    try:
        return set(inspect.signature(cls.__init__).parameters)
    except (TypeError, ValueError):
        return set()


def _frozen_needs_fitted(cls, kwargs, data):
    """FrozenEstimator (1.6+) wraps an estimator that is already fitted."""
    if cls.__name__ == "FrozenEstimator" and "estimator" in kwargs:
        from sklearn.base import is_classifier

        inner = kwargs["estimator"]
        kwargs["estimator"] = inner.fit(data.X, data.yc if is_classifier(inner) else data.yr)
    return kwargs


def fit_estimator(cls, data, flavours):
    """Fit ``cls`` on the first data set it accepts; (object, None) or (None, reason)."""
    kind = kind_of(cls)
    params = init_params(cls)
    attempts = [dict]
    if "estimator" in params:
        # a deprecated base_estimator next to estimator makes the constructor refuse both
        params.discard("base_estimator")
    for flavour in flavours:
        attempts.append(lambda flavour=flavour: {k: v for k, v in flavour().items() if k in params})
    first = None
    for make_kwargs in attempts:
        try:
            kwargs = _frozen_needs_fitted(cls, make_kwargs(), data)
        except Exception as exc:
            first = first or reason(exc)
            continue
        if make_kwargs is not dict and not kwargs:
            continue
        for _, args in data.recipes(kind):
            try:
                estimator = cls(**kwargs)
            except Exception as exc:
                first = first or "constructor: " + reason(exc)
                break
            try:
                fitted = timed_fit(estimator, args)
                return (fitted if fitted is not None else estimator), None
            except FitTimeout as exc:
                return None, reason(exc)
            except Exception as exc:
                first = first or reason(exc)
    return None, first or "no data set was accepted"


# -------------------------------------------------------------------- compositions


def _first_accepted(factory, *losses):
    """The first of several spellings of a parameter value this version accepts."""
    last = None
    for loss in losses:
        try:
            return factory(loss)
        except Exception as exc:
            last = exc
    raise last


def _quantile(loss):
    return {"quantile": 0.5} if loss == "quantile" else {}


def compositions(data):
    """name -> zero-argument callable returning a fitted object (version-dependent)."""
    import pandas as pd
    from sklearn import ensemble, linear_model, pipeline, preprocessing, svm, tree
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.decomposition import PCA
    from sklearn.feature_extraction.text import (
        CountVectorizer,
        HashingVectorizer,
        TfidfVectorizer,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.naive_bayes import MultinomialNB
    from sklearn.neighbors import KNeighborsClassifier

    X, yc, yb, yr = data.X, data.yc, data.yb, data.yr
    frame = pd.DataFrame(
        {
            "a": X[:, 0],
            "b": X[:, 1],
            "c": X[:, 2],
            "colour": np.array(["red", "green", "blue"] * (N_SAMPLES // 3), dtype=object),
            "size": np.array(["s", "m"] * (N_SAMPLES // 2), dtype=object),
        }
    )
    frame_cat = frame.copy()
    frame_cat["colour"] = frame_cat["colour"].astype("category")
    frame_cat["size"] = frame_cat["size"].astype("category")

    def hist(**kwargs):
        return ensemble.HistGradientBoostingClassifier(**kwargs)

    def hist_r(**kwargs):
        return ensemble.HistGradientBoostingRegressor(**kwargs)

    gb_c = ensemble.GradientBoostingClassifier
    gb_r = ensemble.GradientBoostingRegressor
    sgd_c = linear_model.SGDClassifier
    sgd_r = linear_model.SGDRegressor

    def column_transformer(remainder, selector):
        from sklearn.compose import make_column_selector

        if selector:
            num = make_column_selector(dtype_include=np.number)
            cat = make_column_selector(dtype_include=object)
        else:
            num, cat = ["a", "b"], ["colour"]
        ct = ColumnTransformer(
            [
                (
                    "num",
                    pipeline.make_pipeline(SimpleImputer(), preprocessing.StandardScaler()),
                    num,
                ),
                ("cat", preprocessing.OneHotEncoder(handle_unknown="ignore"), cat),
            ],
            remainder=remainder,
        )
        return pipeline.make_pipeline(ct, linear_model.LogisticRegression()).fit(frame, yc)

    def column_transformer_lists(remainder):
        ct = ColumnTransformer(
            [
                ("num", preprocessing.StandardScaler(), ["a", "b"]),
                ("cat", preprocessing.OneHotEncoder(handle_unknown="ignore"), ["colour"]),
            ],
            remainder=remainder,
        )
        return pipeline.make_pipeline(ct, linear_model.LogisticRegression()).fit(
            frame.drop(columns=["size"]), yc
        )

    def hist_categorical_mask():
        mask = [True] + [False] * (N_FEATURES - 1)
        return hist(max_iter=5, categorical_features=mask).fit(data.Xint * 1.0, yc)

    def hist_categorical_dtype():
        return hist(max_iter=5, categorical_features="from_dtype").fit(frame_cat, yc)

    def hist_categorical_names():
        return hist(max_iter=5, categorical_features=["colour", "size"]).fit(
            frame_cat.assign(
                colour=frame_cat["colour"].cat.codes, size=frame_cat["size"].cat.codes
            ),
            yc,
        )

    def stacking_c():
        return ensemble.StackingClassifier(
            [("lr", linear_model.LogisticRegression()), ("tree", tree.DecisionTreeClassifier())],
            final_estimator=linear_model.LogisticRegression(),
        ).fit(X, yc)

    def stacking_r():
        return ensemble.StackingRegressor(
            [("ridge", linear_model.Ridge()), ("tree", tree.DecisionTreeRegressor())]
        ).fit(X, yr)

    def voting(voting):
        return ensemble.VotingClassifier(
            [("lr", linear_model.LogisticRegression()), ("tree", tree.DecisionTreeClassifier())],
            voting=voting,
        ).fit(X, yc)

    def state():
        return np.random.RandomState(SEED)

    made = {
        "pipeline": lambda: pipeline.make_pipeline(
            preprocessing.StandardScaler(), PCA(2), linear_model.LogisticRegression()
        ).fit(X, yc),
        "column_transformer_selector": lambda: column_transformer("passthrough", True),
        "column_transformer_selector_remainder_est": lambda: column_transformer(
            preprocessing.StandardScaler(), True
        ),
        "column_transformer_passthrough": lambda: column_transformer_lists("passthrough"),
        "column_transformer_remainder_est": lambda: column_transformer_lists(
            preprocessing.StandardScaler()
        ),
        "column_transformer_drop": lambda: column_transformer_lists("drop"),
        "feature_union": lambda: pipeline.make_pipeline(
            pipeline.make_union(PCA(2), preprocessing.StandardScaler()),
            linear_model.LogisticRegression(),
        ).fit(X, yc),
        "transformed_target_func": lambda: TransformedTargetRegressor(
            regressor=linear_model.Ridge(), func=np.log1p, inverse_func=np.expm1
        ).fit(X, data.ypos),
        "transformed_target_transformer": lambda: TransformedTargetRegressor(
            regressor=linear_model.Ridge(), transformer=preprocessing.StandardScaler()
        ).fit(X, yr),
        "stacking_classifier": stacking_c,
        "stacking_regressor": stacking_r,
        "voting_soft": lambda: voting("soft"),
        "voting_hard": lambda: voting("hard"),
        "voting_regressor": lambda: ensemble.VotingRegressor(
            [("ridge", linear_model.Ridge()), ("tree", tree.DecisionTreeRegressor())]
        ).fit(X, yr),
        "calibrated_sigmoid": lambda: CalibratedClassifierCV(svm.LinearSVC(), method="sigmoid").fit(
            X, yc
        ),
        "calibrated_isotonic": lambda: CalibratedClassifierCV(
            tree.DecisionTreeClassifier(), method="isotonic", cv=3
        ).fit(X, yb),
        "function_transformer_log1p": lambda: pipeline.make_pipeline(
            preprocessing.FunctionTransformer(np.log1p, validate=True),
            linear_model.LogisticRegression(),
        ).fit(data.Xpos, yc),
        "function_transformer_sqrt": lambda: pipeline.make_pipeline(
            preprocessing.FunctionTransformer(np.sqrt, inverse_func=np.square, validate=True),
            linear_model.Ridge(),
        ).fit(data.Xpos, yr),
        "text_count_nb": lambda: pipeline.make_pipeline(CountVectorizer(), MultinomialNB()).fit(
            data.texts, yb
        ),
        "text_tfidf_lr": lambda: pipeline.make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2)), linear_model.LogisticRegression()
        ).fit(data.texts, yb),
        "text_hashing_sgd": lambda: pipeline.make_pipeline(
            HashingVectorizer(n_features=64), linear_model.SGDClassifier()
        ).fit(data.texts, yb),
        "hist_categorical_mask": hist_categorical_mask,
        "hist_categorical_dtype": hist_categorical_dtype,
        "hist_categorical_names": hist_categorical_names,
        "hist_binary": lambda: hist(max_iter=5).fit(X, yb),
        "hist_early_stopping": lambda: hist(
            max_iter=20, early_stopping=True, random_state=state()
        ).fit(X, yc),
        "sparse_coef": lambda: linear_model.LogisticRegression().fit(X, yc).sparsify(),
        "knn_kd_tree": lambda: KNeighborsClassifier(algorithm="kd_tree").fit(X, yc),
        "knn_ball_tree": lambda: KNeighborsClassifier(algorithm="ball_tree").fit(X, yc),
        "random_state_forest": lambda: ensemble.RandomForestClassifier(
            n_estimators=5, random_state=state()
        ).fit(X, yc),
        "random_state_sgd": lambda: sgd_c(random_state=state()).fit(X, yc),
        "random_state_object": state,
        "label_encoder_strings": lambda: preprocessing.LabelEncoder().fit(data.yc_str),
        "frame": lambda: frame,
        "frame_categorical": lambda: frame_cat,
    }
    try:
        made["random_generator"] = lambda: np.random.default_rng(SEED)
    except AttributeError:
        pass
    try:
        from sklearn.cluster import KMeans

        made["random_state_kmeans"] = lambda: KMeans(n_clusters=3, random_state=state()).fit(X)
    except ImportError:
        pass
    for loss in (("log_loss", "deviance"), ("exponential",)):
        made["gb_classifier_" + loss[0]] = lambda loss=loss: _first_accepted(
            lambda name: gb_c(n_estimators=5, loss=name).fit(X, yb), *loss
        )
    made["gb_classifier_multiclass"] = lambda: gb_c(n_estimators=5).fit(X, yc)
    made["gb_classifier_init"] = lambda: gb_c(
        n_estimators=5, init=linear_model.LogisticRegression()
    ).fit(X, yb)
    for loss in (("squared_error", "ls"), ("absolute_error", "lad"), ("huber",), ("quantile",)):
        made["gb_regressor_" + loss[0]] = lambda loss=loss: _first_accepted(
            lambda name: gb_r(n_estimators=5, loss=name).fit(X, yr), *loss
        )
    for loss in (
        ("squared_error", "least_squares"),
        ("absolute_error", "least_absolute_deviation"),
        ("poisson",),
        ("gamma",),
        ("quantile",),
    ):
        made["hist_regressor_" + loss[0]] = lambda loss=loss: _first_accepted(
            lambda name: hist_r(max_iter=5, loss=name, **_quantile(name)).fit(X, data.ypos), *loss
        )
    for loss in (
        ("hinge",),
        ("log_loss", "log"),
        ("modified_huber",),
        ("squared_hinge",),
        ("perceptron",),
        ("huber",),
    ):
        made["sgd_classifier_" + loss[0]] = lambda loss=loss: _first_accepted(
            lambda name: sgd_c(loss=name).fit(X, yc), *loss
        )
    for loss in (("squared_error", "squared_loss"), ("huber",), ("epsilon_insensitive",)):
        made["sgd_regressor_" + loss[0]] = lambda loss=loss: _first_accepted(
            lambda name: sgd_r(loss=name).fit(X, yr), *loss
        )
    for solver in ("sgd", "adam", "lbfgs"):
        made["mlp_" + solver] = lambda solver=solver: (
            __import__("sklearn.neural_network", fromlist=["MLPClassifier"])
            .MLPClassifier(solver=solver, max_iter=50)
            .fit(X, yc)
        )
    return made


# ------------------------------------------------------------- third-party models


def third_party(profile, data):
    """name -> callable returning a fitted object of a third-party estimator library."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    X, yc, yb, yr = data.X, data.yc, data.yb, data.yr
    frame = pd.DataFrame(
        {
            "a": X[:, 0],
            "b": X[:, 1],
            "colour": ["red", "green", "blue"] * (N_SAMPLES // 3),
            "size": ["s", "m"] * (N_SAMPLES // 2),
        }
    )
    made = {}
    if profile == "xgboost":
        import xgboost as xgb

        made["xgb_classifier"] = lambda: xgb.XGBClassifier(n_estimators=5).fit(X, yc)
        made["xgb_classifier_binary"] = lambda: xgb.XGBClassifier(n_estimators=5).fit(X, yb)
        made["xgb_regressor"] = lambda: xgb.XGBRegressor(n_estimators=5).fit(X, yr)
        made["xgb_rf_classifier"] = lambda: xgb.XGBRFClassifier(n_estimators=5).fit(X, yb)
        made["xgb_ranker"] = lambda: xgb.XGBRanker(n_estimators=5).fit(
            X, yc, group=[N_SAMPLES // 2, N_SAMPLES // 2]
        )
        made["xgb_booster"] = lambda: xgb.train(
            {"objective": "reg:squarederror"}, xgb.DMatrix(X, label=yr), num_boost_round=5
        )
        made["xgb_pipeline"] = lambda: make_pipeline(
            __import__("sklearn.preprocessing", fromlist=["StandardScaler"]).StandardScaler(),
            xgb.XGBClassifier(n_estimators=5),
        ).fit(X, yc)
    elif profile == "lightgbm":
        import lightgbm as lgb

        made["lgbm_classifier"] = lambda: lgb.LGBMClassifier(n_estimators=5).fit(X, yc)
        made["lgbm_classifier_binary"] = lambda: lgb.LGBMClassifier(n_estimators=5).fit(X, yb)
        made["lgbm_regressor"] = lambda: lgb.LGBMRegressor(n_estimators=5).fit(X, yr)
        made["lgbm_ranker"] = lambda: lgb.LGBMRanker(n_estimators=5, min_child_samples=2).fit(
            X, yc, group=[N_SAMPLES // 2, N_SAMPLES // 2]
        )
        made["lgbm_frame_categorical"] = lambda: lgb.LGBMClassifier(n_estimators=5).fit(
            frame.astype({"colour": "category", "size": "category"}), yc
        )
        made["lgbm_booster"] = lambda: lgb.train(
            {"objective": "regression", "verbose": -1}, lgb.Dataset(X, label=yr), num_boost_round=5
        )
    elif profile == "catboost":
        import catboost

        made["catboost_classifier"] = lambda: catboost.CatBoostClassifier(
            iterations=5, verbose=False, thread_count=1
        ).fit(X, yc)
        made["catboost_regressor"] = lambda: catboost.CatBoostRegressor(
            iterations=5, verbose=False, thread_count=1
        ).fit(X, yr)
        made["catboost_categorical"] = lambda: catboost.CatBoostClassifier(
            iterations=5, verbose=False, thread_count=1, cat_features=["colour", "size"]
        ).fit(frame, yb)
        made["catboost_pool_model"] = lambda: catboost.train(
            catboost.Pool(X, label=yr), {"iterations": 5, "verbose": False, "thread_count": 1}
        )
    elif profile == "category-encoders":
        import category_encoders as ce

        for name in (
            "OneHotEncoder",
            "OrdinalEncoder",
            "BinaryEncoder",
            "BaseNEncoder",
            "HashingEncoder",
            "TargetEncoder",
            "WOEEncoder",
            "CatBoostEncoder",
            "LeaveOneOutEncoder",
            "JamesSteinEncoder",
            "MEstimateEncoder",
            "CountEncoder",
            "HelmertEncoder",
            "SumEncoder",
            "BackwardDifferenceEncoder",
            "PolynomialEncoder",
            "GLMMEncoder",
            "QuantileEncoder",
            "SummaryEncoder",
            "GrayEncoder",
            "RankHotEncoder",
        ):
            # the lookup happens in the builder: newer releases import some encoders
            # lazily and raise ImportError for a missing optional dependency
            target = yb if name == "WOEEncoder" else yc
            made["ce_" + name] = lambda name=name, target=target: make_pipeline(
                getattr(ce, name)(cols=["colour", "size"]), LogisticRegression()
            ).fit(frame, target)
    elif profile == "feature-engine":
        made.update(_feature_engine(frame, X, yb))
    elif profile == "imbalanced-learn":
        made.update(_imblearn(X, yb, yc))
    package = DISCOVERED.get(profile)
    if package:
        # Beyond the hand-written cases: every public estimator class the package defines,
        # fitted on the first of a few typical inputs it accepts (a hand-picked subset
        # missed feature-engine's DatetimeFeatures in a real bundle).
        made.update(_discovered(package, frame, X, yb))
    return made


DISCOVERED = {
    "feature-engine": "feature_engine",
    "category-encoders": "category_encoders",
    "imbalanced-learn": "imblearn",
}


def _public_classes(package):
    import importlib
    import inspect
    import pkgutil

    root = importlib.import_module(package)
    found = {}
    for info in pkgutil.walk_packages(root.__path__, package + "."):
        parts = info.name.split(".")[1:]
        if any(p.startswith("_") or p in ("tests", "testing", "utils") for p in parts):
            continue
        try:
            module = importlib.import_module(info.name)
        except Exception:
            continue
        for name, cls in vars(module).items():
            if (
                inspect.isclass(cls)
                and cls.__module__ == module.__name__
                and not name.startswith("_")
                and hasattr(cls, "fit")
                and not inspect.isabstract(cls)
            ):
                found["%s.%s" % (cls.__module__, name)] = cls
    return found


def _discovered(package, frame, X, yb):
    import pandas as pd

    missing = frame.copy()
    missing.loc[::7, "a"] = np.nan
    missing.loc[::5, "colour"] = np.nan
    positive = frame.assign(a=np.abs(frame["a"]) + 1, b=np.abs(frame["b"]) + 1)
    dates = frame.assign(when=pd.date_range("2020-01-01", periods=len(frame), freq="D"))
    inputs = (frame, positive, missing, dates, X, frame[["a", "b"]])
    made = {}
    for qualified, cls in sorted(_public_classes(package).items()):

        def fit(cls=cls):
            errors = []
            for data in inputs:
                try:
                    return cls().fit(data, yb)
                except Exception as exc:
                    errors.append(reason(exc))
            raise RuntimeError("no typical input fits: " + errors[0])

        made["disc_" + qualified.replace(".", "_")] = fit
    return made


def _find(modules, name):
    for module in modules:
        try:
            return getattr(__import__(module, fromlist=[name]), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError("no %s in %s" % (name, ", ".join(modules)))


def _feature_engine(frame, X, yb):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    missing = frame.copy()
    missing.loc[::7, "a"] = np.nan
    missing.loc[::5, "colour"] = np.nan
    positive = frame.assign(a=np.abs(frame["a"]) + 1, b=np.abs(frame["b"]) + 1)
    specs = {
        "mean_median_imputer": (
            ("feature_engine.imputation", "feature_engine.missing_data_imputers"),
            "MeanMedianImputer",
            {},
            missing,
        ),
        "categorical_imputer": (
            ("feature_engine.imputation", "feature_engine.missing_data_imputers"),
            "CategoricalImputer",
            {},
            missing,
        ),
        "one_hot_encoder": (
            ("feature_engine.encoding", "feature_engine.categorical_encoders"),
            "OneHotEncoder",
            {},
            frame,
        ),
        "ordinal_encoder": (
            ("feature_engine.encoding", "feature_engine.categorical_encoders"),
            "OrdinalEncoder",
            {"encoding_method": "arbitrary"},
            frame,
        ),
        "rare_label_encoder": (
            ("feature_engine.encoding", "feature_engine.categorical_encoders"),
            "RareLabelEncoder",
            {"n_categories": 2},
            frame,
        ),
        "mean_encoder": (
            ("feature_engine.encoding", "feature_engine.categorical_encoders"),
            "MeanEncoder",
            {},
            frame,
        ),
        "equal_frequency_discretiser": (
            ("feature_engine.discretisation", "feature_engine.discretisers"),
            "EqualFrequencyDiscretiser",
            {"variables": ["a", "b"]},
            frame,
        ),
        "winsorizer": (
            ("feature_engine.outliers", "feature_engine.outlier_removers"),
            "Winsorizer",
            {"variables": ["a", "b"]},
            frame,
        ),
        "log_transformer": (
            ("feature_engine.transformation", "feature_engine.variable_transformers"),
            "LogTransformer",
            {"variables": ["a", "b"]},
            positive,
        ),
        "drop_constant": (("feature_engine.selection",), "DropConstantFeatures", {}, frame),
        "drop_correlated": (("feature_engine.selection",), "DropCorrelatedFeatures", {}, frame),
    }
    made = {}
    for key, (modules, name, kwargs, table) in specs.items():
        made["fe_" + key] = lambda modules=modules, name=name, kwargs=kwargs, table=table: _find(
            modules, name
        )(**kwargs).fit(table, yb)

    def full_pipeline():
        imputation = ("feature_engine.imputation", "feature_engine.missing_data_imputers")
        encoding = ("feature_engine.encoding", "feature_engine.categorical_encoders")
        return make_pipeline(
            _find(imputation, "MeanMedianImputer")(),
            _find(imputation, "CategoricalImputer")(),
            _find(encoding, "RareLabelEncoder")(n_categories=2),
            _find(encoding, "OneHotEncoder")(),
            _find(("feature_engine.outliers", "feature_engine.outlier_removers"), "Winsorizer")(
                variables=["a", "b"]
            ),
            LogisticRegression(),
        ).fit(missing, yb)

    made["fe_pipeline"] = full_pipeline
    return made


def _imblearn(X, yb, yc):
    from sklearn.linear_model import LogisticRegression

    pipeline = _find(("imblearn.pipeline",), "make_pipeline")
    made = {}
    for name in ("RandomOverSampler", "SMOTE", "ADASYN", "BorderlineSMOTE", "SVMSMOTE"):
        made["imb_" + name] = lambda name=name: pipeline(
            _find(("imblearn.over_sampling",), name)(), LogisticRegression()
        ).fit(X, yb)
    for name in (
        "RandomUnderSampler",
        "NearMiss",
        "TomekLinks",
        "EditedNearestNeighbours",
        "ClusterCentroids",
    ):
        made["imb_" + name] = lambda name=name: pipeline(
            _find(("imblearn.under_sampling",), name)(), LogisticRegression()
        ).fit(X, yb)
    for name in ("SMOTEENN", "SMOTETomek"):
        made["imb_" + name] = lambda name=name: pipeline(
            _find(("imblearn.combine",), name)(), LogisticRegression()
        ).fit(X, yb)
    for name in (
        "BalancedRandomForestClassifier",
        "BalancedBaggingClassifier",
        "EasyEnsembleClassifier",
        "RUSBoostClassifier",
    ):
        made["imb_" + name] = lambda name=name: _find(("imblearn.ensemble",), name)(
            n_estimators=5
        ).fit(X, yc)
    return made


# --------------------------------------------------------------------------- saving


def _vendored_joblib():
    """scikit-learn's own copy of joblib (< 0.21), or None where it only re-exports joblib."""
    try:
        from sklearn.externals import joblib as vendored
        from sklearn.externals.joblib import numpy_pickle
    except Exception:
        return None
    module = getattr(numpy_pickle.NumpyArrayWrapper, "__module__", "")
    return vendored if module.startswith("sklearn.externals") else None


def save(name, obj, models, log):
    import joblib

    try:
        import lz4  # noqa: F401

        methods = COMPRESSIONS
    except ImportError:
        methods = tuple(m for m in COMPRESSIONS if m != "lz4")
    written = 0
    targets = [("%s.joblib" % name, 0)] + [
        ("%s.%s.joblib" % (name, m), (m, COMPRESS_LEVEL)) for m in methods
    ]
    for filename, compress in targets:
        try:
            joblib.dump(obj, os.path.join(models, filename), compress=compress)
            written += 1
        except Exception as exc:
            log["save_errors"][filename] = reason(exc)
    vendored = _vendored_joblib()
    for filename, compress in (("%s.vendored.joblib" % name, 0), ("%s.vendored.z.joblib" % name, 3)):
        # scikit-learn < 0.21 shipped its own joblib: `from sklearn.externals import joblib`
        # wrote files that name sklearn.externals.joblib's classes, common in old bundles
        if vendored is None:
            break
        try:
            vendored.dump(obj, os.path.join(models, filename), compress=compress)
            written += 1
        except Exception as exc:
            log["save_errors"][filename] = reason(exc)
    for protocol in sorted({2, pickle.HIGHEST_PROTOCOL}):
        filename = "%s.p%d.pkl" % (name, protocol)
        try:
            with open(os.path.join(models, filename), "wb") as handle:
                pickle.dump(obj, handle, protocol=protocol)
            written += 1
        except Exception as exc:
            log["save_errors"][filename] = reason(exc)
    return written


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--profile", default="scikit-learn")
    parser.add_argument("--sample", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _on_alarm)
    models = os.path.join(args.out, "models")
    if not os.path.isdir(models):
        os.makedirs(models)
    log = {"saved": [], "skipped": {}, "save_errors": {}, "files": 0}
    data = Data()
    builders = []
    if args.profile == "scikit-learn":
        flavours = constructor_kwargs()
        for name, cls in all_estimators():
            if args.sample and name not in SAMPLE_ESTIMATORS:
                continue
            builders.append(("est_" + name, lambda cls=cls: fit_estimator(cls, data, flavours)))
        for name, make in sorted(compositions(data).items()):
            if args.sample and name not in SAMPLE_COMPOSITIONS:
                continue
            builders.append(("comp_" + name, lambda make=make: _call(make)))
    else:
        for name, make in sorted(third_party(args.profile, data).items()):
            builders.append((name, lambda make=make: _call(make)))
    for name, build in builders:
        obj, why = build()
        if obj is None:
            log["skipped"][name] = why
            sys.stderr.write("skip %s: %s\n" % (name, why))
            continue
        log["files"] += save(name, obj, models, log)
        log["saved"].append(name)
    with open(os.path.join(args.out, "train.json"), "w") as handle:
        json.dump(log, handle, indent=1, sort_keys=True)
    sys.stderr.write(
        "saved %d objects, %d files, skipped %d\n"
        % (len(log["saved"]), log["files"], len(log["skipped"]))
    )


def _call(make):
    signal.alarm(FIT_TIMEOUT_S)
    try:
        return make(), None
    except Exception as exc:
        return None, reason(exc)
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    main()
