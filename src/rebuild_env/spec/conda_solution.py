"""A plan solved for conda: the value the conda spec writers render.

The conda backend solves the plan against its channels (py-rattler) and hands the result
to ``environment_yml``, ``conda_lock`` and ``explicit`` as one frozen value, so the three
files always describe the same environment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

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


def to_json(solution: CondaSolution) -> dict[str, Any]:
    """The solution as JSON data (stored in a built prefix, so a cache hit need not solve)."""
    return asdict(solution)


def from_json(doc: dict[str, Any]) -> CondaSolution:
    """The inverse of :func:`to_json`; raises ``ValueError`` on anything malformed."""
    try:
        packages = tuple(
            CondaPackage(**{**p, "depends": tuple(p.get("depends", ()))}) for p in doc["packages"]
        )
        pip = tuple(
            PipPackage(
                planned=PlannedPackage(
                    **{
                        **p["planned"],
                        "hashes": tuple(p["planned"].get("hashes", ())),
                        "extras": tuple(p["planned"].get("extras", ())),
                    }
                ),
                url=p.get("url", ""),
                sha256=p.get("sha256", ""),
            )
            for p in doc.get("pip", ())
        )
        return CondaSolution(
            channels=tuple(doc["channels"]),
            platform=doc["platform"],
            python_version=doc["python_version"],
            requested=tuple(doc["requested"]),
            packages=packages,
            pip=pip,
            warnings=tuple(doc.get("warnings", ())),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a stored conda solution: {exc}") from None
