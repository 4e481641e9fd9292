"""The verdict of ``compare``: the two sides' saved outputs, judged bit for bit.

The predictions decide: identical, differs (how many rows, how large), fails to predict or
fails to load (the line that names the error). Version warnings are carried, not weighed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import ExitCode, RebuildEnvError
from ...numeric_context import NumericContext
from ...plan import Plan
from ...verify.fidelity import NOISE_ULPS
from ...verify.output_diff import OutputDiff, diff_outputs
from ...verify.runner import ProbeResult, error_headline
from .candidate import Change

# verdict -> (exit code, what the user reads)
VERDICTS = {
    "identical": (ExitCode.OK, "identical"),
    "within-noise": (ExitCode.OK, "equal within floating-point noise"),
    "differs": (ExitCode.PREDICTIONS_DIFFER, "differs"),
    "fails-to-predict": (ExitCode.FAILS_TO_PREDICT, "fails to predict"),
    "fails-to-load": (ExitCode.FAILS_TO_LOAD, "fails to load"),
    "timeout": (ExitCode.VERIFY_TIMEOUT, "timed out"),
}


class ReferenceFailed(RebuildEnvError):
    """The recorded environment itself does not load or predict: nothing to compare to."""

    exit_code = ExitCode.MODEL_FAILED


@dataclass(frozen=True)
class OutputRun:
    """One output the probes compute: a method on an input."""

    name: str
    method: str
    input: Path | None
    """``None``: the input the probe generates from the model (same seed in both)."""
    optional: bool = False

    def request(self, folder: Path) -> dict[str, Any]:
        """This run in a probe request, writing its output into ``folder``."""
        return {
            "name": self.name,
            "method": self.method,
            "input": str(self.input) if self.input else None,
            "file": str(folder / f"{self.slug}.npy"),
            "optional": self.optional,
        }

    @property
    def slug(self) -> str:
        """A file name for this run's output."""
        return "".join(c if c.isalnum() else "-" for c in self.name)


@dataclass(frozen=True)
class Side:
    """One environment of the comparison and what its probe found."""

    plan: Plan
    prefix: Path
    reused: bool
    probe: ProbeResult
    outputs: Path
    """The folder holding this side's saved outputs."""
    saved_at: str = ""
    """When those outputs were computed, if reused from an earlier compare (its probe's)."""

    def versions(self, names: Sequence[str]) -> dict[str, str]:
        """Planned versions of ``names`` (those the plan has)."""
        return {n: p.version for n in names if (p := self.plan.package(n)) is not None}


@dataclass(frozen=True)
class Verdict:
    """How a candidate compares with the reference."""

    status: str
    """``identical``, ``differs``, ``fails-to-predict``, ``fails-to-load`` or ``timeout``."""
    label: str
    """The candidate in a few words: ``scikit-learn==1.0.2``."""
    diffs: tuple[OutputDiff, ...] = ()
    error: str = ""
    """The error's last line (``No module named 'sklearn.ensemble._gb_losses'``)."""
    failed_output: str = ""
    version_warnings: tuple[str, ...] = ()
    changes: tuple[Change, ...] = ()
    python: str = ""
    prefix: Path | None = None
    reused_env: bool = False
    versions: dict[str, str] = field(default_factory=dict)
    kernels: str = ""
    """The BLAS each side computed with (``OpenBLAS 0.3.31 SkylakeX, 2 threads``), and
    whether they differ."""

    @property
    def exit_code(self) -> ExitCode:
        """The verdict's documented exit code (identical is 0)."""
        return VERDICTS[self.status][0]

    def summary(self) -> str:
        """``differs: 12/1000 rows of predict_proba on the larger input, max abs diff ...``."""
        text = VERDICTS[self.status][1]
        if self.status in ("fails-to-load", "fails-to-predict", "timeout"):
            where = f" ({self.failed_output})" if self.failed_output else ""
            return f"{text}{where}: {self.error}"
        if self.status == "differs":
            changed = [d for d in self.diffs if not d.identical]
            # a real difference first; with --exact, noise may be all there is
            first = next((d for d in changed if not d.within_noise), changed[0])
            return f"{text}: {first.name}: {first.text()}"
        if self.status == "within-noise":
            worst = max((d.max_ulp or 0.0) for d in self.diffs)
            return (
                f"{text} (max {worst:.3g} ULP, labels identical; the arithmetic differs, not "
                f"the model): {self.kernels}"
            )
        rows = sum(d.rows for d in self.diffs)
        outputs = f"{len(self.diffs)} output" + ("" if len(self.diffs) == 1 else "s")
        return f"{text} ({outputs}, {rows} rows)"

    def to_json(self) -> dict[str, Any]:
        """The verdict as JSON."""
        return {
            "status": self.status,
            "exit_code": int(self.exit_code),
            "candidate": self.label,
            "summary": self.summary(),
            "python": self.python,
            "versions": self.versions,
            "changes": [
                {"name": c.name, "before": c.before, "after": c.after, "reason": c.reason}
                for c in self.changes
            ],
            "outputs": [d.to_json() for d in self.diffs],
            "error": self.error or None,
            "failed_output": self.failed_output or None,
            "version_warnings": list(self.version_warnings),
            "prefix": str(self.prefix) if self.prefix else None,
            "reused_env": self.reused_env,
            "kernels": self.kernels or None,
        }


def _output_error(entry: dict[str, Any]) -> str:
    error = entry.get("error") or {}
    return error_headline(str(error.get("type", "error")), str(error.get("message", "")))


def check_reference(reference: Side) -> None:
    """Raise when the recorded environment cannot serve as the reference."""
    probe = reference.probe
    if probe.error is not None and probe.error.stage in ("load", "probe"):
        raise ReferenceFailed(
            f"the model does not load in its recorded environment ({probe.error.headline}); "
            "there is nothing to compare a candidate with",
            path=reference.plan.recorded.model.path,
            hint="run rebuild-env on the bundle to see why",
        )
    if probe.timed_out:
        raise ReferenceFailed(
            "the probe timed out in the recorded environment",
            path=reference.plan.recorded.model.path,
            hint="raise --timeout",
        )
    if not any(o.get("status") == "ok" for o in probe.outputs):
        first = next((o for o in probe.outputs if o.get("status") == "error"), None)
        why = _output_error(first) if first else "no output could be computed"
        raise ReferenceFailed(
            f"the model does not predict in its recorded environment ({why})",
            path=reference.plan.recorded.model.path,
            hint="record a sample input with the bundle (rebuild-env save --sample-input)",
        )


def _blas(probe: ProbeResult) -> str:
    context = NumericContext.from_json(probe.numeric_context)
    lib = context.blas if context is not None else None
    return lib.describe() if lib is not None else "an unknown BLAS"


def kernels_line(reference: ProbeResult, candidate: ProbeResult) -> str:
    """Which BLAS each side computed with, said plainly when they differ."""
    ref, cand = _blas(reference), _blas(candidate)
    if ref == cand:
        return f"both computed with {ref}"
    return f"the BLAS changed: reference {ref}, candidate {cand}"


def judge(
    reference: Side, candidate: Side, runs: Sequence[OutputRun], changes: tuple[Change, ...],
    label: str, *, exact: bool = False,
) -> Verdict:  # fmt: skip
    """The candidate's verdict, from the two probes' saved outputs (``exact``: noise is a
    difference too)."""
    probe = candidate.probe
    base: dict[str, Any] = {
        "label": label,
        "changes": changes,
        "version_warnings": probe.version_warnings,
        "python": candidate.plan.python_version,
        "prefix": candidate.prefix,
        "reused_env": candidate.reused,
        "versions": candidate.versions([c.name for c in changes] or ["scikit-learn"]),
    }
    if probe.timed_out:
        return Verdict("timeout", error=probe.error.headline if probe.error else "", **base)
    if probe.error is not None and probe.error.stage in ("load", "probe"):
        return Verdict("fails-to-load", error=probe.error.headline, **base)
    mine_by_name = {str(o.get("name")): o for o in probe.outputs}
    ref_by_name = {str(o.get("name")): o for o in reference.probe.outputs}
    missing = {"status": "error", "error": {"message": "not computed"}}
    diffs = []
    for run in runs:
        if ref_by_name.get(run.name, missing).get("status") != "ok":
            continue  # the reference cannot compute it either (no predict_proba...)
        mine = mine_by_name.get(run.name, missing)
        if mine.get("status") == "absent":
            return Verdict(
                "fails-to-predict",
                error=f"the model has no {run.method} any more",
                failed_output=run.name,
                **base,
            )
        if mine.get("status") != "ok":
            return Verdict(
                "fails-to-predict", error=_output_error(mine), failed_output=run.name, **base
            )
        name = f"{run.slug}.npy"
        diffs.append(
            diff_outputs(
                run.name,
                reference.outputs / name,
                candidate.outputs / name,
                method=run.method,
                noise_ulps=NOISE_ULPS,
            )
        )
    status = "identical" if all(d.identical for d in diffs) else "differs"
    if status == "differs" and not exact and all(d.identical or d.within_noise for d in diffs):
        status = "within-noise"
    kernels = kernels_line(reference.probe, probe)
    return Verdict(status, diffs=tuple(diffs), kernels=kernels, **base)
