"""``rebuild-env compare``: does the model predict the same after an upgrade?

The recorded environment (the reference) and a candidate (the recorded pins with the
named upgrades) are built through the cache; the probe runs in both at the same time,
saving each output it computes (the recorded method, and ``predict_proba`` when the
model has it) on the recorded sample and on a larger input drawn from it; the host then
compares the saved outputs bit for bit. The predictions decide the verdict; version
warnings are listed but decide nothing.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ... import index
from ...backends.base import env_python, in_use
from ...errors import ResolveError
from ...options import Options, Progress, quiet
from ...plan import Plan
from ...rebuild import (
    Scanned,
    backend_for,
    default_out,
    ensure_env,
    plan_bundle,
    remember_warm_probe,
    start_warm_probe,
)
from ...verify.larger_input import MIN_ROWS, make_larger_input
from ...verify.runner import ProbeResult, WarmProbe, request_for, run_probe
from ...verify.saved_outputs import outputs_key, save_outputs, saved_outputs
from .candidate import Upgrade, candidate_plan, check_upgrades
from .verdict import OutputRun, ReferenceFailed, Side, Verdict, check_reference, judge

PROBA = "predict_proba"
REFERENCE_KEY = "compare reference"


def output_runs(plan: Plan, work: Path) -> tuple[OutputRun, ...]:
    """What both probes compute: the recorded method (+ predict_proba) on each input."""
    method = plan.recorded.model.method
    sample = plan.recorded.sample
    inputs: list[tuple[str, Path | None]] = []
    if sample is not None:
        inputs.append(("the recorded sample", sample.input_path.absolute()))
        larger = make_larger_input(sample.input_path, work / "inputs")
        if larger is not None:
            inputs.append(("the larger input", larger.absolute()))
    else:
        inputs.append(("a generated input", None))
    runs = []
    for label, path in inputs:
        runs.append(OutputRun(f"{method} on {label}", method, path))
        if method != PROBA:
            runs.append(OutputRun(f"{PROBA} on {label}", PROBA, path, optional=True))
    return tuple(runs)


def _request(
    plan: Plan, scanned: Scanned, runs: Sequence[OutputRun], folder: Path
) -> dict[str, Any]:
    """The probe request computing ``runs`` into ``folder``."""
    request = request_for(
        plan.recorded,
        allowed_globals=scanned.allowed_globals,
        tolerance=None,
        local_code=scanned.local_code,
    )
    request["outputs"] = [r.request(folder) for r in runs]
    request["generated_rows"] = MIN_ROWS  # no recorded sample: as many rows as a larger input
    request["numeric_context"] = "always"  # which BLAS each side computed with
    return request


class _Done:
    """A reference probe that did not need to run: its outputs were kept in the env."""

    def __init__(self, probe: ProbeResult) -> None:
        self._probe = probe

    def result(self) -> ProbeResult:
        return self._probe


def _probe_in(
    plan: Plan,
    scanned: Scanned,
    prefix: Path,
    runs: Sequence[OutputRun],
    folder: Path,
    *,
    timeout: float,
    warm: WarmProbe | None,
    sandbox: bool,
) -> ProbeResult:
    folder.mkdir(parents=True, exist_ok=True)
    request = _request(plan, scanned, runs, folder)
    with in_use(prefix):  # `cache prune` / `clear` skip the env while it is probed
        return run_probe(env_python(prefix), request, timeout=timeout, warm=warm, sandbox=sandbox)


class _Background:
    """A probe run in a daemon thread (the two environments' probes overlap)."""

    def __init__(self, work: Callable[[], ProbeResult]) -> None:
        self._result: ProbeResult | None = None
        self._error: BaseException | None = None

        def target() -> None:
            try:
                self._result = work()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                self._error = exc

        self._thread = threading.Thread(target=target, name="rebuild-env-probe", daemon=True)
        self._thread.start()

    def result(self) -> ProbeResult:
        """Wait for the probe (Ctrl-C still reaches the main thread while waiting)."""
        while self._thread.is_alive():
            self._thread.join(0.05)
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


@dataclass(frozen=True)
class CompareOptions:
    """What ``compare`` is asked (the CLI's flags)."""

    upgrades: tuple[Upgrade, ...]
    python: str | None = None
    newest_identical: bool = False
    rebuild: Options = field(default_factory=Options)


class Session:
    """One comparison: the reference built and probed once, then any number of candidates."""

    def __init__(
        self, bundle: Path | str, options: CompareOptions, progress: Progress = quiet
    ) -> None:
        self.options = options
        self.progress = progress
        self.started = time.perf_counter()
        self.bundle = bundle
        # The probes of the envs this comparison used last time start now: their imports
        # overlap reading, scanning, planning and the candidate's resolution.
        # The reference's is started only when its probe ran last time: a reference whose
        # env kept its outputs usually needs none (remember_warm_probe, probe_ran).
        self._warm: dict[str, WarmProbe | None] = {
            key: start_warm_probe(bundle, options.rebuild, key=key, always=key != REFERENCE_KEY)
            for key in (REFERENCE_KEY, *([] if options.newest_identical else [self._key()]))
        }
        self.work = Path(tempfile.mkdtemp(prefix="rebuild-env-compare-"))
        try:
            self.backend = backend_for(options.rebuild)
            self.plan, self.scanned = self._reference_plan(bundle, options, progress)
            self.out = options.rebuild.out or default_out(self.plan)
            names = {p.name for p in self.plan.packages} | {u.name for u in options.upgrades}
            self.files = index.release_files(sorted(names), url=self.plan.index.index_url)
            check_upgrades(self.plan, options.upgrades, self.files)
            self.runs = output_runs(self.plan, self.work)
            progress("build reference", "start")
            self._ref_built = ensure_env(
                self.plan, self.scanned, out=self.out, options=options.rebuild, backend=self.backend
            )
            progress("build reference", "done")
            self._reference: Side | None = None
            self._ref_outputs, self._ref_saved_at, self._ref = self._start_reference()
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _reference_plan(
        bundle: Path | str, options: CompareOptions, progress: Progress
    ) -> tuple[Plan, Scanned]:
        """The recorded environment's plan; on ``--python`` when the recorded Python cannot
        have it (no interpreter, no wheels), said in the plan's warnings."""
        try:
            return plan_bundle(bundle, options.rebuild, progress)
        except ResolveError as exc:
            if not options.python:
                raise
            plan, scanned = plan_bundle(
                bundle, replace(options.rebuild, python=options.python), progress
            )
            why = f"the recorded Python cannot be used here ({exc.message})"
            warning = f"the reference is built on --python {options.python} too: {why}"
            return replace(plan, warnings=(*plan.warnings, warning)), scanned

    def _key(self) -> str:
        """Names the candidate env of this command line, for its warm probe next time."""
        asked = sorted(f"{u.name}{u.specifier}" for u in self.options.upgrades)
        return f"compare {' '.join(asked)} --python {self.options.python or ''}"

    def _start_reference(self) -> tuple[Path, str, _Background | _Done]:
        """Where the reference's outputs are, when they were saved (``""``: now), and its
        probe: done already when its env kept this model's outputs, else started now."""
        built = self._ref_built
        outputs = self.work / "reference"
        key = outputs_key(_request(self.plan, self.scanned, self.runs, outputs))
        saved = None if self.options.rebuild.reverify else saved_outputs(built.prefix, key)
        if saved is not None:
            probe, kept, saved_at = saved
            warm = self._warm.pop(REFERENCE_KEY, None)
            if warm is not None:
                warm.discard()
            return kept, saved_at, _Done(probe)
        return outputs, "", _Background(lambda: self._probe_reference(built.prefix, key, outputs))

    def _probe_reference(self, prefix: Path, key: str, outputs: Path) -> ProbeResult:
        """Probe the reference; keep its outputs in its env when they can serve again."""
        probe = _probe_in(
            self.plan,
            self.scanned,
            prefix,
            self.runs,
            outputs,
            timeout=self.options.rebuild.timeout,
            warm=self._warm.pop(REFERENCE_KEY, None),
            sandbox=self.options.rebuild.sandbox,
        )
        try:  # kept only when it can serve as the reference (the one check of that)
            check_reference(Side(self.plan, prefix, False, probe, outputs))
            keep = True
        except ReferenceFailed:
            keep = False
        if keep:
            save_outputs(prefix, key, probe, outputs)
        # next time, warm-start the reference probe only if it will have to run again
        remember_warm_probe(self.plan, prefix, self.scanned, probe_ran=not keep, key=REFERENCE_KEY)
        return probe

    def reference(self) -> Side:
        """The reference side (waits for its probe; raises when it cannot serve)."""
        if self._reference is None:
            self._reference = Side(
                plan=self.plan,
                prefix=self._ref_built.prefix,
                reused=self._ref_built.reused,
                probe=self._ref.result(),
                outputs=self._ref_outputs,
                saved_at=self._ref_saved_at,
            )
            check_reference(self._reference)
        return self._reference

    def check(self, upgrades: Sequence[Upgrade]) -> Verdict:
        """Build the candidate with ``upgrades`` (through the cache), probe it, judge it."""
        label = " ".join(f"{u.name}{u.specifier}" for u in upgrades)
        self.progress(f"candidate {label}", "start")
        plan, changes = candidate_plan(
            self.plan, upgrades, python=self.options.python, files=self.files
        )
        slug = "-".join(f"{u.name}-{u.version or 'any'}" for u in upgrades)
        built = ensure_env(
            plan,
            self.scanned,
            out=self.out / f"candidate-{slug}",
            options=self.options.rebuild,
            backend=self.backend,
        )
        folder = self.work / f"candidate-{slug}"
        key = "" if self.options.newest_identical else self._key()
        probe = self._probe_and_remember(plan, built.prefix, folder, key)
        side = Side(plan, built.prefix, built.reused, probe, folder)
        verdict = judge(
            self.reference(), side, self.runs, changes, label, exact=self.options.rebuild.exact
        )
        self.progress(f"candidate {label}", "done")
        return verdict

    def _probe_and_remember(self, plan: Plan, prefix: Path, folder: Path, key: str) -> ProbeResult:
        probe = _probe_in(
            plan,
            self.scanned,
            prefix,
            self.runs,
            folder,
            timeout=self.options.rebuild.timeout,
            warm=self._warm.pop(key, None),
            sandbox=self.options.rebuild.sandbox,
        )
        if key:
            remember_warm_probe(plan, prefix, self.scanned, probe_ran=True, key=key)
        return probe

    def seconds(self) -> float:
        """Time since the session started."""
        return time.perf_counter() - self.started

    def close(self) -> None:
        """Stop unused warm probes; remove the work folder (saved outputs, inputs)."""
        import shutil

        for warm in self._warm.values():
            if warm is not None:
                warm.discard()
        shutil.rmtree(self.work, ignore_errors=True)
