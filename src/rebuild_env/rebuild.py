"""The whole flow, as a library call: read -> scan -> plan -> write -> build -> verify."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .backends.base import (
    Backend,
    building,
    env_python,
    in_use,
    is_complete,
    locked,
    read_completion,
)
from .cache import touch
from .errors import BuildError
from .numeric_context import CORETYPE_VAR, PinDecision, pin_for, this_cpu, write_kernel_pin
from .options import Options, Progress, quiet, stage
from .plan import Plan
from .planning import Scanned, backend_for, plan_bundle, scan_model
from .prefix import default_out, default_prefix, plan_key
from .report import Report
from .resolve import without_failed_install
from .verify import fidelity, fingerprint, store
from .verify.runner import (
    ProbeResult,
    WarmProbe,
    request_for,
    run_probe,
)

__all__ = [
    "OUT_MARKER",
    "BuiltEnv",
    "Options",
    "Progress",
    "Scanned",
    "backend_for",
    "default_out",
    "default_prefix",
    "ensure_env",
    "plan_bundle",
    "plan_key",
    "rebuild",
    "remember_warm_probe",
    "scan_model",
    "start_warm_probe",
]
"""``Options`` and ``Progress`` live in :mod:`.options`; named here for older callers."""

OUT_MARKER = ".rebuild-env-out"
"""Left in every folder of spec files, so that ``verify DIR/*`` knows it is no bundle."""
MAX_INSTALL_PRUNES = 8
"""Recorded pins pruned after failing to install (each re-plans and rebuilds) per run."""


def _channels(backend: Backend) -> tuple[str, ...]:
    return backend.channels


def _holds_plan(prefix: Path, key: str) -> bool:
    """A complete, intact environment built by rebuild-env for exactly this plan."""
    return (
        is_complete(prefix)
        and read_completion(prefix).get("plan_key") == key
        and env_python(prefix).exists()  # a cache entry someone half-deleted is rebuilt
    )


def rebuild(
    bundle: Path | str,
    options: Options | None = None,
    progress: Progress = quiet,
    *,
    warm: WarmProbe | None = None,
) -> Report:
    """Rebuild a bundle's environment and verify the model in it.

    ``warm``: a probe the caller started already (see :func:`start_warm_probe`).
    """
    # each call times its own stages: one Options may serve many calls (verify's threads)
    options = replace(options or Options(), seconds={})
    warm = warm or start_warm_probe(bundle, options)
    try:
        return _rebuild(bundle, options, progress, warm)
    finally:
        if warm is not None:
            warm.discard()


def _rebuild(
    bundle: Path | str, options: Options, progress: Progress, warm: WarmProbe | None
) -> Report:
    seconds = options.seconds
    backend = backend_for(options)
    plan, scanned = plan_bundle(bundle, options, progress)
    out = options.out or default_out(plan, _channels(backend))
    if options.dry_run:
        specs = _write(plan, scanned, backend, out, options, progress=progress)
        extra = tuple(backend.last_warnings)
        return Report(
            plan,
            "planned",
            spec_files=specs,
            scan=scanned.summary,
            warnings=extra,
            seconds=dict(seconds),
            local_code=scanned.local_code.modules,
        )
    if options.no_cache and options.prefix is None:
        with tempfile.TemporaryDirectory(prefix="rebuild-env-") as tmp:
            temporary = replace(options, prefix=Path(tmp) / "env")
            report = _build_and_verify(
                plan,
                scanned=scanned,
                out=out,
                options=temporary,
                backend=backend,
                progress=progress,
            )
            return replace(report, prefix=None)
    for attempt in range(MAX_INSTALL_PRUNES + 1):
        try:
            return _build_and_verify(
                plan,
                scanned=scanned,
                out=out,
                options=options,
                backend=backend,
                progress=progress,
                warm=warm,
            )
        except BuildError as exc:
            if attempt == MAX_INSTALL_PRUNES or options.offline:
                raise
            # an app pin that fails only when installing (its wheel does not build) is
            # pruned like one that fails to resolve, when the model does not need it
            pruned = without_failed_install(
                plan,
                scanned.hints,
                exc.output,
                python=options.python,
                prefer_recorded=options.prefer_recorded,
            )
            if pruned is None:
                raise
            plan = pruned
    raise AssertionError("unreachable: the last attempt returns or raises")


def start_warm_probe(
    bundle: Path | str, options: Options, *, key: str = "", always: bool = False
) -> WarmProbe | None:
    """The probe of the env this bundle (``key``: another env of it) used last time, started
    now so its imports overlap reading, scanning and planning; ``None`` when it will not
    run here (a dry run, no cache, an explicit prefix, no record)."""
    if not options.probes_warm:
        return None
    return store.start_warm_probe(
        bundle, key=key, always=always or options.reverify, sandbox=options.sandbox
    )


def remember_warm_probe(
    plan: Plan, prefix: Path, scanned: Scanned, *, probe_ran: bool, key: str = ""
) -> None:
    """Note which env, and which of the model's modules, this bundle's next run probes."""
    modules = ["numpy", plan.recorded.model.loader]
    modules += sorted({m for m, _ in scanned.allowed_globals or () if m != "builtins"})
    store.remember_warm_probe(
        plan.recorded.bundle_dir, env_python(prefix), modules, probe_ran=probe_ran, key=key
    )


def _write(
    plan: Plan,
    scanned: Scanned,
    backend: Backend,
    out: Path,
    options: Options,
    *,
    progress: Progress,
    built: Path | None = None,
) -> tuple[Path, ...]:
    """The spec files (and the Dockerfile when asked)."""
    with stage("write", progress, options.seconds):
        specs = backend.write_specs(plan, out, built=built)
        (out / OUT_MARKER).write_text("spec files written by rebuild-env\n", encoding="utf-8")
        if options.dockerfile_dir is not None:
            from .spec import dockerfile

            request = request_for(
                plan.recorded,
                allowed_globals=scanned.allowed_globals,
                tolerance=options.tolerance,
                local_code=scanned.local_code,
            )
            request.update(fidelity.request_options(exact=options.exact))
            pin = fidelity_pin(plan).pin if options.pin_kernel else None
            env = pin.env if pin is not None else {}
            specs += (dockerfile.write(plan, specs, request, options.dockerfile_dir, env=env)[0],)
    return specs


def _build_locked(
    plan: Plan,
    prefix: Path,
    key: str,
    *,
    specs: tuple[Path, ...],
    options: Options,
    backend: Backend,
    progress: Progress,
    may_reuse: bool,
    notes: list[str],
) -> bool:
    """Build under the prefix lock; True when a concurrent run built the same plan first.

    ``notes``: what was recovered from a killed run is appended to it."""
    with locked(prefix):
        if may_reuse and _holds_plan(prefix, key):
            touch(prefix)
            return True
        # A cache entry is ours to replace; a user's --prefix only with --force.
        force = options.force or options.prefix is None
        record: dict[str, object] = {
            "plan_key": key,
            "bundle": str(plan.recorded.bundle_dir.resolve()),
            "role": plan.role,
            "python": plan.python_version,
            "backend": plan.backend,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        with (
            stage("build", progress, options.seconds),
            building(prefix, force=force, record=record, notes=notes) as target,
        ):
            backend.build(plan, target, specs)
    return False


@dataclass(frozen=True)
class BuiltEnv:
    """An environment that holds a plan, ready for the probe."""

    prefix: Path
    specs: tuple[Path, ...]
    reused: bool
    """True when a complete environment of the same plan was already there."""
    warnings: tuple[str, ...] = ()
    """What the backend noticed while writing the specs or building."""


def ensure_env(
    plan: Plan,
    scanned: Scanned,
    *,
    out: Path,
    options: Options,
    backend: Backend,
    progress: Progress = quiet,
) -> BuiltEnv:
    """Write the spec files and build ``plan`` (through the cache), or reuse its env."""
    prefix = (options.prefix or default_prefix(plan, _channels(backend))).absolute()
    key = plan_key(plan, _channels(backend))
    may_reuse = not options.force and not options.no_cache
    # A complete env is never modified in place, so it can be reused without the lock
    # (which costs a filelock import on the hot path of a cache hit).
    reused = may_reuse and _holds_plan(prefix, key)
    specs = _write(
        plan, scanned, backend, out, options, progress=progress, built=prefix if reused else None
    )
    warnings = tuple(backend.last_warnings)
    if reused:
        touch(prefix)
    else:
        notes: list[str] = []
        reused = _build_locked(
            plan,
            prefix,
            key,
            specs=specs,
            options=options,
            backend=backend,
            progress=progress,
            may_reuse=may_reuse,
            notes=notes,
        )
        warnings += tuple(notes)
    return BuiltEnv(prefix=prefix, specs=specs, reused=reused, warnings=warnings)


def _env_changes(prefix: Path, earlier: store.EarlierVerification) -> tuple[str, ...]:
    """What changed in ``prefix`` since ``earlier`` passed in it (a stored verdict holds only
    for the env it was reached in); a record without a fingerprint (written by an older
    rebuild-env) counts as changed, silently."""
    if earlier.fingerprint is None:
        return ("unknown",)
    return fingerprint.changes(earlier.fingerprint, fingerprint.take(prefix), prefix)


def _build_and_verify(
    plan: Plan,
    *,
    scanned: Scanned,
    out: Path,
    options: Options,
    backend: Backend,
    progress: Progress,
    warm: WarmProbe | None = None,
) -> Report:
    prefix = (options.prefix or default_prefix(plan, _channels(backend))).absolute()
    with in_use(prefix):  # `cache prune` / `clear` skip it until the verdict is in
        return _build_and_verify_in_use(
            plan,
            scanned=scanned,
            out=out,
            options=options,
            backend=backend,
            progress=progress,
            warm=warm,
        )


def _build_and_verify_in_use(
    plan: Plan,
    *,
    scanned: Scanned,
    out: Path,
    options: Options,
    backend: Backend,
    progress: Progress,
    warm: WarmProbe | None = None,
) -> Report:
    seconds = options.seconds
    built = ensure_env(plan, scanned, out=out, options=options, backend=backend, progress=progress)
    prefix, specs, reused = built.prefix, built.specs, built.reused
    extra = built.warnings
    with stage("verify", progress, seconds):
        request = request_for(
            plan.recorded,
            allowed_globals=scanned.allowed_globals,
            tolerance=options.tolerance,
            local_code=scanned.local_code,
        )
        request.update(fidelity.request_options(exact=options.exact))
        decision = fidelity_pin(plan)
        blas_env = decision.pin.env if decision.pin is not None else {}
        request["blas_env"] = blas_env  # another pin is another verification
        vkey = store.verification_key(request)
        earlier = (
            store.earlier_verification(prefix, vkey) if reused and not options.reverify else None
        )
        changed = _env_changes(prefix, earlier) if earlier is not None else ()
        stored = False
        if earlier is not None and not changed:
            probe, verified_at = earlier.result, earlier.at
        else:
            probe = run_probe(
                env_python(prefix),
                request,
                timeout=options.timeout,
                warm=warm,
                sandbox=options.sandbox,
                blas_env=blas_env,
            )
            verified_at = ""
            if probe.level in store.PASSING and probe.error is None:
                store.store_verification(prefix, vkey, probe, fingerprint.take(prefix))
                stored = True
        if earlier is not None and earlier.fingerprint is not None and changed:
            extra += (
                f"the environment changed since it was verified at {earlier.at}: "
                f"{', '.join(changed)}; the probe ran again (pass --force to rebuild it "
                "from the plan)",
            )
        # The next run probes (so a warm probe pays) only if this verdict was not stored:
        # a stored one is reused then (--reverify still warms: start_warm_probe's always).
        remember_warm_probe(plan, prefix, scanned, probe_ran=not (verified_at or stored))
        explained, numeric = _judge_fidelity(
            plan, prefix, request=request, probe=probe, decision=decision, options=options
        )
        if explained is not probe:  # the verdict is that of a fresh run under another kernel
            probe, verified_at = explained, ""
    if options.pin_kernel and numeric.pin is not None:
        extra += (write_kernel_pin(plan.backend, prefix, numeric.pin.env),)
    status = probe.level
    if probe.input == "generated" and probe.error is not None and probe.error.stage == "predict":
        # The generated input is our guess, not the model's fault: the model still loads.
        extra += (f"predicting on a generated input failed ({probe.error.last_line})",)
        status = "loads"
    elif probe.timed_out:
        status = "timeout"
    elif probe.error is not None and probe.error.refused:
        status = "refused"
    elif probe.error is not None:
        status = "failed"
    return Report(
        verified_at=verified_at,
        plan=plan,
        status=status,
        prefix=prefix,
        spec_files=specs,
        probe=probe,
        reused_env=reused,
        scan=scanned.summary,
        warnings=extra,
        seconds=dict(seconds),
        local_code=scanned.local_code.modules,
        fidelity=numeric,
    )


def fidelity_pin(plan: Plan) -> PinDecision:
    """The BLAS pin that reproduces the bundle's recorded kernel on this CPU, if any."""
    return pin_for(plan.recorded.numeric, this_cpu())


def _judge_fidelity(
    plan: Plan,
    prefix: Path,
    *,
    request: dict[str, Any],
    probe: ProbeResult,
    decision: PinDecision,
    options: Options,
) -> tuple[ProbeResult, fidelity.Fidelity]:
    """The numeric side of the verdict: kernels named, and ``--explain`` run when asked."""
    recorded = plan.recorded.numeric.kernel() if plan.recorded.numeric is not None else ""
    here = fidelity.kernel_of(probe.numeric_context)
    if not here and decision.pin is not None:
        here = decision.pin.kernel
    found = fidelity.Fidelity(recorded=recorded, here=here, pin=decision.pin, note=decision.note)
    if not (options.explain and probe.level in fidelity.NOT_IDENTICAL and probe.comparison):
        return probe, found

    def run(env: dict[str, str]) -> ProbeResult:
        asked = {**request, "numeric_context": "always"}
        threads = dict(decision.pin.env) if decision.pin is not None else {}
        threads.pop(CORETYPE_VAR, None)
        return run_probe(
            env_python(prefix),
            asked,
            timeout=options.timeout,
            sandbox=options.sandbox,
            blas_env={**threads, **env},
        )

    pinned = decision.pin.env.get(CORETYPE_VAR, "") if decision.pin is not None else ""
    match, trials, spent = fidelity.explain(run, this_cpu(), probe, pinned=pinned)
    found = replace(
        found,
        trials=trials,
        explain_seconds=spent,
        explained_by=trials[-1].kernel if match is not None else "",
        unpinned=probe.comparison if match is not None else None,
    )
    return (match or probe), found
