"""The outcome of a rebuild, as a value, as text for people and as JSON for scripts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ExitCode
from .local_code import LocalModule
from .plan import Plan
from .verify.fidelity import Fidelity
from .verify.runner import ProbeResult

SCHEMA_VERSION = 1

# status -> (exit code, what the user reads)
_STATUS = {
    "identical": (ExitCode.OK, "predictions identical"),
    "within-noise": (ExitCode.OK, "predictions equal within floating-point noise"),
    "within-tolerance": (ExitCode.OK, "predictions equal within the given tolerance"),
    "predicts": (ExitCode.OK, "loads and predicts (no recorded output to compare with)"),
    "loads": (ExitCode.LOADS_ONLY, "loads (no input to predict on)"),
    "planned": (ExitCode.OK, "planned (dry run: nothing built)"),
    "differs": (ExitCode.PREDICTIONS_DIFFER, "predictions differ"),
    "failed": (ExitCode.MODEL_FAILED, "the model failed"),
    "refused": (ExitCode.UNSAFE_MODEL, "the model was refused"),
    "timeout": (ExitCode.VERIFY_TIMEOUT, "the probe timed out"),
}

_COMPARED = ("identical", "differs", "within-noise", "within-tolerance")
# Figures every comparison carries in --json (a result stored by an older probe lacks some).
_COMPARISON_DEFAULTS = {
    "max_ulp": None,
    "noise_ulps": None,
    "labels_identical": None,
    "within_noise": False,
}


def _comparison_text(comparison: dict[str, Any], status: str) -> str:
    """`` (148/150): max abs diff 0.5`` — rows equal, then the first reason they are not."""
    text = f" ({comparison.get('equal_rows')}/{comparison.get('rows')})"
    shape, recorded_shape = comparison.get("shape"), comparison.get("expected_shape")
    if shape != recorded_shape:
        return text + f": output shape {tuple(shape or ())}, recorded {tuple(recorded_shape or ())}"
    if comparison.get("dtype") != comparison.get("expected_dtype"):
        return (
            text + f": dtype {comparison.get('dtype')}, recorded {comparison.get('expected_dtype')}"
        )
    if status in ("differs", "within-noise") and comparison.get("max_abs_diff") is not None:
        text += f": max abs diff {comparison['max_abs_diff']:.3g}"
        if comparison.get("max_ulp") is not None:
            text += f", max {comparison['max_ulp']:.3g} ULP (noise: <= {comparison['noise_ulps']})"
        if comparison.get("labels_identical") is False:
            text += ", predicted labels change"
    return text


@dataclass(frozen=True)
class Report:
    """Everything a rebuild did and found."""

    plan: Plan
    status: str
    prefix: Path | None = None
    spec_files: tuple[Path, ...] = ()
    probe: ProbeResult | None = None
    reused_env: bool = False
    scan: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    """Warnings found after planning (backend, probe), in addition to the plan's."""
    seconds: dict[str, float] = field(default_factory=dict)
    verified_at: str = ""
    """Set when an earlier verification of this env, model and sample was reused."""
    local_code: tuple[LocalModule, ...] = ()
    """The author's own modules the model needed (trusted, else there is no report)."""
    fidelity: Fidelity | None = None
    """The BLAS kernels involved: pinned, named, or found by ``--explain``."""

    @property
    def exit_code(self) -> ExitCode:
        """The documented exit code for this outcome."""
        code = _STATUS.get(self.status, (ExitCode.INTERNAL, ""))[0]
        warned = self.plan.conflicts or (self.probe is not None and self.probe.version_warnings)
        if code == ExitCode.OK and self.status != "planned" and warned:
            return ExitCode.VERSION_WARNING
        return code

    def headline(self) -> str:
        """One line: the verdict, with the row count when outputs were compared."""
        text = _STATUS.get(self.status, (ExitCode.INTERNAL, self.status))[1]
        probe = self.probe
        if probe is not None and probe.comparison and self.status in _COMPARED:
            text += _comparison_text(probe.comparison, self.status)
        if self.fidelity is not None:
            text += self.fidelity.headline_suffix(self.status)
        if probe is not None and probe.input == "generated" and self.status == "predicts":
            text = "loads and predicts on a generated input of the right shape (no recorded sample)"
        if probe is not None and probe.input == "generated" and self.status == "loads":
            last = probe.error.last_line if probe.error is not None else "no details"
            text = f"loads; predicting on a generated input failed ({last}), no recorded sample"
        if (
            probe is not None
            and probe.error is not None
            and self.status in ("failed", "refused", "timeout")
        ):
            text += f" at {probe.error.stage}: {probe.error.last_line}"
        if self.verified_at:
            text += f" (verified at {self.verified_at}, reused; --reverify runs the probe again)"
        if probe is not None and probe.version_warnings:
            text += f", with {_plural(len(probe.version_warnings), 'version warning')}"
        if self.plan.conflicts and self.status != "planned":
            text += f"; {_plural(len(self.plan.conflicts), 'version conflict')} in the record"
        return text

    def all_warnings(self) -> list[str]:
        """Plan warnings, conflicts, later warnings and the probe's version warnings."""
        out = list(self.plan.warnings) + [f"conflict: {c}" for c in self.plan.conflicts]
        out += list(self.warnings)
        if self.probe is not None:
            # whole, URL included: scikit-learn puts its link on a second line
            out += [f"when loading: {' '.join(w.split())}" for w in self.probe.version_warnings]
            out += [f"input: {m}" for c, m in self.probe.warnings if c == "GeneratedInputNote"]
            if self.probe.sandbox is not None:
                out += [f"sandbox: {w}" for w in self.probe.sandbox.shortfalls()]
        return out

    @property
    def activate(self) -> str | None:
        """The shell line that steps into the built env (``None``: none was kept)."""
        if self.prefix is None or self.status == "planned":
            return None
        return activate_command(self.plan.backend, self.prefix)

    def scan_line(self) -> str | None:
        """Which allow-list profiles admitted the model file's globals (``None``: not scanned)."""
        allowed_by = (self.scan or {}).get("allowed_by")
        if not allowed_by:
            return None
        counts: dict[str, int] = {}
        for profile in allowed_by.values():
            counts[profile] = counts.get(profile, 0) + 1
        shown = ", ".join(f"{n} by {name}" for name, n in sorted(counts.items()))
        return f"{len(allowed_by)} globals allowed: {shown}"

    def numeric_lines(self) -> list[str]:
        """Which BLAS kernels computed the outputs, and why a difference is noise."""
        return self.fidelity.lines(self.status) if self.fidelity is not None else []

    def sandbox_line(self) -> str | None:
        """Which OS sandbox the probe ran in (``None``: no probe, or not recorded)."""
        if self.probe is None or self.probe.sandbox is None:
            return None
        return self.probe.sandbox.describe()

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document, as published in ``output.schema.json``."""
        plan = self.plan
        probe = self.probe
        return {
            "schema_version": SCHEMA_VERSION,
            "command": "rebuild",
            "status": self.status,
            "exit_code": int(self.exit_code),
            "summary": self.headline(),
            "bundle": {
                "path": str(plan.recorded.bundle_dir),
                "format": plan.recorded.format,
                "model": str(plan.recorded.model.path),
                "loader": plan.recorded.model.loader,
                "method": plan.recorded.model.method,
            },
            "backend": plan.backend,
            "python": {
                "version": plan.python_version,
                "source": plan.python_source,
                "interpreter": str(plan.interpreter.path) if plan.interpreter else None,
            },
            "packages": [
                {"name": p.name, "version": p.version, "source": p.source, "url": p.url or None}
                for p in plan.packages
            ],
            "dropped": [
                {"requirement": d.pin.requirement(), "reason": d.reason} for d in plan.dropped
            ],
            "conflicts": list(plan.conflicts),
            "warnings": self.all_warnings(),
            "exclude_newer": plan.exclude_newer or None,
            "prefix": str(self.prefix) if self.prefix else None,
            "activate": self.activate,
            "reused_env": self.reused_env,
            "spec_files": [str(p) for p in self.spec_files],
            "scan": self.scan,
            "local_code": [m.to_json() for m in self.local_code],
            "verification": None
            if probe is None
            else {
                "level": probe.level,
                "input": probe.input,
                "python": probe.python,
                "error": None
                if probe.error is None
                else {
                    "stage": probe.error.stage,
                    "type": probe.error.type,
                    "message": probe.error.message,
                    "last_line": probe.error.last_line,
                },
                "warnings": [{"category": c, "message": m} for c, m in probe.warnings],
                "version_warnings": list(probe.version_warnings),
                "versions": probe.versions,
                "drift": self.drift(),
                "comparison": {**_COMPARISON_DEFAULTS, **probe.comparison}
                if probe.comparison
                else None,
                "numeric": self.fidelity.to_json() if self.fidelity is not None else None,
                "timed_out": probe.timed_out,
                "reused_from": self.verified_at or None,
                "seconds": round(probe.seconds, 3),
                "sandbox": probe.sandbox.to_json() if probe.sandbox is not None else None,
            },
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }

    def drift(self) -> dict[str, dict[str, str]]:
        """Packages whose imported version differs from the plan's."""
        if self.probe is None:
            return {}
        out = {}
        for package in self.plan.packages:
            seen = self.probe.versions.get(package.name)
            if seen and package.version and seen != package.version:
                out[package.name] = {"planned": package.version, "imported": seen}
        return out

    def render_text(self) -> str:
        """The plain-text report."""
        plan = self.plan
        model = plan.recorded.model
        lines = [
            f"bundle   {plan.recorded.bundle_dir} ({plan.recorded.format}), model "
            f"{model.path.name} [{model.loader}, {model.method}]",
            f"python   {plan.python_version} ({plan.python_source})"
            + (f" from {plan.interpreter.path}" if plan.interpreter else ""),
            f"backend  {plan.backend}"
            + (f" -> {self.prefix}" if self.prefix else "")
            + (" (reused)" if self.reused_env else ""),
        ]
        if self.activate:
            lines.append(f"activate {self.activate}")
        lines += [f"code     {_code_line(m)}" for m in self.local_code]
        lines.append(f"packages {len(plan.packages)}")
        lines += [f"  {p.name:<28} {p.version or p.url:<14} {p.source}" for p in plan.packages]
        lines += [f"  dropped {d.pin.requirement()}: {d.reason}" for d in plan.dropped]
        if self.spec_files:
            lines.append("wrote    " + ", ".join(str(p) for p in self.spec_files))
        if self.scan_line():
            lines.append(f"scan     {self.scan_line()}")
        if self.sandbox_line():
            lines.append(f"sandbox  {self.sandbox_line()}")
        lines += [f"warning  {w}" for w in self.all_warnings()]
        for name, versions in self.drift().items():
            lines.append(
                f"drift    {name}: planned {versions['planned']}, imported {versions['imported']}"
            )
        lines += [f"numeric  {line}" for line in self.numeric_lines()]
        marks = {ExitCode.OK: "ok", ExitCode.VERSION_WARNING: "WARN", ExitCode.LOADS_ONLY: "LOADS"}
        mark = marks.get(self.exit_code, "FAIL")
        lines.append(f"{mark:<8} {self.headline()}")
        return "\n".join(lines)

    def rich(self) -> Any:
        """The report for a terminal: a package table, warnings, and a summary panel."""
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        plan = self.plan
        table = Table(title="plan", title_justify="left", expand=False)
        imported = self.probe is not None  # a plan (dry run) has imported nothing yet
        for column in ("package", "version", "source", "imported")[: 3 + imported]:
            table.add_column(column)
        versions = self.probe.versions if self.probe else {}
        for p in plan.packages:
            seen = versions.get(p.name, "")
            style = "yellow" if seen and p.version and seen != p.version else ""
            cells = (p.name, p.version or p.url, p.source, seen)[: 3 + imported]
            table.add_row(*cells, style=style)
        for d in plan.dropped:
            cells = (d.pin.name, "[dim]dropped[/dim]", d.reason, "")[: 3 + imported]
            table.add_row(*cells, style="dim")
        warnings = [f"[yellow]![/yellow] {w}" for w in self.all_warnings()]
        ok = self.exit_code == ExitCode.OK
        colour = (
            "green"
            if ok
            else "yellow"
            if self.exit_code in (ExitCode.VERSION_WARNING, ExitCode.LOADS_ONLY)
            else "red"
        )
        total = sum(self.seconds.values())
        code = [f"[bold]code[/bold]     {_code_line(m)}" for m in self.local_code]
        summary = "\n".join(
            [
                f"[bold]bundle[/bold]   {plan.recorded.bundle_dir} ({plan.recorded.format})",
                f"[bold]backend[/bold]  {plan.backend}, Python {plan.python_version}"
                f" ({plan.python_source}), {len(plan.packages)} packages",
                f"[bold]env[/bold]      {self.prefix or '-'}"
                + (" (reused)" if self.reused_env else ""),
                *([f"[bold]activate[/bold] {self.activate}"] if self.activate else []),
                f"[bold]specs[/bold]    {', '.join(str(p) for p in self.spec_files) or '-'}",
                *code,
                *([f"[bold]scan[/bold]     {self.scan_line()}"] if self.scan_line() else []),
                *([f"[bold]sandbox[/bold]  {self.sandbox_line()}"] if self.sandbox_line() else []),
                *(f"[bold]numeric[/bold]  {line}" for line in self.numeric_lines()),
                f"[bold]result[/bold]   [{colour}]{self.headline()}[/{colour}]  ({total:.1f} s)",
            ]
        )
        return Group(table, *warnings, Panel(summary, border_style=colour, expand=False))


def _plural(count: int, word: str) -> str:
    """``1 version warning``, ``2 version warnings``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def activate_command(backend: str, prefix: Path) -> str:
    """``source PREFIX/bin/activate`` for a venv, ``conda activate PREFIX`` for conda."""
    if backend == "conda":
        return f"conda activate {prefix}"
    return f"source {prefix / 'bin' / 'activate'}"


def _code_line(module: LocalModule) -> str:
    """``my_features  /b/my_features.py (bundle folder, trusted)``."""
    return f"{module.name}  {module.path} ({module.found_by}, trusted)"
