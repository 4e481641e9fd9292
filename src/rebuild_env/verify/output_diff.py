"""Two saved outputs of the same method on the same input: bit for bit, or how far apart.

Floats that differ are measured in ULPs of their column's largest magnitude (as the probe's
``compare`` does, in pure Python here: the host has no numpy), so that the verdict can tell
floating-point noise (another BLAS kernel) from a changed result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import npy


@dataclass(frozen=True)
class OutputDiff:
    """How a candidate's output compares with the reference's."""

    name: str
    """``predict on the recorded sample``, ``predict_proba on the larger input``, ..."""
    identical: bool
    rows: int
    differing_rows: int
    shape: tuple[int, ...]
    reference_shape: tuple[int, ...]
    dtype: str
    reference_dtype: str
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    max_ulp: float | None = None
    """Largest difference in ULPs of its column's largest magnitude (``None``: not floats,
    another dtype or shape, or a value that is not finite on one side only)."""
    labels_identical: bool | None = None
    """Argmax of scores / sign of a decision function unchanged (``None``: not floats)."""
    within_noise: bool = False
    """Every difference within ``noise_ulps`` ULPs, same dtype and shape, labels unchanged."""

    def to_json(self) -> dict[str, Any]:
        """The diff as JSON."""
        return {
            "output": self.name,
            "identical": self.identical,
            "rows": self.rows,
            "differing_rows": self.differing_rows,
            "shape": list(self.shape),
            "reference_shape": list(self.reference_shape),
            "dtype": self.dtype,
            "reference_dtype": self.reference_dtype,
            "max_abs_diff": self.max_abs_diff,
            "max_rel_diff": self.max_rel_diff,
            "max_ulp": self.max_ulp,
            "labels_identical": self.labels_identical,
            "within_noise": self.within_noise,
        }

    def text(self) -> str:
        """``12/1000 rows differ, max abs diff 0.031, max rel diff 0.2``."""
        if self.identical:
            return f"identical ({self.rows} rows)"
        if self.shape != self.reference_shape:
            return f"shape {self.shape}, reference {self.reference_shape}"
        text = f"{self.differing_rows}/{self.rows} rows differ"
        if self.dtype != self.reference_dtype:
            text += f", dtype {self.dtype} (reference {self.reference_dtype})"
        if self.max_abs_diff is not None:
            text += f", max abs diff {self.max_abs_diff:.3g}, max rel diff {self.max_rel_diff:.3g}"
        if self.max_ulp is not None:
            text += f", max {self.max_ulp:.3g} ULP"
        if self.labels_identical is False:
            text += ", predicted labels change"
        return text


def _same(a: npy.Value, b: npy.Value) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


# bits of precision and smallest subnormal exponent per float size (IEEE 754)
_FLOAT_BITS = {2: (11, -24), 4: (24, -149), 8: (53, -1074)}
SCORE_METHODS = ("predict_proba", "predict_log_proba", "decision_function")
"""Outputs whose argmax (2-D) or sign (1-D ``decision_function``) is the predicted label."""


def _spacing(value: float, itemsize: int) -> float:
    """The ULP of ``value`` in a float of ``itemsize`` bytes (numpy's ``spacing``)."""
    bits, tiny = _FLOAT_BITS[itemsize]
    if value == 0:
        return 2.0**tiny
    exponent = math.frexp(value)[1]
    return max(2.0 ** (exponent - bits), 2.0**tiny)


def _columns(array: npy.NpyArray) -> list[list[float]]:
    rows = array.rows()
    return [[float(row[i]) for row in rows] for i in range(len(rows[0]) if rows else 0)]


def max_ulp(reference: npy.NpyArray, candidate: npy.NpyArray) -> float:
    """The largest difference in ULPs of its column's largest magnitude (``inf``: a value
    finite on one side only). Both: same float dtype and shape."""
    worst = 0.0
    for ref, cand in zip(_columns(reference), _columns(candidate), strict=True):
        finite = [abs(v) for v in (*ref, *cand) if math.isfinite(v)]
        ulp = _spacing(max(finite, default=0.0), reference.itemsize)
        for a, b in zip(ref, cand, strict=True):
            if a == b or (math.isnan(a) and math.isnan(b)):
                continue
            if not (math.isfinite(a) and math.isfinite(b)):
                return math.inf
            worst = max(worst, abs(a - b) / ulp)
    return worst


def _sign(value: npy.Value) -> int:
    number = float(value)
    return (number > 0) - (number < 0)


def _argmax(row: list[npy.Value]) -> int:
    values = [float(v) for v in row]
    return values.index(max(values))


def labels_identical(reference: npy.NpyArray, candidate: npy.NpyArray, method: str) -> bool:
    """The labels the outputs decide are the same: argmax of a score row, decision's sign."""
    if method not in SCORE_METHODS:
        return True
    if len(reference.shape) == 2 and reference.shape[1] > 1:
        return all(
            _argmax(a) == _argmax(b)
            for a, b in zip(reference.rows(), candidate.rows(), strict=True)
        )
    if len(reference.shape) == 1 and method == "decision_function":
        return all(
            _sign(a) == _sign(b)
            for a, b in zip(reference.values(), candidate.values(), strict=True)
        )
    return True


def diff_outputs(
    name: str, reference: Path, candidate: Path, *, method: str = "", noise_ulps: float = 0.0
) -> OutputDiff:
    """Compare two ``.npy`` outputs: identical means same dtype, shape and bytes; within
    noise, every float within ``noise_ulps`` ULPs and the labels unchanged."""
    ref, cand = npy.read(reference), npy.read(candidate)
    rows = ref.shape[0] if ref.shape else 1
    base = {
        "name": name,
        "rows": rows,
        "shape": cand.shape,
        "reference_shape": ref.shape,
        "dtype": cand.descr,
        "reference_dtype": ref.descr,
    }
    if ref.descr == cand.descr and ref.shape == cand.shape and ref.data == cand.data:
        return OutputDiff(identical=True, differing_rows=0, **base)  # type: ignore[arg-type]
    if ref.shape != cand.shape:
        return OutputDiff(identical=False, differing_rows=rows, **base)  # type: ignore[arg-type]
    differing = 0
    max_abs: float | None = None
    max_rel: float | None = None
    numeric = ref.numeric and cand.numeric
    for ref_row, cand_row in zip(ref.rows(), cand.rows(), strict=True):
        if not all(_same(a, b) for a, b in zip(ref_row, cand_row, strict=True)):
            differing += 1
        if not numeric:
            continue
        for a, b in zip(ref_row, cand_row, strict=True):
            fa, fb = float(a), float(b)  # type: ignore[arg-type,unused-ignore]
            if math.isnan(fa) and math.isnan(fb):
                continue
            diff = abs(fb - fa)
            # relative to the larger of the two: 0 -> 6e-08 is a change of 100%, not 1e300
            scale = max(abs(fa), abs(fb))
            rel = (diff / scale if scale else 0.0) if not math.isnan(diff) else math.inf
            diff = math.inf if math.isnan(diff) else diff
            max_abs = diff if max_abs is None else max(max_abs, diff)
            max_rel = rel if max_rel is None else max(max_rel, rel)
    if differing == 0 and ref.descr == cand.descr:
        # equal values with other bytes: -0.0 vs 0.0, or NaNs with other payloads
        differing = sum(
            1
            for a, b in zip(ref.rows(), cand.rows(), strict=True)
            if npy.encode(ref.descr, a) != npy.encode(ref.descr, b)
        )
    worst: float | None = None
    labels: bool | None = None
    if ref.descr == cand.descr and ref.kind == "f" and ref.size:
        worst = max_ulp(ref, cand)
        labels = labels_identical(ref, cand, method)
    return OutputDiff(
        identical=False,
        differing_rows=differing,
        max_abs_diff=max_abs,
        max_rel_diff=max_rel,
        max_ulp=worst if worst is not None and math.isfinite(worst) else None,
        labels_identical=labels,
        within_noise=worst is not None and worst <= noise_ulps and bool(labels),
        **base,  # type: ignore[arg-type]
    )
