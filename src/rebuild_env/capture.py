"""The capture side: ``save_bundle(model, path, sample_input=X)`` writes a rebuild-env bundle.

Runs in the *author's* process, with the live model: it records the exact Python, the
distributions whose modules the model references plus their installed dependency closure,
a copy of the author's own modules it references (``code/``: those no installed
distribution provides, living outside site-packages and the standard library),
and a sample input with the outputs the model gives, in forms the probe loads without
executing code (``.npy`` with ``allow_pickle=False``; DataFrames as column-oriented JSON).
"""

from __future__ import annotations

import io
import json
import pickle
import platform
import shutil
import site
import sys
import sysconfig
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from . import __version__
from .bundle.formats.manifest import FORMAT_VERSION, MANIFEST, NUMERIC_CONTEXT, numeric_section
from .env_inventory import installed_sha256
from .errors import BundleError, UsageError

MODEL_FILE = "model.joblib"
SAMPLE_INPUT_NPY = "sample_input.npy"
SAMPLE_INPUT_JSON = "sample_input.json"
SAMPLE_OUTPUT = "sample_output.npy"
CODE_DIR = "code"
MAIN_MODULE = "__main__"
# Always needed to load and verify a bundle, whatever the model references.
ALWAYS = ("joblib", "numpy")


class _ModuleRecorder(pickle.Pickler):
    """Pickles into nothing, noting the module of every object on the way."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), protocol=pickle.HIGHEST_PROTOCOL)
        self.modules: set[str] = set()

    def reducer_override(self, obj: Any) -> Any:
        module = getattr(obj, "__module__", None) if isinstance(obj, type) else type(obj).__module__
        if isinstance(module, str):
            self.modules.add(module.split(".")[0])
        return NotImplemented


def referenced_top_modules(model: Any) -> set[str]:
    """Top-level modules the pickled model refers to (``__main__`` included)."""
    recorder = _ModuleRecorder()
    recorder.dump(model)
    return recorder.modules - {"builtins"}


def _installed_roots() -> set[Path]:
    """Where the standard library and installed distributions live."""
    paths = sysconfig.get_paths()
    roots = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
    roots += [*site.getsitepackages(), site.getusersitepackages()]
    return {Path(r).resolve() for r in roots}


def local_sources(modules: set[str]) -> dict[str, Path]:
    """The referenced modules that are the author's own source: module -> file or package.

    Not the standard library, not provided by an installed distribution, and not living
    under site-packages; a single ``.py`` file or a package folder.
    """
    installed = metadata.packages_distributions()
    roots = _installed_roots()
    found: dict[str, Path] = {}
    for name in sorted(modules - set(sys.stdlib_module_names) - set(installed)):
        file = getattr(sys.modules.get(name), "__file__", None)
        if not file:
            continue
        source = Path(file).resolve()
        if any(root == source or root in source.parents for root in roots):
            continue
        if source.name == "__init__.py":
            found[name] = source.parent
        elif source.suffix == ".py":
            found[name] = source
    return found


def _copy_local_code(modules: set[str], folder: Path) -> list[str]:
    """Copy the author's modules into ``code/``; their paths for the manifest's ``code:``."""
    listed = []
    for source in local_sources(modules).values():
        target = folder / CODE_DIR / source.name
        target.parent.mkdir(exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, target)
        listed.append(f"{CODE_DIR}/{target.name}")
    return listed


def _closure(names: Iterable[str]) -> dict[str, metadata.Distribution]:
    """Installed distributions named, plus everything they require (markers evaluated)."""
    env = {k: str(v) for k, v in default_environment().items()}
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found[name] = dist
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
                todo.append(req.name)
    return found


def _distributions_for(modules: set[str]) -> set[str]:
    mapping = metadata.packages_distributions()
    dists = set(ALWAYS)
    for module in modules:
        dists.update(mapping.get(module, []))
    return dists


def _write_sample_input(sample: Any, path: Path) -> str:
    import numpy as np

    pandas = sys.modules.get("pandas")  # a DataFrame sample means pandas is already loaded
    if pandas is not None and isinstance(sample, pandas.DataFrame):
        doc = {
            "kind": "dataframe",
            "columns": [str(c) for c in sample.columns],
            "dtypes": [str(t) for t in sample.dtypes],
            "data": [_json_column(sample[c]) for c in sample.columns],
        }
        (path / SAMPLE_INPUT_JSON).write_text(json.dumps(doc), encoding="utf-8")
        return SAMPLE_INPUT_JSON
    array = np.asarray(sample)
    if array.dtype == object:
        raise UsageError(
            "sample_input has object dtype, which cannot be stored without pickle",
            hint="pass a numeric/string array or a pandas DataFrame",
        )
    np.save(path / SAMPLE_INPUT_NPY, array, allow_pickle=False)
    return SAMPLE_INPUT_NPY


def _json_column(series: Any) -> list[Any]:
    values = series.astype(object).where(series.notna(), None).tolist()
    if str(series.dtype).startswith("datetime"):
        return [v.isoformat() if v is not None else None for v in values]
    return [v.item() if hasattr(v, "item") else v for v in values]


def _write_output(output: Any, path: Path) -> None:
    import numpy as np

    array = np.asarray(output)
    if array.dtype == object:
        try:
            array = array.astype(str)
        except (TypeError, ValueError):
            raise UsageError("the model's output cannot be stored without pickle") from None
    np.save(path / SAMPLE_OUTPUT, array, allow_pickle=False)


def save_bundle(
    model: Any,
    path: Path | str,
    *,
    sample_input: Any = None,
    method: str = "predict",
    compress: int = 3,
    pack: bool = False,
    pack_backend: str = "venv",
) -> Path:
    """Write ``model`` and what it needs into the bundle folder ``path``; return the folder.

    ``pack``: also store every artifact a rebuild installs (``rebuild-env pack``; needs the
    package index), so the bundle rebuilds with ``--offline``.
    """
    import joblib

    folder = Path(path)
    if folder.exists() and any(folder.iterdir()):
        raise BundleError("folder exists and is not empty", path=folder, hint="choose a new folder")
    if sample_input is not None and not callable(getattr(model, method, None)):
        raise UsageError(f"the model has no method {method!r}", hint="pass method=...")
    modules = referenced_top_modules(model)
    if MAIN_MODULE in modules:
        raise UsageError(
            "the model holds a class defined in __main__ (this script or notebook); "
            "a rebuild has no file to import it from",
            hint="move the class into a module (e.g. my_code.py), import it from there, "
            "fit or load the model again and save it",
        )
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, folder / MODEL_FILE, compress=compress)
    if sample_input is not None:
        modules.add(type(sample_input).__module__.split(".")[0])  # the probe rebuilds it
    dists = _closure(_distributions_for(modules))
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "created_by": f"rebuild-env {__version__}",
        "model": {"file": MODEL_FILE, "loader": "joblib", "method": method},
        "python": {
            "version": platform.python_version(),
            "implementation": sys.implementation.name,
        },
        "platform": sysconfig.get_platform(),
        "packages": [],
    }
    for name in sorted(dists):
        entry: dict[str, Any] = {"name": name, "version": dists[name].version}
        sha = installed_sha256(dists[name])
        if sha:
            entry["sha256"] = sha
        manifest["packages"].append(entry)
    if sample_input is not None:
        input_name = _write_sample_input(sample_input, folder)
        _write_output(getattr(model, method)(sample_input), folder)
        manifest["sample"] = {"input": input_name, "output": SAMPLE_OUTPUT}
        from .verify.probe import numeric_context  # the probe's own capture, in this process

        numeric = numeric_section(numeric_context())  # type: ignore[no-untyped-call]
        if numeric is not None:
            manifest[NUMERIC_CONTEXT] = numeric
    code = _copy_local_code(modules, folder)
    if code:
        manifest["code"] = code
    (folder / MANIFEST).write_text(
        yaml.safe_dump(manifest, sort_keys=False, default_flow_style=False), encoding="utf-8"
    )
    if pack:
        from .options import Options
        from .pack.packing import pack_bundle

        # The manifest records this interpreter's version: plan with it.
        pack_bundle(folder, Options(backend=pack_backend, python=sys.executable))
    return folder
