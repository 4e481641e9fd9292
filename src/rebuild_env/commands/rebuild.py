"""``rebuild-env rebuild`` (the default command) and ``plan``; the ``Options`` every
bundle command builds from its flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..options import Options
from . import Display

if TYPE_CHECKING:
    from ..report import Report
    from ..verify.runner import WarmProbe

DOCKERFILE = "dockerfile"


def emit_dir(args: argparse.Namespace) -> Path | None:
    """``--emit dockerfile DIR``: the folder, checked (the only kind there is)."""
    if not getattr(args, "emit", None):
        return None
    kind, directory = args.emit
    if kind != DOCKERFILE:
        raise UsageError(f"cannot emit {kind!r}", hint="use --emit dockerfile DIR")
    return Path(directory)


def shared_options(args: argparse.Namespace, **more: Any) -> Options:
    """The options of the flags every command that rebuilds shares (``verify`` too), plus
    ``more``."""
    return Options(
        **more,
        backend=args.backend,
        trust=args.trust,
        allow_modules=tuple(args.allow_module),
        trust_code=args.trust_code,
        code_paths=tuple(args.code_path),
        prefer_recorded=args.prefer_recorded,
        channels=tuple(args.channel),
        conda_exe=args.conda_exe,
    )


def bundle_options(args: argparse.Namespace, **more: Any) -> Options:
    """The options every command that takes one BUNDLE shares, plus ``more``."""
    return shared_options(args, **more, python=args.python, format=args.format, model=args.model)


def rebuild_options(args: argparse.Namespace) -> Options:
    """The options of ``rebuild`` and ``plan`` (``plan`` is a dry run)."""
    tolerance = None
    if getattr(args, "rtol", None) is not None or getattr(args, "atol", None) is not None:
        tolerance = {"rtol": args.rtol or 0.0, "atol": args.atol or 0.0}
    if tolerance is not None and getattr(args, "exact", False):
        raise UsageError("--exact contradicts --rtol/--atol", hint="pass one or the other")
    return bundle_options(
        args,
        prefix=getattr(args, "prefix", None),
        out=args.out,
        force=getattr(args, "force", False),
        dry_run=args.command == "plan" or args.dry_run,
        tolerance=tolerance,
        timeout=getattr(args, "timeout", Options.timeout),
        no_cache=getattr(args, "no_cache", False),
        dockerfile_dir=emit_dir(args),
        reverify=getattr(args, "reverify", False),
        offline=getattr(args, "offline", False),
        sandbox=not getattr(args, "no_sandbox", False),
        exact=getattr(args, "exact", False),
        explain=getattr(args, "explain", False),
        pin_kernel=getattr(args, "pin_kernel", False),
    )


def _early_warm_probe(args: argparse.Namespace, options: Options) -> WarmProbe | None:
    """The probe of a cache hit, started before the rest of rebuild-env is even imported:
    its imports (scikit-learn's take seconds) overlap all of the host's work."""
    if args.command != "rebuild" or not options.probes_warm:
        return None
    from ..verify.store import start_warm_probe

    return start_warm_probe(args.bundle, always=options.reverify, sandbox=options.sandbox)


@dataclass(frozen=True)
class RebuildResult:
    """The report, under the name of the command that asked (``rebuild`` or ``plan``)."""

    report: Report
    command: str

    @property
    def exit_code(self) -> int:
        """The report's exit code."""
        return int(self.report.exit_code)

    def render_text(self) -> str:
        """The report as text."""
        return self.report.render_text()

    def rich(self) -> Any:
        """The report for a terminal."""
        return self.report.rich()

    def to_json(self) -> dict[str, Any]:
        """The report's JSON, naming the command."""
        doc = self.report.to_json()
        if self.command == "plan":
            doc["command"] = "plan"
        return doc


def run(args: argparse.Namespace, progress: Display) -> RebuildResult:
    """``rebuild`` / ``plan``: read, scan, plan, write, then (rebuild) build and verify."""
    options = rebuild_options(args)
    warm = _early_warm_probe(args, options)
    from ..rebuild import rebuild

    return RebuildResult(rebuild(args.bundle, options, progress, warm=warm), args.command)
