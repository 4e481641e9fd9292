"""The outcome of ``compare``, as a value, as a readable table and as JSON; and the call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import ExitCode, UsageError
from ...options import Progress, quiet
from ...report import SCHEMA_VERSION
from .candidate import Upgrade, candidate_python, searchable_versions
from .search import Search, newest_identical
from .session import CompareOptions, Session
from .verdict import Side, Verdict


@dataclass(frozen=True)
class CompareReport:
    """A comparison: the reference, and a verdict or a search over candidates."""

    reference: Side
    verdict: Verdict | None = None
    search: Search | None = None
    seconds: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        """The verdict's exit code; a search that found its answer is 0."""
        if self.verdict is not None:
            return self.verdict.exit_code
        return ExitCode.OK

    @property
    def status(self) -> str:
        """The verdict, or ``searched``."""
        return self.verdict.status if self.verdict is not None else "searched"

    def summary(self) -> str:
        """One line."""
        if self.search is not None:
            return self.search.summary()
        assert self.verdict is not None
        return self.verdict.summary()

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (``output.schema.json``: ``compare``)."""
        ref = self.reference
        return {
            "schema_version": SCHEMA_VERSION,
            "command": "compare",
            "status": self.status,
            "exit_code": int(self.exit_code),
            "summary": self.summary(),
            "bundle": str(ref.plan.recorded.bundle_dir),
            "reference": {
                "python": ref.plan.python_version,
                "packages": {p.name: p.version for p in ref.plan.packages},
                "prefix": str(ref.prefix),
                "reused_env": ref.reused,
                "outputs_saved_at": ref.saved_at or None,
                "version_warnings": list(ref.probe.version_warnings),
                "sandbox": ref.probe.sandbox.to_json() if ref.probe.sandbox else None,
            },
            "verdict": self.verdict.to_json() if self.verdict else None,
            "search": self.search.to_json() if self.search else None,
            "seconds": round(self.seconds, 3),
        }

    def render_text(self) -> str:
        """The plain-text report: what was compared, a table of outputs, the verdict."""
        ref = self.reference
        lines = [f"bundle     {ref.plan.recorded.bundle_dir}"]
        if ref.saved_at:
            lines.append(
                f"reference  outputs computed at {ref.saved_at}, reused "
                "(--reverify runs its probe again)"
            )
        if ref.probe.sandbox is not None:
            lines.append(f"sandbox    {ref.probe.sandbox.describe()}")
        if self.verdict is not None:
            lines += _verdict_lines(ref, self.verdict)
        if self.search is not None:
            lines += _search_lines(self.search)
        mark = "ok" if self.exit_code == ExitCode.OK else "FAIL"
        lines.append(f"{mark:<10} {self.summary()}  ({self.seconds:.1f} s)")
        return "\n".join(lines)


def _versions(side_versions: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in side_versions.items())


def _verdict_lines(ref: Side, verdict: Verdict) -> list[str]:
    names = list(verdict.versions)
    lines = [
        f"reference  {_versions(ref.versions(names))} (Python {ref.plan.python_version})"
        + (" [env reused]" if ref.reused else ""),
        f"candidate  {_versions(verdict.versions)} (Python {verdict.python})"
        + (" [env reused]" if verdict.reused_env else ""),
    ]
    lines += [f"change     {c.text()}" for c in verdict.changes]
    if verdict.diffs:
        width = max(len(d.name) for d in verdict.diffs)
        lines.append(f"{'output':<{width}}  compared with the reference")
        lines += [f"{d.name:<{width}}  {d.text()}" for d in verdict.diffs]
    lines += [f"warning    {w.splitlines()[0]}" for w in verdict.version_warnings]
    return lines


def _search_lines(search: Search) -> list[str]:
    lines = [
        f"search     {search.distribution} after {search.reference_version or 'the reference'} "
        f"on Python {search.python}: {len(search.versions)} releases, "
        f"{len(search.steps)} checked",
    ]
    checked = dict(search.steps)
    width = max(len(v) for v in search.versions)
    lines.append(f"{'version':<{width}}  verdict")
    for version in search.versions:
        verdict = checked.get(version)
        if verdict is not None:
            lines.append(f"{version:<{width}}  {verdict.summary()}")
    if search.not_monotone:
        lines.append(
            f"warning    {search.not_monotone} is identical again after "
            f"{search.first_not_identical}: behaviour did not change once and stay changed"
        )
    return lines


def compare(
    bundle: Path | str, options: CompareOptions, progress: Progress = quiet
) -> CompareReport:
    """Compare the bundle's recorded environment with a candidate (or search candidates)."""
    session = Session(bundle, options, progress)
    try:
        if options.newest_identical:
            search = newest_identical(session, options.upgrades)
            return CompareReport(session.reference(), search=search, seconds=session.seconds())
        verdict = session.check(_exact(session, options.upgrades))
        return CompareReport(session.reference(), verdict=verdict, seconds=session.seconds())
    finally:
        session.close()


def _exact(session: Session, upgrades: Sequence[Upgrade]) -> list[Upgrade]:
    """Each upgrade at one version: an open one (``scikit-learn``, ``scikit-learn<1.3``)
    becomes the newest release in its range that installs on the candidate Python."""
    if all(u.version is not None for u in upgrades):
        return list(upgrades)  # the common case: no interpreter to look up
    _, python, _ = candidate_python(session.plan, session.options.python)
    exact = []
    for upgrade in upgrades:
        if upgrade.version is not None:
            exact.append(upgrade)
            continue
        versions = searchable_versions(upgrade, session.plan, python, session.files)
        if not versions:
            raise UsageError(
                f"--upgrade {upgrade.name}{upgrade.specifier}: no newer release installs on "
                f"Python {python}",
                hint="name a version (NAME==VERSION) or pass --python",
            )
        exact.append(upgrade.exact(versions[-1]))
    return exact
