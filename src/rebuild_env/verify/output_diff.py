"""Two saved outputs of the same method on the same input, compared bit for bit."""

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
        return text


def _same(a: npy.Value, b: npy.Value) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def diff_outputs(name: str, reference: Path, candidate: Path) -> OutputDiff:
    """Compare two ``.npy`` outputs: identical means same dtype, shape and bytes."""
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
    return OutputDiff(
        identical=False,
        differing_rows=differing,
        max_abs_diff=max_abs,
        max_rel_diff=max_rel,
        **base,  # type: ignore[arg-type]
    )
