"""The resolver: what was recorded + this machine -> a :class:`Plan`.

The plan is backend-neutral: exact PyPI-named packages, the Python version, and every
change made on the way, as a warning. Backends turn it into an environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .legacy_metadata import DependencyMetadata
from .pins import IndexOptions, Pin, RecordedEnv


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter found on this machine."""

    path: Path
    version: str
    """Full version, e.g. ``3.8.18``."""
    implementation: str = "cpython"
    found_by: str = ""
    """How discovery found it: ``--python``, ``PATH``, ``pyenv``, ``uv``, ``conda``."""

    @property
    def minor(self) -> str:
        """``3.8`` for ``3.8.18``."""
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True)
class PlannedPackage:
    """One package of the plan, exact, with the reason it is there."""

    name: str
    version: str
    source: str
    hashes: tuple[str, ...] = ()
    url: str = ""
    extras: tuple[str, ...] = ()

    def requirement(self) -> str:
        """``name[extras]==version`` (or ``name @ url`` for a direct reference)."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        if self.url:
            return f"{self.name}{extras} @ {self.url}"
        return f"{self.name}{extras}=={self.version}"


@dataclass(frozen=True)
class Dropped:
    """A recorded pin the plan leaves out, and why."""

    pin: Pin
    reason: str


@dataclass(frozen=True)
class Plan:
    """Everything needed to build and verify the environment, decided up front."""

    recorded: RecordedEnv
    backend: str
    python_version: str
    """The exact Python version the environment will have."""
    python_source: str
    """Why this version: ``bundle.yaml``, ``runtime.txt``, ``newest compatible``..."""
    interpreter: Interpreter | None
    """The base interpreter for the venv backend; ``None`` for conda (it installs Python)."""
    packages: tuple[PlannedPackage, ...]
    index: IndexOptions = field(default_factory=IndexOptions)
    exclude_newer: str = ""
    """ISO date: packages the recorder left unpinned resolve as of this date."""
    warnings: tuple[str, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    conflicts: tuple[str, ...] = ()
    dependency_metadata: tuple[DependencyMetadata, ...] = ()
    role: str = "reference"
    """``candidate`` for the upgraded side of ``compare`` (the cache listing says so)."""
    """Releases whose own metadata uv rejects, stated to it again (``uv.toml``)."""

    def package(self, name: str) -> PlannedPackage | None:
        """A planned package by canonical name."""
        return next((p for p in self.packages if p.name == name), None)
