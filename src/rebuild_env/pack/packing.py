"""``rebuild-env pack``: store every artifact a bundle's plan installs inside the bundle.

``pack_bundle(BUNDLE)`` resolves the plan as a rebuild would (this needs the index), then
writes the exact files into ``BUNDLE/artifacts/<backend>/`` with their sha256 in its
``pack.yaml``. ``rebuild(..., Options(offline=True))`` later plans from that record alone
and installs only those files (:mod:`.offline`).
"""

from __future__ import annotations

import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..options import Options, Progress, quiet
from ..plan import Plan, PlannedPackage
from ..planning import plan_bundle
from . import record
from .record import PackRecord

PACKED_BACKENDS = ("venv", "conda")


@dataclass(frozen=True)
class PackResult:
    """What ``pack`` stored, and where."""

    plan: Plan
    folder: Path
    record: PackRecord
    seconds: float

    @property
    def size(self) -> int:
        """Bytes of artifacts carried."""
        return sum(a.size for a in self.record.artifacts)

    @property
    def warnings(self) -> tuple[str, ...]:
        """The plan's warnings and conflicts, then what the conda solve changed."""
        solved = self.record.solution.warnings if self.record.solution else ()
        return (*self.record.warnings, *self.record.conflicts, *solved)

    def render_text(self) -> str:
        """The lines ``rebuild-env pack`` prints."""
        lines = [
            f"packed   {a.name}=={a.version}  {a.filename}  ({a.size / 1e6:.1f} MB)"
            for a in self.record.artifacts
        ]
        lines += [f"warning  {w}" for w in self.warnings]
        backend = "" if self.record.backend == "venv" else f" --backend {self.record.backend}"
        lines.append(
            f"packed {len(self.record.artifacts)} artifact(s), {self.size / 1e6:.1f} MB, for "
            f"{self.record.backend} + Python {self.record.python_version} in {self.folder} "
            f"({self.seconds:.1f} s); rebuild it with --offline: "
            f"rebuild-env {self.plan.recorded.bundle_dir} --offline{backend}"
        )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document (``command: pack``)."""
        return {
            "schema_version": 1,
            "command": "pack",
            "exit_code": 0,
            "bundle": str(self.plan.recorded.bundle_dir),
            "backend": self.record.backend,
            "python": self.record.python_version,
            "platform": self.record.platform,
            "artifacts_dir": str(self.folder),
            "artifacts": [
                {
                    "name": a.name,
                    "version": a.version,
                    "filename": a.filename,
                    "sha256": a.sha256,
                    "size": a.size,
                    "subdir": a.subdir or None,
                }
                for a in self.record.artifacts
            ],
            "size": self.size,
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }


def pack_bundle(
    bundle: Path | str, options: Options | None = None, progress: Progress = quiet
) -> PackResult:
    """Resolve ``bundle``'s plan and store its artifacts in the bundle (atomically)."""
    options = options or Options()
    if options.offline:
        raise UsageError("pack needs the index: it cannot run --offline")
    if options.backend not in PACKED_BACKENDS:
        raise UsageError(
            f"cannot pack for the {options.backend} backend",
            hint=f"pack with --backend {' or --backend '.join(PACKED_BACKENDS)}",
        )
    started = time.perf_counter()
    plan, scanned = plan_bundle(bundle, options, progress)
    folder = record.backend_dir(plan.recorded.bundle_dir, plan.backend)
    progress("pack", "start")
    with record.staging(folder) as staged:
        packages: tuple[PlannedPackage, ...] = ()
        solution = None
        if plan.backend == "conda":
            from . import conda_pack

            packed = conda_pack.pack(plan, options.channels, staged, folder)
            artifacts, packages, solution = packed.artifacts, plan.packages, packed.solution
        else:
            from . import wheels

            artifacts = wheels.fetch(
                wheels.locate(plan),
                staged / record.WHEELS_DIR,
                reuse=[folder / record.WHEELS_DIR],
            )
        pack = PackRecord(
            backend=plan.backend,
            platform=sysconfig.get_platform(),
            python_version=plan.python_version,
            python_source=plan.python_source,
            record_key=record.record_key(plan.recorded, scanned.hints),
            artifacts=artifacts,
            prefer_recorded=options.prefer_recorded,
            exclude_newer=plan.exclude_newer,
            warnings=plan.warnings,
            conflicts=plan.conflicts,
            packages=packages,
            solution=solution,
        )
        record.write(staged, pack)
    progress("pack", "done")
    return PackResult(plan, folder, pack, time.perf_counter() - started)
