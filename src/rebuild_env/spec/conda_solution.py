"""A plan solved for conda: the value the conda spec writers render.

The conda backend solves the plan against its channels (py-rattler) and hands the result
to ``environment_yml``, ``conda_lock`` and ``explicit`` as one frozen value, so the three
files always describe the same environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..plan import PlannedPackage


@dataclass(frozen=True)
class CondaPackage:
    """One solved conda package, as a lockfile records it."""

    name: str
    version: str
    build: str
    url: str
    md5: str
    sha256: str
    subdir: str
    depends: tuple[str, ...] = ()


@dataclass(frozen=True)
class PipPackage:
    """One package of the ``pip:`` section, with the file a lockfile points at."""

    planned: PlannedPackage
    url: str = ""
    sha256: str = ""


@dataclass(frozen=True)
class CondaSolution:
    """The plan as a conda environment: what was asked, what was solved, what pip adds."""

    channels: tuple[str, ...]
    """Channel URLs (or names), in priority order."""
    platform: str
    """The conda subdir solved for, e.g. ``linux-64``."""
    python_version: str
    requested: tuple[str, ...]
    """The specs as ``environment.yml`` lists them (``python=3.11.7``, ``numpy==2.4.6``)."""
    packages: tuple[CondaPackage, ...]
    """Every solved conda package, dependencies first."""
    pip: tuple[PipPackage, ...] = ()
    warnings: tuple[str, ...] = ()

    def package(self, name: str) -> CondaPackage | None:
        """A solved conda package by name."""
        return next((p for p in self.packages if p.name == name), None)
