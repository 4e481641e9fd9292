"""The first half of the flow: read -> scan -> plan, and the backend the options ask for.

Shared by ``rebuild``, ``pack`` (which packs what a rebuild would install) and ``compare``;
it builds nothing, so ``pack`` needs nothing of :mod:`.rebuild`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .backends import Backend, get_backend
from .bundle import read_bundle
from .local_code import LocalCode
from .options import Options, Progress, quiet, stage
from .pins import Pin, RecordedEnv
from .plan import Plan
from .resolve import make_plan


@dataclass(frozen=True)
class Scanned:
    """What the static scan of the model file gives the rest of the flow."""

    hints: tuple[Pin, ...] = ()
    allowed_globals: tuple[tuple[str, str], ...] | None = None
    summary: dict[str, Any] | None = None
    local_code: LocalCode = field(default_factory=LocalCode)
    """The author's own modules the model needs, where they are, whether trusted."""


def scan_model(
    recorded: RecordedEnv,
    *,
    trust: bool,
    allow_modules: Sequence[str],
    trust_code: bool = False,
    code_paths: Sequence[Path] = (),
) -> Scanned:
    """Scan the model file without unpickling it; refuse it (raise) when unsafe.

    Local code (modules no distribution provides) must be found and, unless ``trust`` or
    ``trust_code``, is refused: importing it runs it.
    """
    from .local_code import vet
    from .pickle_scan import check_safe, scan_file

    pinned = [p.name for p in recorded.pins]
    report = scan_file(recorded.model.path, allow_modules=allow_modules, trust=trust, pinned=pinned)
    if report.container == "skops":  # its types, judged by the host's lists, never the bundle's
        check_safe(report)
        return Scanned(
            allowed_globals=None if trust else tuple(report.allowed_globals()),
            summary=report.to_json(),
        )
    local = vet(
        report,
        recorded,
        trust=trust,
        trust_code=trust_code,
        code_paths=code_paths,
        allow_modules=allow_modules,
    )
    return Scanned(
        hints=report.hints,
        allowed_globals=None if trust else tuple(report.allowed_globals()),
        summary=report.to_json(),
        local_code=local,
    )


def backend_for(options: Options) -> Backend:
    """The backend the options ask for, configured by them."""
    if options.offline:
        from .pack import offline_backend

        return offline_backend(options.backend)
    return get_backend(options.backend, channels=options.channels, conda_exe=options.conda_exe)


def plan_bundle(
    bundle: Path | str, options: Options | None = None, progress: Progress = quiet
) -> tuple[Plan, Scanned]:
    """Read and scan a bundle and resolve its plan (no files written): the plan, and what
    the static scan of the model file found."""
    options = options or Options()
    seconds = options.seconds
    with stage("read", progress, seconds):
        recorded = read_bundle(bundle, format=options.format, model=options.model)
    with stage("scan", progress, seconds):
        scanned = scan_model(
            recorded,
            trust=options.trust,
            allow_modules=options.allow_modules,
            trust_code=options.trust_code,
            code_paths=options.code_paths,
        )
    with stage("plan", progress, seconds):
        if options.offline:  # the pack record is the plan: no index is asked
            from .pack import plan_offline

            return plan_offline(recorded, scanned.hints, options), scanned
        plan = make_plan(
            recorded,
            backend=options.backend,
            python=options.python,
            hints=scanned.hints,
            resolve=options.resolve,
            prefer_recorded=options.prefer_recorded,
        )
    return plan, scanned
