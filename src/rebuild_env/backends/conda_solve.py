"""Solve a Plan for conda with py-rattler: PyPI names -> conda specs -> solved records.

Each planned package is looked up on the channels under its conda name
(:mod:`conda_names`). What the channels lack moves to the ``pip:`` section; a recorded
conda build string goes down a ladder (exact build -> same version, any build -> name
only, the last step only when allowed). Every step down is a warning, never silent.
"""

from __future__ import annotations

import asyncio
import datetime
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from ..errors import ResolveError
from ..locations import cache_dir
from ..plan import Plan, PlannedPackage
from ..spec.conda_solution import CondaPackage, CondaSolution, PipPackage
from .conda_names import conda_name

SOLVE_TIMEOUT_S = 120.0
QUERY_TIMEOUT_S = 300.0
MAX_REASON_CHARS = 400
MAX_LISTED_VERSIONS = 5
_CONDA_SOURCE = re.compile(r"\(conda: ([^)]*)\)")
_TREE_CHARS = "└─├│ "


@dataclass
class Solved:
    """A solution plus the rattler records the installer needs."""

    solution: CondaSolution
    records: list[Any] = field(default_factory=list)


def repodata_cache() -> Path:
    """Where rattler keeps channel repodata between runs."""
    return cache_dir() / "conda" / "repodata"


def package_cache() -> Path:
    """Where rattler keeps downloaded and extracted conda packages."""
    return cache_dir() / "conda" / "pkgs"


def host_subdir() -> str:
    """This machine's conda subdir (``linux-64``, ``osx-arm64``...)."""
    from rattler import Subdir

    return str(Subdir.current())


def recorded_build(package: PlannedPackage) -> str:
    """The build string a conda record gave this package (``""`` when none)."""
    found = _CONDA_SOURCE.search(package.source)
    if not found:
        return ""
    pieces = found.group(1).split("=")
    build = pieces[2] if len(pieces) >= 3 else ""
    return "" if build in ("", "*") else build


def _same_version(conda_version: str, pypi_version: str) -> bool:
    if conda_version == pypi_version:
        return True
    try:
        return Version(conda_version) == Version(pypi_version)
    except InvalidVersion:
        return False


def _channel_list(channels: Sequence[str]) -> str:
    return ", ".join(channels)


class _Solver:
    def __init__(self, plan: Plan, channels: Sequence[str], *, allow_name_only: bool) -> None:
        self.plan = plan
        self.channels = tuple(channels)
        self.allow_name_only = allow_name_only
        self.subdir = host_subdir()
        self.warnings: list[str] = []

    async def run(self) -> Solved:
        from rattler import Channel, Gateway, VirtualPackage, solve
        from rattler.exceptions import GatewayError, SolverError

        gateway = Gateway(cache_dir=repodata_cache())
        sources = [Channel(c) for c in self.channels]
        platforms: list[Any] = [self.subdir, "noarch"]
        conda_names = sorted({conda_name(p.name) for p in self.plan.packages if not p.url})
        try:
            found = await asyncio.wait_for(
                gateway.query(sources, platforms, ["python", *conda_names], recursive=False),
                QUERY_TIMEOUT_S,
            )
        except (GatewayError, TimeoutError) as exc:
            raise ResolveError(
                f"cannot read the conda channel(s) {_channel_list(self.channels)}: "
                f"{_first_line(exc)}",
                hint="check --channel (a name, URL or local channel directory); offline, "
                "use a local file:// channel",
            ) from None
        available: dict[str, list[Any]] = {}
        for records in found:
            for record in records:
                available.setdefault(record.name.normalized, []).append(record)
        python_spec, python_requested = self.python_spec(available.get("python", []))
        specs, requested, pip = [python_spec], [python_requested], []
        for package in sorted(self.plan.packages, key=lambda p: p.name):
            spec = self.package_spec(package, available)
            if spec is None:
                pip.append(package)
            else:
                specs.append(spec[0])
                requested.append(spec[1])
        virtual = [v.into_generic() for v in VirtualPackage.detect()]
        try:
            records = await solve(
                sources,
                specs,
                gateway=gateway,
                platforms=platforms,
                virtual_packages=virtual,
                timeout=datetime.timedelta(seconds=SOLVE_TIMEOUT_S),
            )
        except SolverError as exc:
            raise ResolveError(
                "the conda channel(s) cannot install these pins together: "
                + _explain(str(exc), [p.name for p in self.plan.packages]),
                hint="see which pins conflict above; pass --channel with a channel that has "
                "them, or use --backend venv",
            ) from None
        python = next(r for r in records if r.name.normalized == "python")
        solution = CondaSolution(
            channels=self.channels,
            platform=self.subdir,
            python_version=str(python.version),
            requested=tuple(requested),
            packages=_dependencies_first([_package(r) for r in records]),
            pip=tuple(PipPackage(p) for p in pip),
            warnings=tuple(self.warnings),
        )
        return Solved(solution, list(records))

    def python_spec(self, records: list[Any]) -> tuple[str, str]:
        wanted = self.plan.python_version
        versions = sorted({str(r.version) for r in records}, key=_sort_key)
        if any(_same_version(v, wanted) for v in versions):
            return f"python =={wanted}", f"python={wanted}"
        minor = ".".join(wanted.split(".")[:2])
        same_minor = [v for v in versions if v == minor or v.startswith(f"{minor}.")]
        if not same_minor:
            raise ResolveError(
                f"Python {minor} is not on the conda channel(s) {_channel_list(self.channels)}"
                + (f" (it has {', '.join(versions[-MAX_LISTED_VERSIONS:])})" if versions else ""),
                hint="pass --channel with a channel that has it, or --python to choose another",
            )
        self.warnings.append(
            f"Python {wanted} is not on the conda channel(s); using {same_minor[-1]} "
            f"(same minor version, {self.plan.python_source} recorded {wanted})"
        )
        return f"python {minor}.*", f"python={same_minor[-1]}"

    def package_spec(
        self, package: PlannedPackage, available: dict[str, list[Any]]
    ) -> tuple[str, str] | None:
        """(solver spec, environment.yml spec), or ``None`` for the ``pip:`` section."""
        name = conda_name(package.name)
        label = package.name if name == package.name else f"{package.name} (conda: {name})"
        if package.url:
            self.warnings.append(
                f"{package.name} is a direct reference ({package.url}); installing it with pip"
            )
            return None
        records = available.get(name, [])
        if not records:
            self.warnings.append(
                f"{label} is not on the conda channel(s) {_channel_list(self.channels)}; "
                f"installing {package.requirement()} from PyPI (pip: section)"
            )
            return None
        same = [r for r in records if _same_version(str(r.version), package.version)]
        if not same:
            versions = sorted({str(r.version) for r in records}, key=_sort_key)
            listed = ", ".join(versions[-MAX_LISTED_VERSIONS:])
            if self.allow_name_only:
                self.warnings.append(
                    f"{label} {package.version} is not on the conda channel(s) (it has "
                    f"{listed}); taking any version, as allowed"
                )
                return name, name
            self.warnings.append(
                f"{label} {package.version} is not on the conda channel(s) (it has {listed}); "
                f"installing {package.requirement()} from PyPI (pip: section)"
            )
            return None
        version = str(same[0].version)
        build = recorded_build(package)
        if build and any(str(r.build) == build for r in same):
            return f"{name} =={version} {build}", f"{name}=={version}={build}"
        if build:
            self.warnings.append(
                f"{label} {version} build {build} ({package.source}) is not on the conda "
                "channel(s); using the same version, any build"
            )
        return f"{name} =={version}", f"{name}=={version}"


def _sort_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _package(record: Any) -> CondaPackage:
    return CondaPackage(
        name=record.name.normalized,
        version=str(record.version),
        build=str(record.build),
        url=str(record.url),
        md5=record.md5.hex() if record.md5 else "",
        sha256=record.sha256.hex() if record.sha256 else "",
        subdir=str(record.subdir),
        depends=tuple(str(d) for d in record.depends),
    )


def _dependencies_first(packages: list[CondaPackage]) -> tuple[CondaPackage, ...]:
    """Packages ordered so each comes after what it depends on (conda's install order)."""
    by_name = {p.name: p for p in sorted(packages, key=lambda p: p.name)}
    ordered: list[CondaPackage] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in by_name:
            return
        seen.add(name)
        for dep in by_name[name].depends:
            visit(dep.split(" ", 1)[0])
        ordered.append(by_name[name])

    for name in by_name:
        visit(name)
    return tuple(ordered)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _explain(message: str, names: Sequence[str]) -> str:
    """The solver's tree of reasons, flattened to one line that names the pins involved."""
    lines = [line.strip(_TREE_CHARS) for line in message.splitlines()]
    lines = [line.removeprefix("Cannot solve the request because of: ") for line in lines if line]
    text = "; ".join(lines)
    if len(text) > MAX_REASON_CHARS:
        text = text[: MAX_REASON_CHARS - 1] + "…"
    involved = [n for n in names if re.search(rf"(?<![\w-]){re.escape(conda_name(n))}\b", text)]
    return f"{', '.join(involved)} ({text})" if involved else text


def solve(plan: Plan, channels: Sequence[str], *, allow_name_only: bool = False) -> Solved:
    """Solve ``plan`` against ``channels`` (blocking)."""
    return asyncio.run(_Solver(plan, channels, allow_name_only=allow_name_only).run())
