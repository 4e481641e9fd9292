"""A larger input made from the recorded sample: same columns and dtypes, values drawn
within the recorded ranges, with a fixed seed (so every run compares on the same rows).

Made on the host, once, in plain Python, and read by both environments' probes: the
reference and the candidate predict on the very same file.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import npy

SEED = 0
MIN_ROWS = 1000
ROWS_PER_SAMPLE_ROW = 4
MAX_ROWS = 100_000
# A column with at most this many distinct values is treated as categorical: its values
# are drawn from those seen (a code never seen could make an encoder refuse the input).
MAX_CATEGORIES = 10


def rows_for(sample_rows: int) -> int:
    """How many rows the larger input has."""
    return min(max(MIN_ROWS, ROWS_PER_SAMPLE_ROW * sample_rows), MAX_ROWS)


def _is_nan(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def draw_column(rng: random.Random, values: Sequence[Any], kind: str, rows: int) -> list[Any]:
    """``rows`` values like ``values``: ``kind`` is ``b``, ``i``, ``u``, ``f`` or other."""
    present = [v for v in values if not _is_nan(v)]
    missing = (len(values) - len(present)) / len(values) if values else 0.0
    missing_value = None if kind not in "f" else math.nan
    distinct = sorted(set(present), key=repr)
    numeric = kind in "iuf" and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in present
    )
    finite = [float(v) for v in present if numeric and math.isfinite(float(v))]
    out: list[Any] = []
    for _ in range(rows):
        if (missing and rng.random() < missing) or not distinct:
            out.append(missing_value)
        elif kind == "b" or not numeric or len(distinct) <= MAX_CATEGORIES or not finite:
            out.append(rng.choice(distinct))
        elif kind in "iu":
            out.append(rng.randint(int(min(finite)), int(max(finite))))
        else:
            out.append(rng.uniform(min(finite), max(finite)))
    return out


def _columns_of(rows: list[list[Any]], width: int) -> list[list[Any]]:
    return [[row[j] for row in rows] for j in range(width)]


def _from_npy(sample: Path, target: Path, rng: random.Random) -> Path | None:
    array = npy.read(sample)
    if len(array.shape) not in (1, 2) or not array.shape[0]:
        return None
    rows = rows_for(array.shape[0])
    if len(array.shape) == 1:
        column = draw_column(rng, array.values(), array.kind, rows)
        npy.write(target, array.descr, (rows,), column)
        return target
    width = array.shape[1]
    columns = [
        draw_column(rng, values, array.kind, rows) for values in _columns_of(array.rows(), width)
    ]
    flat = [columns[j][i] for i in range(rows) for j in range(width)]
    npy.write(target, array.descr, (rows, width), flat)
    return target


def _json_kind(dtype: str | None, values: Sequence[Any]) -> str:
    if dtype:
        name = dtype.lower()
        if name.startswith("bool"):
            return "b"
        if name.startswith(("int", "uint")):
            return "i"
        if name.startswith("float"):
            return "f"
        return "O"
    present = [v for v in values if not _is_nan(v)]
    if present and all(isinstance(v, bool) for v in present):
        return "b"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "i"
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "f"
    return "O"


def _from_json(sample: Path, target: Path, rng: random.Random) -> Path | None:
    doc = json.loads(sample.read_text(encoding="utf-8"))
    if doc.get("kind") == "dataframe":
        columns, data = doc["columns"], doc["data"]
        dtypes = doc.get("dtypes") or [None] * len(columns)
        if not data or not data[0]:
            return None
        rows = rows_for(len(data[0]))
        frame = [
            draw_column(rng, values, _json_kind(dtype, values), rows)
            for dtype, values in zip(dtypes, data, strict=False)
        ]
        target.write_text(json.dumps({**doc, "data": frame}), encoding="utf-8")
        return target
    if doc.get("kind") == "array":
        data = doc["data"]
        if not isinstance(data, list) or not data:
            return None
        rows = rows_for(len(data))
        if all(isinstance(r, list) for r in data):
            width = len(data[0])
            columns = [
                draw_column(rng, values, _json_kind(doc.get("dtype"), values), rows)
                for values in _columns_of(data, width)
            ]
            drawn: Any = [[columns[j][i] for j in range(width)] for i in range(rows)]
        else:
            drawn = draw_column(rng, data, _json_kind(doc.get("dtype"), data), rows)
        target.write_text(json.dumps({**doc, "data": drawn}), encoding="utf-8")
        return target
    return None


def make_larger_input(sample: Path, folder: Path) -> Path | None:
    """Write the larger input beside ``folder``; ``None`` when the sample's layout is not
    one this can generate from (more than two dimensions, an empty sample)."""
    rng = random.Random(SEED)
    folder.mkdir(parents=True, exist_ok=True)
    if sample.suffix == ".npy":
        return _from_npy(sample, folder / "larger_input.npy", rng)
    return _from_json(sample, folder / "larger_input.json", rng)
