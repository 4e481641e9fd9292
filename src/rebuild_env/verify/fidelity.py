"""Fidelity across machines: floating-point noise told apart from a wrong environment.

Outputs recorded on another CPU were computed by another BLAS kernel, which rounds
differently in the last bits. A verification therefore (1) pins the recorded kernel when
this CPU can run it (``numeric_context.pin_for``), so the outputs come out bit for bit;
(2) judges a remaining difference by its size in ULPs (the probe's ``compare``): within
``NOISE_ULPS`` with the labels unchanged is noise from the arithmetic, not the environment;
(3) with ``--explain``, when nothing was recorded, runs the probe under each kernel this CPU
can run and names the one that reproduces the recorded outputs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..numeric_context import (
    CORETYPE_VAR,
    Cpu,
    KernelPin,
    NumericContext,
    explain_kernels,
    natural_kernel,
)
from .runner import ProbeResult

NOISE_ULPS = 64
"""Largest difference, in ULPs of the output column's largest magnitude, that counts as
noise. Kernels measured here differ by 1-7 ULPs for linear models, MLPs, PCA and LDA, and
by up to 40 for SVC's probabilities (Platt scaling amplifies); a changed library moves
outputs by 1e-9 and more, about 10^7 ULPs."""
NOT_IDENTICAL = ("within-noise", "within-tolerance", "differs")


def request_options(*, exact: bool, always_context: bool = False) -> dict[str, Any]:
    """What the probe request carries for judging fidelity."""
    return {
        "exact": exact,
        "noise_ulps": NOISE_ULPS,
        "numeric_context": "always" if always_context else "if-different",
    }


@dataclass(frozen=True)
class KernelTrial:
    """One ``--explain`` run: the kernel, and how its outputs compared."""

    kernel: str
    level: str
    max_ulp: float | None

    def to_json(self) -> dict[str, Any]:
        """As in the ``--json`` report."""
        return {"kernel": self.kernel, "level": self.level, "max_ulp": self.max_ulp}


@dataclass(frozen=True)
class Fidelity:
    """What the verification did about the numeric context, and what it found."""

    recorded: str = ""
    """The recorded kernel (``OpenBLAS Sandybridge``); empty when the bundle records none."""
    here: str = ""
    """The kernel the probe computed with (from its own report), or this CPU's own."""
    pin: KernelPin | None = None
    """The variables the probe ran with to reproduce the recorded kernel."""
    note: str = ""
    """Why the recorded kernel was not pinned (this CPU cannot run it...)."""
    explained_by: str = ""
    """``--explain``: the kernel that reproduced the outputs bit for bit (empty: none)."""
    trials: tuple[KernelTrial, ...] = ()
    explain_seconds: float = 0.0
    unpinned: dict[str, Any] | None = None
    """The comparison of the first run, when ``--explain`` replaced it by a kernel's."""

    @property
    def pinned_kernel(self) -> bool:
        """Whether the probe ran under another kernel than this CPU's own."""
        return self.pin is not None and self.pin.kernel != self.pin.here

    def headline_suffix(self, level: str) -> str:
        """``, bit-identical under the recorded Sandybridge kernel`` and the like."""
        if level == "identical" and self.explained_by:
            return (
                f", bit-identical under the {self.explained_by} kernel (found by --explain: "
                f"the recorded outputs were computed with it)"
            )
        if level == "identical" and self.pinned_kernel and self.pin is not None:
            return (
                f", bit-identical under the recorded {self.pin.kernel.split()[-1]} kernel "
                f"({self.pin.assignments()})"
            )
        return ""

    def lines(self, level: str) -> list[str]:
        """The report's ``numeric`` lines: which kernels, and why a difference is noise."""
        out = []
        if level == "within-noise":
            recorded = self.recorded or "a kernel the bundle does not record"
            out.append(
                "the difference comes from the arithmetic, not the environment: recorded "
                f"with {recorded}, computed here with {self.here or 'this machine BLAS'}"
            )
        if self.pin is not None and self.pinned_kernel:
            out.append(
                f"pinned the recorded {self.pin.kernel} (this CPU's own: {self.pin.here}): "
                f"{self.pin.assignments()}"
            )
        if self.note:
            out.append(self.note)
        if self.trials and self.explained_by:
            out.append(
                f"--explain: the recorded outputs were computed with the {self.explained_by} "
                f"kernel ({len(self.trials)} probe run(s), {self.explain_seconds:.1f} s)"
            )
        elif self.trials:
            tried = ", ".join(t.kernel.split()[-1] for t in self.trials)
            out.append(
                f"--explain: no kernel this CPU can run reproduces the recorded outputs "
                f"(tried {tried}; {self.explain_seconds:.1f} s): the difference is not the "
                "kernel's"
            )
        return out

    def to_json(self) -> dict[str, Any]:
        """The ``verification.numeric`` object of ``--json``."""
        return {
            "recorded_kernel": self.recorded or None,
            "kernel": self.here or None,
            "pin": None
            if self.pin is None
            else {"kernel": self.pin.kernel, "env": dict(self.pin.env), "here": self.pin.here},
            "note": self.note or None,
            "explain": None
            if not self.trials
            else {
                "explained_by": self.explained_by or None,
                "trials": [t.to_json() for t in self.trials],
                "seconds": round(self.explain_seconds, 3),
                "unpinned_comparison": self.unpinned,
            },
        }


def kernel_of(context: Mapping[str, Any] | None) -> str:
    """``OpenBLAS SkylakeX`` from a probe's numeric context (empty when unknown)."""
    parsed = NumericContext.from_json(context)
    return parsed.kernel() if parsed is not None else ""


def explain(
    run: Callable[[dict[str, str]], ProbeResult],
    cpu: Cpu,
    first: ProbeResult,
    *,
    pinned: str = "",
) -> tuple[ProbeResult | None, tuple[KernelTrial, ...], float]:
    """Run the probe under each kernel this CPU can run until one gives the recorded outputs
    bit for bit: (that run's result or ``None``, every trial, seconds spent).

    ``first``: the run already made (its kernel is not tried again); ``pinned``: a kernel
    pinned for it."""
    started = time.perf_counter()
    done = kernel_of(first.numeric_context).split()[-1:] or [natural_kernel(cpu)]
    trials = []
    for kernel in explain_kernels(cpu, tried=[*done, pinned]):
        result = run({CORETYPE_VAR: kernel})
        worst = (result.comparison or {}).get("max_ulp")
        trials.append(KernelTrial(f"OpenBLAS {kernel}", result.level, worst))
        if result.level == "identical":
            return result, tuple(trials), time.perf_counter() - started
    return None, tuple(trials), time.perf_counter() - started
