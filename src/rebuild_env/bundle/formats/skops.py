"""Hugging Face / skops model repos: ``config.json`` with an ``sklearn`` section.

Written by skops' ``hub_utils.init`` (skops < 0.16)::

    {"sklearn": {
        "environment": ["scikit-learn=1.0.2", "numpy"],   # conda-style "=" pins
        "model": {"file": "model.pkl"},
        "model_format": "pickle",                          # or "skops"
        "task": "tabular-classification",
        "example_input": {"x0": [0.1, 0.2], ...}           # columns -> lists
    }}

A ``.skops`` model is loaded with ``skops.io`` inside the rebuilt environment, after its
own ``get_untrusted_types`` check; a pickle model goes through the pickle scanner.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement

from ...errors import BundleError
from ...pins import ModelSpec, Pin, RecordedEnv, Sample
from ..model_files import loader_for
from ..textfile import read_text
from . import example_input
from .bare import python_hint

NAME = "skops"
CONFIG = "config.json"
MODEL_FORMATS = ("pickle", "skops")
TEXT_TASK_PREFIX = "text-"
_CONDA_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*=\s*([^=<>!~\s][^\s;]*)\s*$")
# skops names the columns of an example taken from a bare array x0, x1, ...
_ARRAY_COLUMN = re.compile(r"^x(\d+)$")
_HINT = "config.json must have an 'sklearn' section as skops' hub_utils writes it"


def _config(bundle: Path) -> Any:
    path = bundle / CONFIG
    try:
        return json.loads(read_text(path))
    except ValueError as exc:
        raise BundleError(f"is not valid JSON ({exc})", path=path) from None


def detect(bundle: Path) -> bool:
    """A folder whose ``config.json`` has an ``sklearn`` section."""
    if not (bundle / CONFIG).is_file():
        return False
    try:
        data = _config(bundle)
    except BundleError:
        return False
    return isinstance(data, dict) and isinstance(data.get("sklearn"), dict)


def _pin(entry: str, where: str, path: Path) -> Pin:
    """``scikit-learn=1.0.2`` (conda style, what skops writes) or a PEP 508 requirement."""
    conda = _CONDA_PIN.match(entry)
    text = f"{conda.group(1)}=={conda.group(2)}" if conda else entry
    try:
        return Pin.parse(text, source=where)
    except InvalidRequirement as exc:
        raise BundleError(
            f"sklearn.environment entry {entry!r} is not a requirement ({exc})", path=path
        ) from None


def _example(data: Any, task: str, order: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not data:
        raise example_input.ExampleError("example_input must be a mapping of columns")
    columns = list(data)
    if isinstance(order, list) and sorted(map(str, order)) == sorted(columns):
        # skops writes example_input with sorted keys; "columns" keeps the training order,
        # which scikit-learn checks at predict time.
        columns = [str(c) for c in order]
        data = {c: data[c] for c in columns}
    values = list(data.values())
    if not all(isinstance(v, list) for v in values):
        raise example_input.ExampleError("each example_input column must be a list")
    if task.startswith(TEXT_TASK_PREFIX) and len(columns) == 1:
        return example_input.array(values[0], one_dimensional=True)
    positions = [_ARRAY_COLUMN.match(c) for c in columns]
    if all(positions) and [int(m.group(1)) for m in positions if m] == list(range(len(columns))):
        # Fitted on a bare array: give it an array, not a frame with made-up names.
        rows = [list(r) for r in zip(*values, strict=True)]
        return example_input.array(rows)
    return example_input.dataframe(columns, values)


def read(bundle: Path, *, model: Path | None = None) -> RecordedEnv:
    """Read a skops / Hugging Face repo."""
    path = bundle / CONFIG
    if not path.is_file():
        raise BundleError("no config.json in this folder", path=bundle, hint=_HINT)
    data = _config(bundle)
    section = data.get("sklearn") if isinstance(data, dict) else None
    if not isinstance(section, dict):
        raise BundleError("has no 'sklearn' section", path=path, hint=_HINT)
    notes: list[str] = []
    model_format = str(section.get("model_format") or "pickle")
    if model_format not in MODEL_FORMATS:
        raise BundleError(
            f"sklearn.model_format is {model_format!r}; expected one of "
            + ", ".join(MODEL_FORMATS),
            path=path,
        )
    if model is None:
        model_data = section.get("model")
        name = model_data.get("file") if isinstance(model_data, dict) else None
        if not isinstance(name, str) or not name:
            raise BundleError("sklearn.model.file is missing", path=path, hint=_HINT)
        try:
            model = (bundle / name).resolve()
        except (OSError, ValueError):  # a NUL byte, a symlink loop
            raise BundleError(
                f"sklearn.model.file is not a file name: {name!r}", path=path
            ) from None
        if bundle.resolve() not in model.parents:
            raise BundleError(f"sklearn.model.file points outside the repo: {name!r}", path=path)
        if not model.is_file():
            raise BundleError(
                f"sklearn.model.file names {name!r}, which does not exist",
                path=path,
                hint="download the model file too (git lfs pull), or pass --model FILE",
            )
    loader = loader_for(model)
    if (loader == "skops") != (model_format == "skops"):
        notes.append(
            f"{CONFIG} says the model format is {model_format}, but {model.name} is "
            f"{'a skops zip' if loader == 'skops' else 'not a skops file'}; loading it as {loader}"
        )
    environment = section.get("environment") or []
    if not isinstance(environment, list):
        raise BundleError("sklearn.environment must be a list", path=path, hint=_HINT)
    pins = [
        _pin(str(e), f"{CONFIG} sklearn.environment[{i}]", path) for i, e in enumerate(environment)
    ]
    if not pins:
        notes.append(f"{CONFIG} records no packages; they are inferred from the model file")
    if loader == "skops" and not any(p.name == "skops" for p in pins):
        pins.append(Pin(name="skops", source=f"{CONFIG} sklearn.model_format"))
        notes.append("skops added: the model is a skops file, loaded with skops.io")
    task = str(section.get("task") or "")
    sample = None
    if section.get("example_input") is not None:
        try:
            document = _example(section["example_input"], task, section.get("columns"))
            sample = Sample(input_path=example_input.write_sample(document, path))
            added = example_input.with_pandas(pins, document, f"{CONFIG} sklearn.example_input")
            if added:
                notes.append(added)
        except (example_input.ExampleError, TypeError, ValueError) as exc:
            notes.append(f"{CONFIG}: example_input not usable ({exc}); the probe generates one")
    return RecordedEnv(
        bundle_dir=bundle,
        format=NAME,
        model=ModelSpec(path=model, loader=loader),
        pins=tuple(pins),
        python=python_hint(bundle),
        sample=sample,
        notes=tuple(notes),
    )
