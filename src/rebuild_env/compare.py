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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import index
from .backends.base import env_python
from .candidate import Change, Upgrade, candidate_plan, check_upgrades
from .errors import ExitCode, RebuildEnvError
from .plan import Plan
from .rebuild import (
    DEFAULT_OUT,
    Options,
    Scanned,
    backend_for,
    ensure_env,
    plan_bundle,
    remember_warm_probe,
    start_warm_probe,
)
from .verify.larger_input import MIN_ROWS, make_larger_input
from .verify.output_diff import OutputDiff, diff_outputs
from .verify.runner import ProbeResult, WarmProbe, error_headline, request_for, run_probe

Progress = Callable[[str, str], None]
PROBA = "predict_proba"
REFERENCE_KEY = "compare reference"

# verdict -> (exit code, what the user reads)
VERDICTS = {
    "identical": (ExitCode.OK, "identical"),
    "differs": (ExitCode.PREDICTIONS_DIFFER, "differs"),
    "fails-to-predict": (ExitCode.FAILS_TO_PREDICT, "fails to predict"),
    "fails-to-load": (ExitCode.FAILS_TO_LOAD, "fails to load"),
    "timeout": (ExitCode.VERIFY_TIMEOUT, "timed out"),
}


def _quiet(stage: str, event: str) -> None:
    """Say nothing."""


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
            first = next(d for d in self.diffs if not d.identical)
            return f"{text}: {first.name}: {first.text()}"
        rows = sum(d.rows for d in self.diffs)
        return f"{text} ({len(self.diffs)} outputs, {rows} rows)"

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
        }


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


def _probe(
    plan: Plan,
    scanned: Scanned,
    prefix: Path,
    runs: Sequence[OutputRun],
    *,
    folder: Path,
    timeout: float,
    warm: WarmProbe | None = None,
) -> ProbeResult:
    folder.mkdir(parents=True, exist_ok=True)
    request = request_for(
        plan.recorded,
        allowed_globals=scanned.allowed_globals,
        tolerance=None,
        local_code=scanned.local_code,
    )
    request["outputs"] = [r.request(folder) for r in runs]
    request["generated_rows"] = MIN_ROWS  # no recorded sample: as many rows as a larger input
    return run_probe(env_python(prefix), request, timeout=timeout, warm=warm)


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


def judge(
    reference: Side, candidate: Side, runs: Sequence[OutputRun], changes: tuple[Change, ...],
    label: str,
) -> Verdict:  # fmt: skip
    """The candidate's verdict, from the two probes' saved outputs."""
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
        diffs.append(diff_outputs(run.name, reference.outputs / name, candidate.outputs / name))
    status = "identical" if all(d.identical for d in diffs) else "differs"
    return Verdict(status, diffs=tuple(diffs), **base)


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
        self, bundle: Path | str, options: CompareOptions, progress: Progress = _quiet
    ) -> None:
        self.options = options
        self.progress = progress
        self.started = time.perf_counter()
        self.bundle = bundle
        # The probes of the envs this comparison used last time start now: their imports
        # overlap reading, scanning, planning and the candidate's resolution.
        self._warm: dict[str, WarmProbe | None] = {
            key: start_warm_probe(bundle, options.rebuild, key=key, always=True)
            for key in (REFERENCE_KEY, *([] if options.newest_identical else [self._key()]))
        }
        self.work = Path(tempfile.mkdtemp(prefix="rebuild-env-compare-"))
        try:
            self.backend = backend_for(options.rebuild)
            self.plan, self.scanned = plan_bundle(bundle, options.rebuild, progress)
            self._start(options, progress)
        except BaseException:
            self.close()
            raise

    def _key(self) -> str:
        """Names the candidate env of this command line, for its warm probe next time."""
        asked = sorted(f"{u.name}{u.specifier}" for u in self.options.upgrades)
        return f"compare {' '.join(asked)} --python {self.options.python or ''}"

    def _start(self, options: CompareOptions, progress: Progress) -> None:
        self.out = options.rebuild.out or DEFAULT_OUT / self.plan.recorded.bundle_dir.resolve().name
        names = {p.name for p in self.plan.packages} | {u.name for u in options.upgrades}
        self.files = index.release_files(sorted(names), url=self.plan.index.index_url)
        check_upgrades(self.plan, options.upgrades, self.files)
        self.runs = output_runs(self.plan, self.work)
        progress("build reference", "start")
        built = ensure_env(
            self.plan, self.scanned, out=self.out, options=options.rebuild, backend=self.backend
        )
        progress("build reference", "done")
        self._ref_built = built
        folder = self.work / "reference"
        self._ref = _Background(
            lambda: self._probe_and_remember(self.plan, built.prefix, folder, REFERENCE_KEY)
        )
        self._reference: Side | None = None

    def reference(self) -> Side:
        """The reference side (waits for its probe; raises when it cannot serve)."""
        if self._reference is None:
            self._reference = Side(
                plan=self.plan,
                prefix=self._ref_built.prefix,
                reused=self._ref_built.reused,
                probe=self._ref.result(),
                outputs=self.work / "reference",
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
        verdict = judge(self.reference(), side, self.runs, changes, label)
        self.progress(f"candidate {label}", "done")
        return verdict

    def _probe_and_remember(self, plan: Plan, prefix: Path, folder: Path, key: str) -> ProbeResult:
        probe = _probe(
            plan,
            self.scanned,
            prefix,
            self.runs,
            folder=folder,
            timeout=self.options.rebuild.timeout,
            warm=self._warm.pop(key, None),
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
