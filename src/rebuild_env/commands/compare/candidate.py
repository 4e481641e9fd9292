"""A candidate plan for ``compare``: the reference plan with some distributions upgraded.

The named upgrades are exact. Every other package of the reference plan stays a
requirement and keeps its version wherever that version is compatible (uv reads the
reference versions as *preferences*, from the output file it is asked to update); only
what must move is re-resolved, and every move is listed. Like the reference plan, it
resolves as of a date: the day after the newest release it names, so that an old
scikit-learn moved to another Python never meets a numpy from years later.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ... import index, interpreters
from ...errors import ResolveError, UsageError
from ...plan import Interpreter, Plan, PlannedPackage
from ...resolve import ONLY_BINARY, cached_compile, parse_compiled, release_of
from ...target import compile_args, tags_for

UPGRADE_SOURCE = "--upgrade"


@dataclass(frozen=True)
class Upgrade:
    """One ``--upgrade`` argument: a distribution and the versions asked for."""

    name: str
    """Canonical distribution name."""
    specifier: str = ""
    """``==1.0.2``, a range (``<1.3``: what ``--newest-identical`` searches) or empty."""

    @property
    def version(self) -> str | None:
        """The exact version asked for, when the specifier is ``==X``."""
        spec = self.specifier
        if spec.startswith("==") and "," not in spec and "*" not in spec:
            return spec[2:]
        return None

    def exact(self, version: str) -> Upgrade:
        """The same distribution at one version."""
        return Upgrade(self.name, f"=={version}")

    @classmethod
    def parse(cls, text: str) -> Upgrade:
        """``scikit-learn==1.0.2``, ``scikit-learn<1.3`` or ``scikit-learn``."""
        try:
            req = Requirement(text)
        except InvalidRequirement as exc:
            raise UsageError(
                f"--upgrade {text!r} is not a requirement ({exc})",
                hint="write it as NAME==VERSION, e.g. --upgrade scikit-learn==1.0.2",
            ) from None
        if req.url or req.marker or req.extras:
            raise UsageError(
                f"--upgrade {text!r}: only a name and a version specifier are accepted",
                hint="write it as NAME==VERSION",
            )
        return cls(canonicalize_name(req.name), str(req.specifier))


@dataclass(frozen=True)
class Change:
    """A package whose version the candidate changes, and why."""

    name: str
    before: str
    """The reference version, or empty when the candidate adds the package."""
    after: str
    """The candidate version, or empty when the candidate no longer needs it."""
    reason: str

    def text(self) -> str:
        """``numpy 1.19.5 -> 1.21.6 (re-resolved: 1.19.5 is not compatible)``."""
        before, after = self.before or "(absent)", self.after or "(removed)"
        return f"{self.name} {before} -> {after} ({self.reason})"


def check_upgrades(
    reference: Plan,
    upgrades: Sequence[Upgrade],
    files: dict[str, list[index.ReleaseFile]] | None,
) -> None:
    """Refuse upgrades of distributions or versions that do not exist, in one clear line."""
    for upgrade in upgrades:
        if files is None:
            return  # the index cannot be read: uv will say what it can
        released = {f.version for f in files.get(upgrade.name, [])}
        if not released:
            planned = reference.package(upgrade.name)
            known = "" if planned else " (not in the reference plan either)"
            raise UsageError(
                f"--upgrade {upgrade.name}: no such distribution on the package index{known}",
                hint="check the name (PyPI spelling, e.g. scikit-learn)",
            )
        version = upgrade.version
        if version is not None and _version(version) not in released:
            newest = ", ".join(str(v) for v in sorted(released)[-5:])
            raise UsageError(
                f"--upgrade {upgrade.name}=={version}: no such release on the package index",
                hint=f"the newest releases are {newest}",
            )


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def candidate_python(reference: Plan, python: str | None) -> tuple[Interpreter | None, str, str]:
    """The candidate's interpreter, exact version and why: the reference's or ``--python``."""
    if python is None:
        return reference.interpreter, reference.python_version, reference.python_source
    if reference.backend == "conda":
        return None, python, "--python"
    if Path(python).exists() or "/" in python:
        interp = interpreters.explicit(python)
    else:
        interp, _ = interpreters.find(python, source="--python")
    return interp, interp.version, "--python"


def _as_of(
    names_versions: Sequence[tuple[str, str]], files: dict[str, list[index.ReleaseFile]] | None
) -> str:
    """The day after the newest upload among these releases (empty when unknown)."""
    return index.day_after_newest(
        index.upload_date(release_of((files or {}).get(name, []), v)) for name, v in names_versions
    )


def candidate_plan(
    reference: Plan,
    upgrades: Sequence[Upgrade],
    *,
    python: str | None = None,
    files: dict[str, list[index.ReleaseFile]] | None = None,
) -> tuple[Plan, tuple[Change, ...]]:
    """The reference plan with ``upgrades`` applied, and the list of what changed."""
    interp, python_version, python_source = candidate_python(reference, python)
    upgraded = {u.name: u for u in upgrades}
    requirements, preferences = [], []
    for package in reference.packages:
        extras = f"[{','.join(package.extras)}]" if package.extras else ""
        if package.name in upgraded:
            requirements.append(f"{package.name}{extras}{upgraded[package.name].specifier}")
        elif package.url:
            requirements.append(package.requirement())
        else:
            requirements.append(f"{package.name}{extras}")
            preferences.append(f"{package.name}=={package.version}")
    requirements += [
        f"{u.name}{u.specifier}" for u in upgrades if reference.package(u.name) is None
    ]
    pinned = [(p.name, p.version) for p in reference.packages if p.version]
    pinned += [(u.name, u.version) for u in upgrades if u.version]
    as_of = _as_of(pinned, files)
    output = _compile(
        reference,
        requirements=requirements,
        preferences=preferences,
        python_version=python_version,
        interp=interp,
        as_of=as_of,
    )
    sources = {p.name: p.source for p in reference.packages}
    sources.update({name: UPGRADE_SOURCE for name in upgraded})
    resolved = "re-resolved by uv" + (f" as of {as_of}" if as_of else "")
    packages = parse_compiled(output, sources, resolved)
    changes = _changes(reference, packages, upgraded)
    warnings = [f"candidate: {c.text()}" for c in changes]
    if python_version != reference.python_version:
        warnings.insert(
            0, f"candidate: Python {reference.python_version} -> {python_version} (--python)"
        )
    plan = replace(
        reference,  # same record, backend and index; what was dropped there stays dropped
        python_version=python_version,
        python_source=python_source,
        interpreter=interp,
        packages=tuple(packages),
        exclude_newer=as_of,
        warnings=tuple(warnings),
        conflicts=(),
        role="candidate",
    )
    return plan, changes


def _compile(
    reference: Plan,
    *,
    requirements: Sequence[str],
    preferences: Sequence[str],
    python_version: str,
    interp: Interpreter | None,
    as_of: str,
) -> str:
    uv = interpreters.uv_binary()
    if uv is None:
        raise ResolveError("compare needs uv to resolve the candidate", hint="pip install uv")
    with tempfile.TemporaryDirectory(prefix="rebuild-env-candidate-") as tmp:
        infile, outfile = Path(tmp) / "candidate.in", Path(tmp) / "candidate.txt"
        lines = [*reference.index.requirement_lines(), *requirements]
        infile.write_text("\n".join(lines) + "\n")
        # uv keeps the versions of the file it updates wherever they still fit
        outfile.write_text("\n".join(preferences) + "\n")
        args = compile_args(
            uv,
            infile,
            python_version=python_version,
            interpreter=interp.path if interp else None,
            outfile=outfile,
            exclude_newer=as_of,
            only_binary=ONLY_BINARY,
        )
        key = [str(a) for a in args if a not in (infile, outfile)]
        ok, output = cached_compile(
            args, [*key, infile.read_text(), outfile.read_text()], bool(as_of), output_file=outfile
        )
    if not ok:
        from ... import uv_output

        asked = ", ".join(r for r in requirements if any(op in r for op in "=<>~!"))
        raise ResolveError(
            f"the candidate ({asked or 'upgrades'}) cannot be installed for Python "
            f"{python_version}: {uv_output.first_cause(output)}",
            hint="pick a version that supports this Python, or pass --python",
        )
    return output


def _changes(
    reference: Plan, packages: Sequence[PlannedPackage], upgraded: dict[str, Upgrade]
) -> tuple[Change, ...]:
    before = {p.name: p.version for p in reference.packages}
    after = {p.name: p.version for p in packages}
    changes = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, ""), after.get(name, "")
        if old == new:
            continue
        if name in upgraded:
            reason = "asked for"
        elif not new:
            reason = "no longer needed"
        elif not old:
            reason = "needed by the candidate"
        else:
            reason = f"re-resolved: {old} does not fit the candidate"
        changes.append(Change(name, old, new, reason))
    return tuple(changes)


def searchable_versions(
    upgrade: Upgrade,
    reference: Plan,
    python_version: str,
    files: dict[str, list[index.ReleaseFile]] | None,
) -> list[str]:
    """Final releases of ``upgrade.name`` newer than the reference's, in its specifier,
    that install on ``python_version`` from wheels (or a Requires-Python-compatible sdist)."""
    if files is None:
        raise ResolveError(
            "--newest-identical needs the package index to list releases",
            hint="check the network and the index URL",
        )
    planned = reference.package(upgrade.name)
    floor = _version(planned.version) if planned and planned.version else None
    allowed = SpecifierSet(upgrade.specifier) if upgrade.specifier else SpecifierSet()
    python, tags = Version(python_version), tags_for(python_version)
    by_version: dict[Version, list[index.ReleaseFile]] = {}
    for f in files.get(upgrade.name, []):
        if not f.yanked and not f.version.is_prerelease and not f.version.is_devrelease:
            by_version.setdefault(f.version, []).append(f)
    found = [
        v
        for v, release in by_version.items()
        if (floor is None or v > floor)
        and allowed.contains(v)
        and (
            index.supports_python([f for f in release if f.tags], python, tags)
            if upgrade.name in ONLY_BINARY
            else index.supports_python(release, python, tags)
        )
    ]
    return [str(v) for v in sorted(found)]
