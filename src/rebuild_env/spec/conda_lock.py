"""``conda-lock.yml`` written with conda-lock's own models, so conda-lock reads it back.

Only conda-lock's file format is used: its ``lock``/``install`` commands look for a conda
binary (and try to download one), which this tool must never need. The file is
installable with ``conda-lock install`` and ``micromamba create -f conda-lock.yml``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

from .conda_solution import CondaSolution

FILENAME = "conda-lock.yml"
SOURCE_FILE = "environment.yml"
CATEGORY = "main"


def _content_hash(solution: CondaSolution) -> str:
    """A hash of what was asked for (conda-lock uses it to tell whether a relock is due)."""
    doc = {
        "channels": list(solution.channels),
        "requested": list(solution.requested),
        "pip": [p.planned.requirement() for p in solution.pip],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def lockfile(solution: CondaSolution) -> Any:
    """The lock as conda-lock's ``Lockfile`` model (v2prelim, written out as v1)."""
    from conda_lock.lockfile.v2prelim.models import LockedDependency, Lockfile, LockMeta

    platform = solution.platform
    packages = [
        LockedDependency(
            name=p.name,
            version=p.version,
            manager="conda",
            platform=platform,
            dependencies=_dependencies(p.depends),
            url=p.url,
            hash={"md5": p.md5, "sha256": p.sha256 or None},
            build=p.build,
            categories={CATEGORY},
        )
        for p in solution.packages
    ]
    packages += [
        LockedDependency(
            name=p.planned.name,
            version=p.planned.version,
            manager="pip",
            platform=platform,
            dependencies={},
            url=p.url or p.planned.url or f"https://pypi.org/simple/{p.planned.name}/",
            hash={"sha256": p.sha256 or None},
            categories={CATEGORY},
        )
        for p in solution.pip
    ]
    metadata = LockMeta(
        content_hash={platform: _content_hash(solution)},
        channels=list(solution.channels),
        platforms=[platform],
        sources=[SOURCE_FILE],
    )
    return Lockfile(package=packages, metadata=metadata)


def _dependencies(depends: tuple[str, ...]) -> dict[str, str]:
    """``["numpy >=1.24", "python_abi 3.11.* *_cp311"]`` as conda-lock's name -> spec map."""
    deps: dict[str, str] = {}
    for dep in depends:
        name, _, spec = dep.strip().partition(" ")
        deps[name] = spec.strip() or "*"
    return deps


def write(solution: CondaSolution, out: Path) -> Path:
    """Write ``conda-lock.yml`` into ``out``."""
    from conda_lock.lockfile import write_conda_lock_file

    out.mkdir(parents=True, exist_ok=True)
    path = out / FILENAME
    # conda-lock names the file in its help text, so the temporary file has the real name.
    with tempfile.TemporaryDirectory(prefix=".conda-lock-", dir=out) as tmp:
        written = Path(tmp) / FILENAME
        write_conda_lock_file(lockfile(solution), written, metadata_choices=None)
        written.replace(path)
    return path


def read(path: Path) -> Any:
    """Parse a ``conda-lock.yml`` with conda-lock's own parser."""
    from conda_lock.lockfile import parse_conda_lock_file

    return parse_conda_lock_file(path)
