"""MLflow model directories (``MLmodel``), as ``mlflow.sklearn.save_model`` / ``log_model`` write.

What is read, and from where:

- the model file and how to load it: the ``sklearn`` flavor of ``MLmodel``
  (``pickled_model``, ``serialization_format`` = ``pickle`` | ``cloudpickle`` | ``skops``,
  ``skops_trusted_types``). The model is loaded by the rebuilt environment's own
  pickle/cloudpickle/skops, exactly as ``mlflow.sklearn`` does, so MLflow itself is not
  installed (its pin is dropped with a note). A model with no ``sklearn`` flavor (a custom
  ``mlflow.pyfunc`` model, xgboost, pytorch...) can only be loaded by MLflow's own code:
  that is refused with a :class:`BundleError` naming what it would need.
- the Python version: ``python_env.yaml``, else ``conda.yaml``, else ``MLmodel``'s
  ``python_function.python_version``.
- the pins: ``python_env.yaml``'s dependencies (usually ``-r requirements.txt``, which may
  use ``-c constraints.txt``), else ``requirements.txt``, else ``conda.yaml``. When both a
  requirements list and ``conda.yaml`` exist and disagree, a note says which won and why.
- the author's own code: the folder ``code_paths`` were copied into (the flavor's ``code``,
  ``code/``), searched for the modules the model file references (see ``local_code.py``).
- the sample input: ``input_example.json`` (or ``serving_input_example.json``) converted
  to the probe's JSON in the cache; the expected output is not recorded by MLflow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from packaging.utils import canonicalize_name

from ...errors import BundleError
from ...pins import CodeLocation, ModelSpec, Pin, PythonRecord, RecordedEnv, Sample
from ..textfile import read_text
from . import example_input
from .conda_env import CondaRecord, parse_environment
from .requirements import RequirementsFile, parse_requirement_lines, parse_requirements

NAME = "mlflow"
MLMODEL = "MLmodel"
PYTHON_ENV = "python_env.yaml"
CONDA_ENV = "conda.yaml"
REQUIREMENTS = "requirements.txt"
INPUT_EXAMPLES = ("input_example.json", "serving_input_example.json")
SERIALIZATION_LOADERS = {"pickle": "pickle", "cloudpickle": "cloudpickle", "skops": "skops"}
# Installed by MLflow for MLflow's sake; the sklearn flavor loads without them.
MLFLOW_DISTRIBUTIONS = frozenset({"mlflow", "mlflow-skinny"})
LOADER_DISTRIBUTIONS = {"cloudpickle": "cloudpickle", "skops": "skops"}
_HINT_BROKEN = "the MLflow model directory is incomplete or was edited by hand"


def detect(bundle: Path) -> bool:
    """A folder with an ``MLmodel`` file."""
    return (bundle / MLMODEL).is_file()


def _load_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        raise BundleError(
            f"is not valid YAML ({str(exc).splitlines()[0]})", path=path, hint=_HINT_BROKEN
        ) from None


def _mapping(value: Any, what: str, path: Path) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleError(f"{what} must be a mapping", path=path, hint=_HINT_BROKEN)
    return value


def _inside(bundle: Path, name: str, field: str, path: Path) -> Path:
    try:
        target = (bundle / name).resolve()
    except (OSError, ValueError):  # a NUL byte, a symlink loop
        raise BundleError(f"{field} is not a usable file name: {name!r}", path=path) from None
    if bundle.resolve() not in target.parents:
        raise BundleError(f"{field} points outside the model directory: {name!r}", path=path)
    return target


def _code_dir(bundle: Path, flavors: dict[str, Any], path: Path) -> tuple[CodeLocation, ...]:
    """The folder ``code_paths`` were copied into (the flavor's ``code``, usually ``code``)."""
    for flavor in ("sklearn", "python_function"):
        conf = flavors.get(flavor)
        name = conf.get("code") if isinstance(conf, dict) else None
        if isinstance(name, str) and name:
            target = _inside(bundle, name, f"{flavor}.code", path)
            if target.exists():
                return (CodeLocation(target, f"{MLMODEL} code"),)
    return ()


def _pyfunc_refusal(flavors: dict[str, Any], path: Path, needs: list[str]) -> BundleError:
    pyfunc = flavors.get("python_function")
    loader = pyfunc.get("loader_module") if isinstance(pyfunc, dict) else None
    names = ", ".join(sorted(flavors))
    what = f"loader {loader}" if loader else f"flavors {names}"
    return BundleError(
        f"this MLflow model has no scikit-learn flavor ({what}); only MLflow's own code can "
        "load it, and rebuild-env rebuilds scikit-learn models",
        path=path,
        hint="it would need "
        + (", ".join(needs) if needs else "mlflow and the model's own requirements")
        + "; rebuild it with `mlflow models prepare-env`, or save the estimator with "
        "mlflow.sklearn.save_model",
    )


def conda_pins(conda: CondaRecord | None) -> RequirementsFile:
    """A conda record's pins in the shape of a requirements file."""
    if conda is None:
        return RequirementsFile()
    return RequirementsFile(
        pins=list(conda.pins),
        index_url=conda.index.index_url,
        extra_index_urls=list(conda.index.extra_index_urls),
        find_links=list(conda.index.find_links),
        notes=list(conda.notes),
    )


def _python_from(value: Any, source: str) -> PythonRecord | None:
    if value is None:
        return None
    text = str(value).strip()
    return PythonRecord(version=text, source=source) if text else None


def _exact_versions(pins: list[Pin]) -> dict[str, str]:
    return {p.name: p.version or p.specifier or "any" for p in pins}


def _choose_pins(
    requirements: RequirementsFile | None,
    requirements_label: str,
    conda: CondaRecord | None,
    sklearn_version: str,
) -> tuple[RequirementsFile, list[str]]:
    """Requirements list or conda.yaml, and the notes saying which won."""
    notes: list[str] = []
    if requirements is None and conda is None:
        empty = RequirementsFile()
        notes.append(
            "the MLflow model records no packages (no requirements.txt, python_env.yaml or "
            "conda.yaml); they are inferred from the model file"
        )
        return empty, notes
    if conda is None:
        assert requirements is not None
        return requirements, notes
    conda_as_requirements = conda_pins(conda)
    if requirements is None:
        return conda_as_requirements, notes
    ours, theirs = _exact_versions(requirements.pins), _exact_versions(conda.pins)
    differences = [
        f"{name}: {requirements_label} {ours.get(name, 'absent')}, "
        f"{CONDA_ENV} {theirs.get(name, 'absent')}"
        for name in sorted(set(ours) | set(theirs))
        if ours.get(name) != theirs.get(name) and name not in MLFLOW_DISTRIBUTIONS
    ]
    if not differences:
        return requirements, notes
    wanted = f"=={sklearn_version}" if sklearn_version else ""
    req_sklearn = next((p for p in requirements.pins if p.name == "scikit-learn"), None)
    conda_sklearn = next((p for p in conda.pins if p.name == "scikit-learn"), None)
    shown = "; ".join(differences[:8]) + ("; ..." if len(differences) > 8 else "")
    if (
        wanted
        and (req_sklearn is None or req_sklearn.specifier != wanted)
        and conda_sklearn is not None
        and conda_sklearn.specifier == wanted
    ):
        notes.append(
            f"{requirements_label} and {CONDA_ENV} disagree ({shown}); {CONDA_ENV} won: it pins "
            f"scikit-learn{wanted} as MLmodel records, {requirements_label} does not"
        )
        return conda_as_requirements, notes
    notes.append(
        f"{requirements_label} and {CONDA_ENV} disagree ({shown}); {requirements_label} won: "
        "it is what MLflow's default (virtualenv) environment manager installs"
    )
    return requirements, notes


def _requirements(bundle: Path) -> tuple[RequirementsFile | None, str, PythonRecord | None]:
    """Pins from ``python_env.yaml`` (else ``requirements.txt``), and its Python."""
    env_path = bundle / PYTHON_ENV
    if env_path.is_file():
        data = _mapping(_load_yaml(env_path), "the file", env_path)
        python = _python_from(data.get("python"), PYTHON_ENV)
        deps = data.get("dependencies") or []
        if not isinstance(deps, list):
            raise BundleError("'dependencies' must be a list", path=env_path, hint=_HINT_BROKEN)
        parsed = parse_requirement_lines(
            [str(d) for d in deps if d is not None], path=env_path, label=PYTHON_ENV
        )
        label = REQUIREMENTS if any(str(d).startswith("-r") for d in deps) else PYTHON_ENV
        return parsed, label, python
    if (bundle / REQUIREMENTS).is_file():
        return parse_requirements(bundle / REQUIREMENTS), REQUIREMENTS, None
    return None, REQUIREMENTS, None


def _signature_dtypes(mlmodel: dict[str, Any]) -> dict[str, str]:
    signature = mlmodel.get("signature")
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    try:
        columns = json.loads(inputs) if isinstance(inputs, str) else []
    except ValueError:
        return {}
    dtypes = {}
    for column in columns if isinstance(columns, list) else []:
        if isinstance(column, dict) and "name" in column:
            dtype = example_input.MLFLOW_COLUMN_DTYPES.get(str(column.get("type")))
            if dtype:
                dtypes[str(column["name"])] = dtype
    return dtypes


def _tensor_spec(mlmodel: dict[str, Any]) -> dict[str, Any] | None:
    signature = mlmodel.get("signature")
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    try:
        specs = json.loads(inputs) if isinstance(inputs, str) else []
    except ValueError:
        return None
    if isinstance(specs, list) and len(specs) == 1 and isinstance(specs[0], dict):
        tensor = specs[0].get("tensor-spec")
        if isinstance(tensor, dict) and isinstance(tensor.get("dtype"), str):
            return tensor
    return None


def _tensor_dtype(mlmodel: dict[str, Any]) -> str | None:
    tensor = _tensor_spec(mlmodel)
    return str(tensor["dtype"]) if tensor else None


def _input_tensor(mlmodel: dict[str, Any]) -> tuple[str, tuple[int, ...]] | None:
    """The signature's tensor input as (dtype, shape), when it is one usable tensor."""
    tensor = _tensor_spec(mlmodel)
    shape = tensor.get("shape") if tensor else None
    if not tensor or not isinstance(shape, list) or not 1 <= len(shape) <= 2:
        return None
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        return None
    return str(tensor["dtype"]), tuple(shape)


def convert_example(doc: Any, mlmodel: dict[str, Any]) -> dict[str, Any]:
    """An MLflow input example (any of the shapes MLflow writes) as the probe's document."""
    dtypes = _signature_dtypes(mlmodel)
    if isinstance(doc, dict):
        if "dataframe_split" in doc:
            doc = doc["dataframe_split"]
        elif "dataframe_records" in doc:
            return example_input.dataframe_from_records(doc["dataframe_records"], dtypes)
        elif "inputs" in doc or "instances" in doc:
            data = doc.get("inputs", doc.get("instances"))
            if isinstance(data, dict):
                raise example_input.ExampleError("named tensors are not a scikit-learn input")
            return example_input.array(data, _tensor_dtype(mlmodel))
        if isinstance(doc, dict) and "columns" in doc and "data" in doc:
            return example_input.dataframe_from_rows(doc["columns"], doc["data"], dtypes)
        if isinstance(doc, dict) and all(isinstance(v, list) for v in doc.values()):
            return example_input.dataframe(list(doc), list(doc.values()), dtypes)
    if isinstance(doc, list) and doc and all(isinstance(r, dict) for r in doc):
        return example_input.dataframe_from_records(doc, dtypes)
    if isinstance(doc, list):
        return example_input.array(doc, _tensor_dtype(mlmodel))
    raise example_input.ExampleError("unrecognised input example layout")


def _sample(
    bundle: Path, mlmodel: dict[str, Any], notes: list[str], pins: list[Pin]
) -> Sample | None:
    info = mlmodel.get("saved_input_example_info")
    names: list[str] = []
    if isinstance(info, dict):
        names += [str(info[k]) for k in ("artifact_path", "serving_input_path") if info.get(k)]
    names += [n for n in INPUT_EXAMPLES if n not in names]
    for name in names:
        try:
            path = _inside(bundle, name, "saved_input_example_info", bundle / MLMODEL)
        except BundleError:
            path = bundle  # not a file: reported below like a missing one
        if not path.is_file():
            if isinstance(info, dict) and name == info.get("artifact_path"):
                notes.append(f"{MLMODEL} names input example {name!r}, which does not exist")
            continue
        try:
            doc = json.loads(read_text(path))
            converted = convert_example(doc, mlmodel)
        except (ValueError, KeyError, TypeError) as exc:
            notes.append(f"{name}: input example not usable ({exc}); the probe generates one")
            continue
        added = example_input.with_pandas(pins, converted, name)
        if added:
            notes.append(added)
        return Sample(input_path=example_input.write_sample(converted, path))
    return None


def read(bundle: Path, *, model: Path | None = None) -> RecordedEnv:
    """Read an MLflow model directory."""
    mlmodel_path = bundle / MLMODEL
    mlmodel = _mapping(_load_yaml(mlmodel_path), "the file", mlmodel_path)
    flavors = mlmodel.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        raise BundleError(
            "is not an MLflow model file: it has no 'flavors' mapping",
            path=mlmodel_path,
            hint=_HINT_BROKEN,
        )
    requirements, label, python = _requirements(bundle)
    conda_path = bundle / CONDA_ENV
    conda = parse_environment(conda_path) if conda_path.is_file() else None
    sklearn = flavors.get("sklearn")
    if not isinstance(sklearn, dict):
        pyfunc_info = flavors.get("python_function")
        recorded_python = python or (conda.python if conda else None)
        if recorded_python is None and isinstance(pyfunc_info, dict):
            recorded_python = _python_from(pyfunc_info.get("python_version"), MLMODEL)
        needs = [f"Python {recorded_python.version}"] if recorded_python else []
        needs += [p.requirement() for p in (requirements or conda_pins(conda)).pins]
        raise _pyfunc_refusal(flavors, mlmodel_path, needs)
    notes: list[str] = []
    serialization = str(sklearn.get("serialization_format") or "cloudpickle")
    loader = SERIALIZATION_LOADERS.get(serialization)
    if loader is None:
        raise BundleError(
            f"sklearn flavor has serialization_format {serialization!r}; rebuild-env reads "
            + ", ".join(SERIALIZATION_LOADERS),
            path=mlmodel_path,
        )
    code = _code_dir(bundle, flavors, mlmodel_path)
    model_name = sklearn.get("pickled_model")
    if model is not None:
        model_path = model
    else:
        if not isinstance(model_name, str) or not model_name:
            raise BundleError(
                "sklearn flavor has no 'pickled_model'", path=mlmodel_path, hint=_HINT_BROKEN
            )
        model_path = _inside(bundle, model_name, "pickled_model", mlmodel_path)
        if not model_path.is_file():
            others = sorted(
                p.name
                for p in bundle.iterdir()
                if p.is_file() and p.suffix in (".pkl", ".pickle", ".skops", ".joblib")
            )
            raise BundleError(
                f"{MLMODEL} names model file {model_name!r}, which does not exist"
                + (f" (the folder has {', '.join(others)})" if others else ""),
                path=mlmodel_path,
                hint="pass --model FILE if another file is the model",
            )

    sklearn_version = str(sklearn.get("sklearn_version") or "")
    chosen, choice_notes = _choose_pins(requirements, label, conda, sklearn_version)
    notes += choice_notes
    pins = [p for p in chosen.pins if p.name not in MLFLOW_DISTRIBUTIONS]
    dropped = [p.requirement() for p in chosen.pins if p.name in MLFLOW_DISTRIBUTIONS]
    if dropped:
        notes.append(
            f"not installing {', '.join(dropped)}: the scikit-learn flavor is loaded with "
            f"{loader} directly, MLflow is not needed to load or verify it"
        )
        if not any(p.name == "pandas" for p in pins):
            # MLflow always brought pandas along, and MLflow models are fed DataFrames: a
            # model fitted on one selects its columns by name and needs pandas to predict.
            pins.append(Pin(name="pandas", source=f"{MLMODEL} (a dependency of mlflow)"))
            notes.append("pandas added: it came with mlflow, and MLflow models take DataFrames")
    needed = LOADER_DISTRIBUTIONS.get(loader)
    if needed and not any(p.name == needed for p in pins):
        pins.append(Pin(name=needed, source=f"{MLMODEL} serialization_format {serialization}"))
        notes.append(f"{needed} added: {MLMODEL} says the model is saved with {serialization}")
    recorded_sklearn = next((p for p in pins if p.name == "scikit-learn"), None)
    if (
        recorded_sklearn
        and sklearn_version
        and recorded_sklearn.version not in (None, sklearn_version)
    ):
        notes.append(
            f"{MLMODEL} says the model was saved with scikit-learn {sklearn_version}, "
            f"{recorded_sklearn.source} pins {recorded_sklearn.version}"
        )
    if sklearn_version and recorded_sklearn is None:
        pins.append(
            Pin(
                name=canonicalize_name("scikit-learn"),
                specifier=f"=={sklearn_version}",
                source=f"{MLMODEL} sklearn_version",
            )
        )
    notes += chosen.notes

    pyfunc = flavors.get("python_function")
    pyfunc_python = _python_from(
        pyfunc.get("python_version") if isinstance(pyfunc, dict) else None, MLMODEL
    )
    candidates = [c for c in (python, conda.python if conda else None, pyfunc_python) if c]
    if candidates:
        python = candidates[0]
        disagreeing = [c for c in candidates[1:] if c.version != python.version]
        if disagreeing:
            notes.append(
                f"Python {python.version} from {python.source} (first of python_env.yaml, "
                f"conda.yaml, MLmodel); "
                + ", ".join(f"{c.source} says {c.version}" for c in disagreeing)
            )
    sample = _sample(bundle, mlmodel, notes, pins)
    trusted = sklearn.get("skops_trusted_types")
    return RecordedEnv(
        bundle_dir=bundle,
        format=NAME,
        model=ModelSpec(
            path=model_path,
            loader=loader,
            method=str(pyfunc.get("predict_fn") or "predict")
            if isinstance(pyfunc, dict)
            else "predict",
            trusted_types=tuple(str(t) for t in trusted) if isinstance(trusted, list) else (),
            input_columns=tuple(_signature_dtypes(mlmodel).items()),
            input_tensor=_input_tensor(mlmodel),
        ),
        pins=tuple(pins),
        constraints=tuple(chosen.constraints),
        python=python,
        sample=sample,
        index=chosen.index,
        notes=tuple(notes),
        code=code,
    )
