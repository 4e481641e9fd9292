"""``rebuild-env pack --backend conda``: the solved conda packages, as a channel in the bundle.

The plan is solved as the conda backend solves it. Every solved package file is downloaded
from its channel (a ``file://`` channel's file is copied) into ``channel/<subdir>/`` and
checked against the solve's sha256, the folder is indexed as a conda channel with
``rattler.index.index_fs``, and the ``pip:`` section's wheels go into ``wheels/``.
Rattler's package cache keeps packages extracted, not their archives, so it cannot stand
in for a download; an earlier pack's files are reused instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, replace
from pathlib import Path

from ..backends.conda import CondaBackend
from ..backends.conda_names import conda_name
from ..errors import ResolveError
from ..plan import Plan, PlannedPackage
from ..spec.conda_solution import CondaPackage, CondaSolution
from . import record, wheels
from .record import Artifact
from .wheels import WheelFile

DEPENDENCY_SOURCE = "a conda dependency (solved when packing)"
_INDEX_SCRATCH = ".tmp"
"""The scratch folder ``index_fs`` leaves in the channel."""


@dataclass(frozen=True)
class CondaPack:
    """What a conda pack stores: the artifacts, and the solve they come from."""

    artifacts: tuple[Artifact, ...]
    solution: CondaSolution


def _sources(plan: Plan) -> dict[str, str]:
    """conda name -> why the plan has it (the plan's source column)."""
    sources = {conda_name(p.name): p.source for p in plan.packages if not p.url}
    sources.setdefault("python", plan.python_source)
    return sources


def _conda_file(package: CondaPackage, source: str) -> WheelFile:
    planned = PlannedPackage(name=package.name, version=package.version, source=source)
    return WheelFile(planned, package.url, package.sha256)


def _pip_wheels(solution: CondaSolution) -> list[WheelFile]:
    """The wheel of every ``pip:`` package (as the solve located it); raise if one has none."""
    found, missing = [], []
    for package in solution.pip:
        if package.url.endswith(".whl"):
            found.append(WheelFile(package.planned, package.url, package.sha256))
        else:
            missing.append(package.planned.requirement())
    if missing:
        raise ResolveError(
            f"cannot pack the pip: section for Python {solution.python_version}: "
            f"{', '.join(missing)} (no wheel for this Python and platform)",
            hint="an offline install cannot build from source; pass --python with a version "
            "that has wheels, or --channel with a channel that has these packages",
        )
    return found


def _index(channel: Path) -> None:
    from rattler.index import index_fs

    channel.mkdir(parents=True, exist_ok=True)
    asyncio.run(index_fs(channel, write_shards=False))
    with contextlib.suppress(OSError):
        (channel / _INDEX_SCRATCH).rmdir()


def pack(plan: Plan, channels: tuple[str, ...], staged: Path, earlier: Path) -> CondaPack:
    """Solve ``plan`` on ``channels`` (default: the conda backend's) and store its files.

    ``earlier``: the bundle's current conda pack folder, whose unchanged files are copied
    instead of downloaded.
    """
    solution = CondaBackend(channels).solve(plan)
    sources = _sources(plan)
    artifacts: list[Artifact] = []
    for subdir in sorted({p.subdir for p in solution.packages}):
        files = [
            _conda_file(p, sources.get(p.name, DEPENDENCY_SOURCE))
            for p in solution.packages
            if p.subdir == subdir
        ]
        where = Path(record.CHANNEL_DIR, subdir)
        fetched = wheels.fetch(files, staged / where, reuse=[earlier / where])
        artifacts += [replace(a, subdir=subdir) for a in fetched]
    _index(staged / record.CHANNEL_DIR)
    pip = _pip_wheels(solution)
    if pip:
        where = Path(record.WHEELS_DIR)
        artifacts += wheels.fetch(pip, staged / where, reuse=[earlier / where])
    return CondaPack(tuple(artifacts), solution)
