"""Turning other tools' input examples into the probe's sample JSON.

MLflow (``input_example.json``, ``serving_input_example.json``) and skops
(``sklearn.example_input``) each write an example input in their own shape. The probe reads
one shape (see README, "sample input"): ``{"kind": "dataframe", "columns", "dtypes", "data"}``
with one list per column, or ``{"kind": "array", "dtype", "data"}``. The converted file goes
to rebuild-env's cache, keyed by the source file's sha256: the user's bundle is never written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...locations import cache_dir
from ...pins import Pin

SAMPLES_SUBDIR = "samples"
MAX_EXAMPLE_ROWS = 10_000
CONVERTED_HASH_CHARS = 12

# MLflow signature column types -> the numpy/pandas dtype the model saw.
MLFLOW_COLUMN_DTYPES = {
    "long": "int64",
    "integer": "int32",
    "double": "float64",
    "float": "float32",
    "boolean": "bool",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}


class ExampleError(ValueError):
    """The example does not have a shape the probe can use (the reader turns it into a note)."""


def _infer_dtype(values: Sequence[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int64"
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "float64"
    if not present and values:
        return "float64"
    return "object"


def dataframe(
    columns: Sequence[str],
    column_values: Sequence[Sequence[Any]],
    dtypes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The probe's dataframe document from column names and one list of values per column."""
    if len(columns) != len(column_values):
        raise ExampleError(f"{len(columns)} column names for {len(column_values)} columns")
    lengths = {len(values) for values in column_values}
    if len(lengths) > 1:
        raise ExampleError("columns have different lengths")
    if lengths and next(iter(lengths)) > MAX_EXAMPLE_ROWS:
        raise ExampleError(f"more than {MAX_EXAMPLE_ROWS} rows")
    known = dtypes or {}
    return {
        "kind": "dataframe",
        "columns": [str(c) for c in columns],
        "dtypes": [
            known.get(str(c)) or _infer_dtype(values)
            for c, values in zip(columns, column_values, strict=True)
        ],
        "data": [list(values) for values in column_values],
    }


def dataframe_from_rows(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], dtypes: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Row-oriented data (pandas ``split`` orient) as the probe's column-oriented document."""
    if not all(isinstance(r, list) and len(r) == len(columns) for r in rows):
        raise ExampleError("rows do not all have one value per column")
    return dataframe(columns, [[row[i] for row in rows] for i in range(len(columns))], dtypes)


def dataframe_from_records(
    records: Sequence[Mapping[str, Any]], dtypes: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """pandas ``records`` orient (a list of ``{column: value}``) as the probe's document."""
    if not records or not all(isinstance(r, dict) for r in records):
        raise ExampleError("records must be a non-empty list of objects")
    columns = list(records[0])
    return dataframe(columns, [[r.get(c) for r in records] for c in columns], dtypes)


def array(data: Any, dtype: str | None = None, *, one_dimensional: bool = False) -> dict[str, Any]:
    """A (nested) list as the probe's array document.

    A flat list is one row of features, unless ``one_dimensional`` (a list of documents for
    a text model, whose ``predict`` takes one string per sample).
    """
    if not isinstance(data, list) or not data:
        raise ExampleError("an array example must be a non-empty list")
    if one_dimensional:
        if len(data) > MAX_EXAMPLE_ROWS:
            raise ExampleError(f"more than {MAX_EXAMPLE_ROWS} rows")
        return {"kind": "array", "dtype": dtype or _infer_dtype(data), "data": list(data)}
    rows = data if all(isinstance(r, list) for r in data) else [data]
    if len(rows) > MAX_EXAMPLE_ROWS:
        raise ExampleError(f"more than {MAX_EXAMPLE_ROWS} rows")
    flat = [v for r in rows for v in (r if isinstance(r, list) else [r])]
    return {"kind": "array", "dtype": dtype or _infer_dtype(flat), "data": rows}


def with_pandas(pins: list[Pin], document: Mapping[str, Any], source: str) -> str | None:
    """Add an unpinned pandas when a table sample needs it; return the note saying so.

    The probe builds a DataFrame for a table sample, and a model fitted on one was
    trained with pandas installed, even when the author's list forgot it.
    """
    if document.get("kind") != "dataframe" or any(p.name == "pandas" for p in pins):
        return None
    pins.append(Pin(name="pandas", source=source))
    return f"pandas added: the example input ({source}) is a table"


def write_sample(document: Mapping[str, Any], source: Path) -> Path:
    """Write the converted sample to the cache, named by the source file's sha256.

    The name also carries a short hash of the converted document, because the same example
    file converts differently under another signature (column dtypes).
    """
    text = json.dumps(document, sort_keys=True)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    converted = hashlib.sha256(text.encode()).hexdigest()[:CONVERTED_HASH_CHARS]
    target_dir = cache_dir() / SAMPLES_SUBDIR
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{digest}-{converted}.json"
    tmp = target_dir / f".{target.name}.{os.getpid()}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)  # atomic: a concurrent reader sees the old or the new file, never half
    return target
