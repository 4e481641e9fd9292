# The probe: run by the *rebuilt* environment's interpreter, in isolated mode (python -I):
#
#     python -I probe.py REQUEST.json RESULT.json
#
# It loads the model, calls the recorded method on the recorded (or a generated) input,
# compares with the recorded output and writes one JSON document to RESULT.json (never to
# stdout: a model may print while it predicts). It must run on every Python rebuild-env
# targets (3.6 and newer), so it uses only the standard library plus what the bundle pins
# (numpy, joblib, pandas, skops) and no syntax newer than Python 3.6.
#
# Defence in depth: unless the user trusted the file, the model is unpickled with a
# restricted unpickler that resolves only the globals the host's static scan approved.
# The author's own modules (--trust-code) are imported from exactly the files the host
# found, and only the classes the scan found in them resolve, each defined there.
import json
import numbers
import os
import sys
import time
import traceback
import warnings

PROBE_VERSION = 1
GENERATED_ROWS = 5
GENERATED_SEED = 0


class Refused(BaseException):
    """A global or allocation the host did not allow. A BaseException, so that a library's
    ``except Exception`` fallback (numpy.load wraps what pickle raises) cannot swallow it."""


# --- every unpickle in this process is restricted --------------------------------------
#
# joblib unpickles object arrays with plain pickle.load, numpy.load(allow_pickle=True) does
# too (joblib < 0.10's NDArrayWrapper calls it on companion files), and a model's own
# __setstate__ may call pickle.loads. So the restriction is put on the pickle module
# itself, before anything else is imported: pickle.load/loads/Unpickler and the pure-Python
# _Unpickler (joblib's NumpyUnpickler subclasses it) all resolve globals through one
# find_class that knows the host's allow-list. Until the request arrives (a warm probe
# imports first) the list is empty: nothing may be unpickled.

# Calls that allocate what their argument says (bytearray(10**12)): bounded.
MAX_ALLOCATION = 1 << 31
_POLICY = {"allowed": frozenset(), "local": frozenset(), "restricted": True}
# joblib reads the bytes after these as array payloads; plain pickle would read opcodes
JOBLIB_WRAPPERS = ("NumpyArrayWrapper", "NDArrayWrapper", "ZNDArrayWrapper")


def _compat_maps():
    try:
        import _compat_pickle

        return _compat_pickle.NAME_MAPPING, _compat_pickle.IMPORT_MAPPING
    except ImportError:  # Python 2 has no mapping to apply
        return {}, {}


_NAME_MAP, _MODULE_MAP = _compat_maps()


def _bounded_size(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if value > MAX_ALLOCATION:
            raise Refused("an allocation of %d items asked for by the file is refused" % value)


def _bounded(func):
    def call(*args, **kwargs):
        for value in list(args) + list(kwargs.values()):
            _bounded_size(value)
            if isinstance(value, tuple):
                total = 1
                for item in value:
                    if isinstance(item, numbers.Integral) and not isinstance(item, bool):
                        total *= max(int(item), 0)
                _bounded_size(total)
        return func(*args, **kwargs)

    return call


_ALLOCATORS = frozenset(
    [
        ("builtins", "bytearray"),
        ("builtins", "bytes"),
        ("builtins", "range"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    ]
)


def _check_global(module, name, resolve):
    """Resolve (module, name) only if the host's scan allowed it (or it is reviewed local code)."""
    if not _POLICY["restricted"]:
        return resolve(module, name)
    if (module, name) in _POLICY["local"]:
        found = resolve(module, name)
        defined_in = getattr(found, "__module__", None) or ""
        if defined_in.split(".")[0] != module.split(".")[0]:
            raise Refused(
                "global %s.%s is %s.%s, not defined in the trusted local code"
                % (module, name, defined_in, getattr(found, "__name__", "?"))
            )
        return found
    allowed = _POLICY["allowed"]
    pair = (module, name)
    if pair not in allowed:
        pair = tuple(_NAME_MAP.get((module, name), (_MODULE_MAP.get(module, module), name)))
        if pair not in allowed:
            raise Refused("global %s.%s is not on the scan's allow-list" % (module, name))
    found = resolve(module, name)
    if pair in _ALLOCATORS:
        return _bounded(found)
    return found


def restrict_unpickling():
    """Put the restriction on every unpickler of this process (called first thing, once)."""
    import pickle

    if getattr(pickle, "_rebuild_env_restricted", False):
        return
    pickle._rebuild_env_restricted = True

    pure = getattr(pickle, "_Unpickler", None) or pickle.Unpickler
    pure_find_class = pure.find_class

    def pure_restricted(self, module, name):
        return _check_global(module, name, lambda m, n: pure_find_class(self, m, n))

    pure.find_class = pure_restricted
    if pure is pickle.Unpickler:  # Python 2: the module's Unpickler is the pure one
        fast = pure
    else:
        c_unpickler = pickle.Unpickler

        class RestrictedUnpickler(c_unpickler):
            def find_class(self, module, name):
                return _check_global(module, name, lambda m, n: c_unpickler.find_class(self, m, n))

        fast = RestrictedUnpickler
        pickle.Unpickler = RestrictedUnpickler

    def load(file, **kwargs):
        return fast(file, **kwargs).load()

    def loads(data, **kwargs):
        import io

        return fast(io.BytesIO(bytes(data)), **kwargs).load()

    pickle.load, pickle.loads = load, loads
    try:
        import _pickle

        _pickle.load, _pickle.loads, _pickle.Unpickler = load, loads, fast
    except ImportError:
        pass
    try:  # Python 2's C unpickler
        import cPickle

        cPickle.load, cPickle.loads = load, loads
    except ImportError:
        pass


def set_policy(request):
    allowed = request.get("allowed_globals")
    _POLICY["restricted"] = allowed is not None
    _POLICY["allowed"] = frozenset(tuple(pair) for pair in allowed or [])
    _POLICY["local"] = frozenset(tuple(pair) for pair in request.get("local_globals") or [])


def _inside(path, where):
    path, where = os.path.realpath(path), os.path.realpath(where)
    return path == where or path.startswith(where.rstrip(os.sep) + os.sep)


def import_local_code(request):
    """Put the author's code folders on sys.path and import each local module from its file.

    The folders go *after* the environment's own (python -I set none of ours), so a file
    beside the model can never shadow numpy or the standard library.
    """
    for folder in request.get("code_paths") or []:
        if folder not in sys.path:
            sys.path.append(folder)
    for name, where in sorted((request.get("local_modules") or {}).items()):
        module = __import__(name)
        found = getattr(module, "__file__", None) or ""
        if found.endswith(".pyc"):  # Python 2 names the compiled file
            found = found[:-1]
        if not _inside(found, where):
            raise Refused(
                "module %s was imported from %s, not from the reviewed %s" % (name, found, where)
            )


def _joblib():
    vendored = [
        m for m, n in _POLICY["allowed"] if n in JOBLIB_WRAPPERS and m.startswith("sklearn.")
    ]
    if vendored:  # written by scikit-learn < 0.21's own joblib: only that copy reads it
        try:
            from sklearn.externals import joblib

            return joblib
        except ImportError:
            pass
    try:
        import joblib
    except ImportError:
        try:
            from sklearn.externals import joblib  # scikit-learn < 0.23 vendored joblib
        except ImportError:
            return None
    return joblib


def _load_pickle(path):
    import pickle

    with open(path, "rb") as handle:
        return pickle.load(handle)


def _load_skops(path):
    """skops loads only the types the host's scan allowed (never those a bundle names)."""
    from skops import io as sio

    found = sio.get_untrusted_types(file=path)
    if not _POLICY["restricted"]:
        return sio.load(path, trusted=found)
    allowed = set("%s.%s" % pair for pair in _POLICY["allowed"])
    refused = [t for t in found if t not in allowed]
    if refused:
        raise Refused("skops reports types the host did not allow: %s" % ", ".join(sorted(refused)))
    return sio.load(path, trusted=found)


def load_model(request):
    """Load the model with the loader the host's scan was made for.

    The scan read the file as joblib reads it (wrappers' payloads skipped, compression by
    magic bytes), so joblib loads it; plain pickle only when joblib is not installed and
    the scan found nothing joblib would read differently.
    """
    set_policy(request)
    import_local_code(request)
    loader = request.get("loader", "joblib")
    path = request["model"]
    if loader == "skops":
        return _load_skops(path)
    joblib = _joblib()
    if joblib is not None:
        return joblib.load(path)
    wrappers = [pair for pair in _POLICY["allowed"] if pair[1] in JOBLIB_WRAPPERS]
    if wrappers:  # plain pickle would read joblib's array payloads as opcodes
        raise Refused(
            "the file holds joblib arrays (%s) and the environment has no joblib: pin joblib"
            % ".".join(wrappers[0])
        )
    return _load_pickle(path)


def load_input(path):
    if path.endswith(".npy"):
        import numpy as np

        return np.load(path, allow_pickle=False)
    with open(path, "r") as handle:
        doc = json.load(handle)
    kind = doc.get("kind")
    if kind == "array":
        import numpy as np

        return np.asarray(doc["data"], dtype=doc.get("dtype") or None)
    if kind == "dataframe":
        import pandas as pd

        columns = doc["columns"]
        dtypes = doc.get("dtypes") or [None] * len(columns)
        data = {}
        for name, dtype, values in zip(columns, dtypes, doc["data"]):
            try:
                data[name] = pd.Series(values, dtype=dtype)
            except (TypeError, ValueError):
                data[name] = pd.Series(values)
        return pd.DataFrame(data, columns=columns)
    raise ValueError("unknown sample kind %r" % (kind,))


# Where a fitted estimator keeps its number of input features, newest sklearn first.
_N_FEATURES_ATTRS = ("n_features_in_", "n_features_", "n_input_features_", "_n_features")
# Fitted arrays whose last axis is the number of input features.
_FEATURE_AXIS_ATTRS = (
    "coef_",
    "cluster_centers_",
    "components_",
    "support_vectors_",
    "theta_",
    "means_",
    "mean_",
    "scale_",
    "var_",
    "data_min_",
    "center_",
    "_fit_X",
    "feature_importances_",
)


def _inner_estimators(model):
    """The estimators whose input is the model's input: first step, wrapped, ensemble member."""
    steps = getattr(model, "steps", None)
    if isinstance(steps, list):
        for step in steps:
            estimator = step[1] if isinstance(step, tuple) and len(step) > 1 else None
            if estimator is not None and not isinstance(estimator, str):
                yield estimator
                break
    for attr in ("best_estimator_", "estimator_", "base_estimator_", "regressor_"):
        inner = _quietly(model, attr)
        if inner is not None and inner is not model:
            yield inner
    members = getattr(model, "estimators_", None)
    if isinstance(members, list) and members:
        first = members[0]
        yield first[0] if isinstance(first, (list, tuple)) and first else first


def _quietly(model, attr):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_features_ is deprecated on sklearn 1.0-1.1
        try:
            return getattr(model, attr, None)
        except Exception:
            return None


def n_features(model, depth=0):
    """The number of input features a fitted model expects, from what it stored."""
    if model is None or depth > 6:
        return None
    for attr in _N_FEATURES_ATTRS:
        n = _quietly(model, attr)
        if isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0:
            return int(n)
    tree = _quietly(model, "tree_")
    n = getattr(tree, "n_features", None)
    if isinstance(n, numbers.Integral) and n > 0:
        return int(n)
    for inner in _inner_estimators(model):
        n = n_features(inner, depth + 1)
        if n:
            return n
    for attr in _FEATURE_AXIS_ATTRS:
        shape = getattr(_quietly(model, attr), "shape", None)
        if shape:
            return int(shape[-1])
    return None


def feature_names(model, depth=0):
    """The column names a fitted model was trained on, if it stored them."""
    if model is None or depth > 6:
        return None
    for attr in ("feature_names_in_", "_feature_names_in", "_df_columns"):
        names = _quietly(model, attr)
        if names is not None and len(names):
            return [str(n) for n in names]
    names = _column_transformer_names(model)
    if names:
        return names
    for inner in _inner_estimators(model):
        names = feature_names(inner, depth + 1)
        if names:
            return names
    return None


def _column_transformer_names(model):
    """The DataFrame columns an old ColumnTransformer selects by name, in order."""
    specs = _quietly(model, "transformers")
    if not isinstance(specs, list) or _quietly(model, "remainder") not in ("drop", None):
        return None
    names = []
    for spec in specs:
        columns = spec[2] if isinstance(spec, tuple) and len(spec) == 3 else None
        if isinstance(columns, str):
            columns = [columns]
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            return None
        names += [c for c in columns if c not in names]
    return names or None


def _encoder_categories(transformer):
    """``categories_`` of an encoder, or of the encoder inside a small pipeline."""
    candidates = [transformer]
    steps = getattr(transformer, "steps", None)
    if isinstance(steps, list):
        candidates += [s[1] for s in steps if isinstance(s, tuple) and len(s) > 1]
    for candidate in candidates:
        categories = _quietly(candidate, "categories_")
        if categories is not None:
            return list(categories)
    return None


def _column_indices(columns, n, names):
    """Input column positions of a ColumnTransformer column selection (None: unknown)."""
    if isinstance(columns, slice):
        return list(range(n))[columns]
    if isinstance(columns, (str, numbers.Integral)):
        columns = [columns]
    try:
        columns = list(columns)
    except TypeError:  # a callable selector
        return None
    if columns and all(type(c).__name__ in ("bool", "bool_") for c in columns):
        return [i for i, flag in enumerate(columns) if flag]
    out = []
    for column in columns:
        if isinstance(column, numbers.Integral):
            out.append(int(column))
        elif isinstance(column, str) and names and column in names:
            out.append(names.index(column))
        else:
            return None
    return out


def categorical_columns(model, n, names, depth=0):
    """{input column: categories} for the encoders that read the model's input directly."""
    if model is None or depth > 6:
        return {}
    own = _quietly(model, "categories_")
    if own is not None and len(own) == n:
        return dict(enumerate(own))
    fitted = _quietly(model, "transformers_")
    if isinstance(fitted, list):
        found = {}
        for spec in fitted:
            if not (isinstance(spec, tuple) and len(spec) == 3):
                continue
            categories = _encoder_categories(spec[1])
            indices = _column_indices(spec[2], n, names) if categories is not None else None
            if indices and len(indices) == len(categories):
                found.update(zip(indices, categories))
        return found
    for inner in _inner_estimators(model):
        found = categorical_columns(inner, n, names, depth + 1)
        if found:
            return found
    return {}


def _column(rng, dtype, rows):
    import numpy as np

    kind = np.dtype(dtype).kind if dtype not in ("object", "str", "string") else "O"
    if kind == "b":
        return rng.randint(0, 2, size=rows).astype(bool)
    if kind in "iu":
        return rng.randint(0, 4, size=rows).astype(dtype)
    if kind == "f":
        return rng.normal(size=rows).astype(dtype)
    if kind == "M":
        return np.datetime64("2020-01-01") + rng.randint(0, 1000, size=rows).astype(
            "timedelta64[D]"
        )
    return np.array(["a", "b", "c"], dtype=object)[rng.randint(0, 3, size=rows)]


class GeneratedInputNote(UserWarning):
    """What a generated input was built from, when the probe had to choose (the host shows
    it beside the verdict)."""


def _first_step(model, depth=0):
    """The estimator that reads the model's input: a pipeline's first step, recursively."""
    steps = getattr(model, "steps", None)
    if depth < 6 and isinstance(steps, list) and steps:
        step = steps[0]
        if isinstance(step, tuple) and len(step) > 1 and not isinstance(step[1], str):
            return _first_step(step[1], depth + 1)
    return model


def _dict_rows(vectorizer, rng, rows):
    """Rows of dicts for a DictVectorizer: its vocabulary's ``key=value`` features become
    categorical keys (a known value each row), the others numeric."""
    vocabulary = _quietly(vectorizer, "vocabulary_")
    if not isinstance(vocabulary, dict) or not vocabulary:
        return None
    separator = getattr(vectorizer, "separator", "=")
    numeric, categorical = [], {}
    for name in sorted(vocabulary, key=vocabulary.get):
        name = str(name)
        if separator in name:
            key, value = name.split(separator, 1)
            categorical.setdefault(key, []).append(value)
        else:
            numeric.append(name)
    out = []
    for _ in range(rows):
        row = dict((name, float(rng.normal())) for name in numeric)
        for key, values in categorical.items():
            row[key] = values[rng.randint(0, len(values))]
        out.append(row)
    return out


def _booster_input(model, rng, rows):
    """A raw gradient-boosting Booster's input from its own feature count: a DMatrix for
    xgboost, an array for LightGBM."""
    module = type(model).__module__.split(".")[0]
    if type(model).__name__ != "Booster" or module not in ("xgboost", "lightgbm"):
        return None
    if module == "lightgbm":
        return rng.normal(size=(rows, int(model.num_feature())))
    import xgboost

    n = int(model.num_features())
    names = getattr(model, "feature_names", None)
    return xgboost.DMatrix(rng.normal(size=(rows, n)), feature_names=names or None)


def _special_input(model, rng, rows):
    """Inputs that are not a table: dicts for a DictVectorizer, a Booster's own matrix."""
    booster = _booster_input(model, rng, rows)
    if booster is not None:
        return booster
    first = _first_step(model)
    if type(first).__name__ == "DictVectorizer":
        return _dict_rows(first, rng, rows)
    return None


def _schema_width(schema):
    columns = schema.get("columns")
    if columns:
        return len(columns)
    tensor = schema.get("tensor")
    if tensor and len(tensor.get("shape") or ()) == 2:
        return int(tensor["shape"][1])
    return None


def generate_input(model, schema=None, rows=GENERATED_ROWS):
    """An input of the right shape and dtypes: from the recorded schema, else the model.

    When the recorded schema and the model disagree on the number of features (an MLflow
    signature of 10 columns for ``n_features_in_ = 8``), the model's own description wins
    and a GeneratedInputNote says so.
    """
    import numpy as np

    rng = np.random.RandomState(GENERATED_SEED)
    special = _special_input(model, rng, rows)
    if special is not None:
        return special
    schema = schema or {}
    width, own = _schema_width(schema), n_features(model)
    if width and own and width != own:
        warnings.warn(
            "the input was generated from the model's own description (%d features): the "
            "recorded signature has %d columns" % (own, width),
            GeneratedInputNote,
        )
        schema = {}
    columns = schema.get("columns")
    if columns:
        import pandas as pd

        data = [(name, _column(rng, dtype, rows)) for name, dtype in columns]
        return pd.DataFrame(dict(data), columns=[name for name, _ in columns])
    tensor = schema.get("tensor")
    if tensor and len(tensor["shape"]) == 2 and tensor["shape"][1] > 0:
        width = int(tensor["shape"][1])
        return np.stack([_column(rng, tensor["dtype"], rows) for _ in range(width)], 1)
    n = n_features(model)
    names = feature_names(model)
    if names and (n is None or len(names) > n):
        n = len(names)
    if n is None:
        return None
    if names and len(names) < n:  # an old ColumnTransformer that also passes others through
        names = names + ["extra_%d" % i for i in range(n - len(names))]
    categories = categorical_columns(model, n, names)
    if categories:  # an encoder would reject values it never saw: draw from what it knows
        return _mixed_input(rng, n, names, categories, rows)
    data = rng.normal(size=(rows, int(n)))
    if names is not None and len(names) == n:
        try:
            import pandas as pd
        except ImportError:  # the bundle does not pin pandas: plain columns still predict
            return data
        return pd.DataFrame(data, columns=list(names))
    return data


def _mixed_input(rng, n, names, categories, rows):
    import numpy as np

    columns = []
    for i in range(n):
        known = categories.get(i)
        if known is not None and len(known):
            known = np.asarray(known)
            columns.append(known[rng.randint(0, len(known), size=rows)])
        else:
            columns.append(rng.normal(size=rows))
    if names:
        try:
            import pandas as pd
        except ImportError:
            pass
        else:
            return pd.DataFrame(dict(zip(names, columns)), columns=list(names))
    data = np.empty((rows, n), dtype=object)
    for i, column in enumerate(columns):
        data[:, i] = column
    return data


def _rows(array):
    return array.shape[0] if array.ndim else 1


# Every difference within this many ULPs (units in the last place of the largest magnitude
# in the same output column) is floating-point noise; the host sends its own threshold.
NOISE_ULPS = 64
# Outputs whose argmax (2-D) or sign (1-D decision_function) is the predicted label.
SCORE_METHODS = ("predict_proba", "predict_log_proba", "decision_function")
NOT_IDENTICAL = ("within-noise", "within-tolerance", "differs")


def _as_columns(array):
    return array.reshape(array.shape[0], -1) if array.ndim > 1 else array.reshape(-1, 1)


def ulp_distance(a, b):
    """|a - b| in ULPs of each column's largest magnitude (both arrays: same shape, float).

    A value near zero comes from cancelling sums of larger terms, so it carries the
    rounding error of those terms, not of itself: its own ULP would make 1e-17 look like
    a thousand ULPs. Equal values (NaN included) are 0 ULPs apart, anything else that is
    not finite is infinitely far.
    """
    import numpy as np

    dtype = b.dtype if b.dtype.kind == "f" else np.dtype("float64")
    x = _as_columns(np.asarray(a, dtype="float64"))
    y = _as_columns(np.asarray(b, dtype="float64"))
    same = (x == y) | (np.isnan(x) & np.isnan(y))
    with np.errstate(invalid="ignore", over="ignore"):
        finite = np.isfinite(x) & np.isfinite(y)
        magnitude = np.where(finite, np.maximum(np.abs(x), np.abs(y)), 0.0)
        scale = magnitude.max(axis=0) if magnitude.size else magnitude
        spacing = np.spacing(scale.astype(dtype)).astype("float64")
        ulps = np.where(finite, np.abs(x - y), np.inf) / spacing
    return np.where(same, 0.0, ulps)


def _discrete_identical(out, exp, method):
    """The labels the outputs decide: a score's argmax per row, a decision's sign."""
    import numpy as np

    if method not in SCORE_METHODS:
        return True
    if out.ndim == 2 and out.shape[1] > 1:
        return bool((np.argmax(out, axis=1) == np.argmax(exp, axis=1)).all())
    if out.ndim == 1 and method == "decision_function":
        return bool((np.sign(out) == np.sign(exp)).all())
    return True


def compare(output, expected_path, tolerance, noise_ulps=NOISE_ULPS, method=None):
    """The output against the recorded one: bit for bit, within noise, within tolerance."""
    import numpy as np

    out = np.asarray(output)
    exp = np.load(expected_path, allow_pickle=False)
    result = {
        "shape": list(out.shape),
        "expected_shape": list(exp.shape),
        "dtype": str(out.dtype),
        "expected_dtype": str(exp.dtype),
        "rows": _rows(exp),
        "equal_rows": 0,
        "max_abs_diff": None,
        "max_rel_diff": None,
        "max_ulp": None,
        "noise_ulps": noise_ulps,
        "labels_identical": None,
        "identical": False,
        "within_noise": False,
        "within_tolerance": False,
    }
    if out.shape != exp.shape:
        return result
    numeric = out.dtype.kind in "biuf" and exp.dtype.kind in "biuf"
    if numeric:
        a = out.astype("float64")
        b = exp.astype("float64")
        both_nan = np.isnan(a) & np.isnan(b)
        equal = (a == b) | both_nan
        diff = np.where(both_nan, 0.0, np.abs(a - b))
        if diff.size:
            result["max_abs_diff"] = float(np.nanmax(diff))
            scale = np.maximum(np.abs(b), np.finfo("float64").tiny)
            result["max_rel_diff"] = float(np.nanmax(diff / scale))
        if tolerance:
            close = np.isclose(
                a,
                b,
                rtol=tolerance.get("rtol", 0.0),
                atol=tolerance.get("atol", 0.0),
                equal_nan=True,
            )
            result["within_tolerance"] = bool(close.all())
    else:
        equal = out.astype(str) == exp.astype(str)
    per_row = equal.reshape(equal.shape[0], -1).all(axis=1) if equal.ndim else equal.reshape(1)
    result["equal_rows"] = int(per_row.sum())
    same_dtype = out.dtype == exp.dtype
    # bit for bit: -0.0 is not 0.0, and a NaN's payload counts
    result["identical"] = bool(same_dtype and out.tobytes() == np.ascontiguousarray(exp).tobytes())
    if same_dtype and out.dtype.kind == "f" and out.size:
        ulps = ulp_distance(out, exp)
        worst = float(ulps.max())
        result["max_ulp"] = worst if worst != float("inf") else None
        result["labels_identical"] = _discrete_identical(out, exp, method)
        result["within_noise"] = bool(worst <= noise_ulps and result["labels_identical"])
    return result


# The variables that choose a BLAS kernel, code path or thread count (numeric_context.py).
NUMERIC_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_CBWR",
    "MKL_NUM_THREADS",
    "MKL_ENABLE_INSTRUCTIONS",
    "MKL_DEBUG_CPU_TYPE",
    "OPENBLAS_VERBOSE",
    "GOTO_NUM_THREADS",
)
# CPU flags that decide a kernel (the full list is ~150 names).
KERNEL_FLAGS = frozenset(
    "sse sse2 pni ssse3 sse4_1 sse4_2 avx avx2 fma avx512f avx512cd avx512bw avx512dq "
    "avx512vl avx512_vnni avx512_bf16 avx512_fp16 amx_tile".split()
)
_BLAS_KEYS = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "prefix")


def numeric_context():
    """Which BLAS computed the outputs (threadpoolctl, when installed), on which CPU, under
    which variables. Called after predicting: only loaded libraries are reported."""
    blas = []
    try:
        import threadpoolctl

        for info in threadpoolctl.threadpool_info():
            blas.append(dict((key, info.get(key)) for key in _BLAS_KEYS))
    except BaseException:  # no threadpoolctl (or an old one): the CPU and variables remain
        pass
    model, flags = "", []
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = sorted(set(value.split()) & KERNEL_FLAGS)
                if model and flags:
                    break
    except (IOError, OSError):
        pass
    env = dict((k, os.environ[k]) for k in NUMERIC_VARS if os.environ.get(k))
    return {"blas": blas, "cpu": {"model": model, "flags": flags}, "env": env}


def installed_distributions():
    found = {}
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            stem = name.rsplit(".", 1)[0]
            if "-" not in stem:
                continue
            dist, version = stem.split("-", 1)
            key = dist.lower().replace("_", "-").replace(".", "-")
            if key in found:
                continue
            top = [key.replace("-", "_")]
            top_file = os.path.join(entry, name, "top_level.txt")
            if os.path.isfile(top_file):
                with open(top_file) as handle:
                    top = [line.strip() for line in handle if line.strip()] or top
            found[key] = (version.split("-")[0], top)
    return found


def imported_versions():
    loaded = set(m.split(".")[0] for m in list(sys.modules))
    versions = {}
    for dist, (version, tops) in installed_distributions().items():
        if (
            any(t.split("/")[0] in loaded for t in tops)
            or dist == "scikit-learn"
            and "sklearn" in loaded
        ):
            versions[dist] = version
    return versions


def _error(stage, exc):
    lines = traceback.format_exception_only(type(exc), exc)
    return {
        "stage": stage,
        "type": type(exc).__name__,
        "message": "".join(lines).strip()[-2000:],
        "refused": isinstance(exc, Refused),
    }


def run(request):
    result = {
        "probe_version": PROBE_VERSION,
        "python": "%d.%d.%d" % tuple(sys.version_info[:3]),
        "loaded": False,
        "predicted": False,
        "level": "failed",
        "error": None,
        "warnings": [],
        "versions": {},
        "comparison": None,
        "input": None,
        "timings": {},
    }
    started = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = load_model(request)
            result["loaded"] = True
            result["level"] = "loads"
        except BaseException as exc:  # the model decides what it raises
            result["error"] = _error("load", exc)
            model = None
        result["timings"]["load_s"] = round(time.time() - started, 4)
        if model is not None:
            _predict(model, request, result)
            if request.get("outputs"):
                result["outputs"] = save_outputs(model, request)
            wanted = request.get("numeric_context")
            if wanted == "always" or (wanted and result["level"] in NOT_IDENTICAL):
                result["numeric_context"] = numeric_context()
    seen = set()
    for w in _EARLY_WARNINGS + list(caught):
        key = (w.category.__name__, str(w.message))
        if key not in seen:
            seen.add(key)
            result["warnings"].append({"category": key[0], "message": key[1][:2000]})
    result["versions"] = imported_versions()
    return result


def _predict(model, request, result):
    started = time.time()
    try:
        sample = None
        if request.get("input"):
            sample = load_input(request["input"])
            result["input"] = "recorded"
        elif _members(model) is not None:
            _predict_members(_members(model), request, result)
            return
        elif not hasattr(model, request.get("method") or "predict"):
            raise NotAModel(_what_it_is(model, request.get("method") or "predict"))
        else:
            result["input"] = "generated"
            sample = generate_input(model, request.get("input_schema"))
            if sample is None:
                result["input"] = None
        if sample is None:
            return
        method = getattr(model, request.get("method") or "predict")
        output = method(sample)
        result["predicted"] = True
        result["level"] = "predicts"
        if hasattr(output, "shape"):
            result["output_shape"] = list(output.shape)
    except BaseException as exc:
        result["error"] = _error("predict", exc)
        return
    finally:
        result["timings"]["predict_s"] = round(time.time() - started, 4)
    if request.get("expected") and result["input"] == "recorded":
        try:
            comparison = compare(
                output,
                request["expected"],
                request.get("tolerance"),
                request.get("noise_ulps", NOISE_ULPS),
                request.get("method") or "predict",
            )
        except BaseException as exc:
            result["error"] = _error("compare", exc)
            return
        result["comparison"] = comparison
        if comparison["identical"]:
            result["level"] = "identical"
        elif comparison["within_noise"] and not request.get("exact"):
            result["level"] = "within-noise"
        elif comparison["within_tolerance"]:
            result["level"] = "within-tolerance"
        else:
            result["level"] = "differs"


class NotAModel(Exception):
    """The file holds something that cannot be called as the recorded method."""


def _what_it_is(model, method):
    """``the file holds a mlflow.entities.ModelVersion object, which has no predict()``."""
    kind = type(model)
    name = "%s.%s" % (kind.__module__, getattr(kind, "__qualname__", kind.__name__))
    return (
        "the file holds a %s object, which has no %s(): it is not a model (or not one that "
        "can be called this way)" % (name, method)
    )


def _members(model):
    """``[(key, estimator)]`` of a pickled tuple, list or dict of estimators, else None."""
    if isinstance(model, dict):
        items = [(str(k), v) for k, v in model.items()]
    elif isinstance(model, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(model)]
    else:
        return None
    items = [(k, v) for k, v in items if hasattr(v, "predict") or hasattr(v, "transform")]
    return items or None


def _predict_members(members, request, result):
    """Each member that can predict, on an input generated for it: the whole predicts when
    every member that could be given an input predicted."""
    result["input"] = "generated"
    outcomes = {}
    for key, member in members:
        method = getattr(member, request.get("method") or "predict", None)
        if method is None:
            method = getattr(member, "transform", None)
        sample = generate_input(member)
        if sample is None or method is None:
            outcomes[key] = "no input"
            continue
        try:
            method(sample)
            outcomes[key] = "predicts"
        except BaseException as exc:
            outcomes[key] = "failed"
            result["error"] = result["error"] or _error("predict", exc)
    result["members"] = outcomes
    tried = [v for v in outcomes.values() if v != "no input"]
    warnings.warn(
        "a %s of %d estimators: %s"
        % (
            "collection",
            len(members),
            ", ".join("%s %s" % (k, v) for k, v in sorted(outcomes.items())),
        ),
        GeneratedInputNote,
    )
    if tried and all(v == "predicts" for v in tried):
        result["predicted"] = True
        result["level"] = "predicts"


def _savable(output):
    import numpy as np

    if hasattr(output, "toarray"):  # a sparse matrix (transformers)
        output = output.toarray()
    array = np.asarray(output)
    if array.dtype.kind == "O":  # np.save without pickle cannot store objects
        array = array.astype(str)
    return array


def save_outputs(model, request):
    """Run each requested method on each input and save what it returns (``compare``).

    Each entry of ``request["outputs"]``: ``name``, ``method``, ``input`` (a path, or
    null for the generated input), ``file`` (the ``.npy`` to write) and ``optional``
    (skip a method the model does not have, e.g. ``predict_proba`` of a regressor).
    """
    import numpy as np

    inputs = {}
    done = []
    for run in request["outputs"]:
        entry = {"name": run["name"], "status": "ok", "error": None, "shape": None, "dtype": None}
        done.append(entry)
        try:
            if run.get("optional") and not hasattr(model, run["method"]):
                entry["status"] = "absent"
                continue
            key = run.get("input")
            if key not in inputs:
                inputs[key] = (
                    load_input(key)
                    if key
                    else generate_input(
                        model,
                        request.get("input_schema"),
                        request.get("generated_rows") or GENERATED_ROWS,
                    )
                )
            array = _savable(getattr(model, run["method"])(inputs[key]))
            np.save(run["file"], array, allow_pickle=False)
            entry["shape"] = list(array.shape)
            entry["dtype"] = array.dtype.str
        except BaseException as exc:  # the model decides what it raises
            entry["status"] = "error"
            entry["error"] = _error("predict", exc)
    return done


_EARLY_WARNINGS = []


def warm(modules):
    """Import what the model will need, then wait for the request (paths on stdin).

    Started while the host is still planning, so the imports overlap its work. Warnings
    raised by these imports (``numpy.dtype size changed``) are kept for the result.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for name in modules:
            try:
                __import__(name)
            except BaseException:  # the real load reports it
                pass
    _EARLY_WARNINGS.extend(caught)
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    return main([sys.argv[0]] + json.loads(line))  # restrict_unpickling() is idempotent


def main(argv):
    restrict_unpickling()
    if len(argv) > 2 and argv[1] == "--warm":
        return warm(json.loads(argv[2]))
    with open(argv[1]) as handle:
        request = json.load(handle)
    try:
        result = run(request)
    except BaseException as exc:
        result = {"probe_version": PROBE_VERSION, "level": "failed", "error": _error("probe", exc)}
    tmp = argv[2] + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(result, handle)
    os.rename(tmp, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
