"""The host's side of the probe's OS sandbox: the launcher's command line, and what it
reported (:class:`SandboxInfo`, shown in the report and the ``--json`` document).

The launcher itself is :mod:`.sandbox`, a script run by this interpreter before the
probe; it writes its report as JSON to a file this module reads back.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import sandbox as launcher
from .sandbox import NO_PLATFORM, available

LAUNCHER = Path(launcher.__file__)
REPORT_FILE = "sandbox.json"
__all__ = ["LAUNCHER", "NO_PLATFORM", "OFF", "REPORT_FILE", "SandboxInfo", "available"]


@dataclass(frozen=True)
class SandboxInfo:
    """Which protections the probe ran under (what the launcher reported)."""

    mode: str
    """``on`` (the launcher ran), ``off`` (``--no-sandbox``) or ``unavailable``."""
    landlock_abi: int = 0
    filesystem: bool = False
    """Landlock allowed writes only beneath the probe's own folders."""
    tcp: bool = False
    """Landlock denied every TCP bind and connect."""
    scoped: bool = False
    """Landlock kept abstract unix sockets and signals inside the sandbox."""
    netns: bool = False
    """The probe ran in a network namespace of its own."""
    private_shm: bool = False
    """``/dev/shm`` (writable for semaphores) was a private tmpfs, not the host's."""
    capabilities: bool = False
    """The capability bounding set was emptied."""
    unix_sockets: bool = False
    """seccomp refused ``socket(AF_UNIX)`` (Landlock does not cover pathname sockets)."""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        """``landlock ABI 7 (filesystem, tcp, scoped) + network namespace``, or why not."""
        if self.mode == "off":
            return "off (--no-sandbox)"
        parts = []
        if self.landlock_abi:
            kinds = [k for k in ("filesystem", "tcp", "scoped") if getattr(self, k)]
            parts.append(f"landlock ABI {self.landlock_abi} ({', '.join(kinds) or 'nothing'})")
        if self.netns:
            parts.append("network namespace")
        if self.unix_sockets:
            parts.append("no unix sockets")
        if not parts:
            return "none: " + ("; ".join(self.warnings) or NO_PLATFORM)
        return " + ".join(parts)

    def shortfalls(self) -> tuple[str, ...]:
        """What a user should be warned of: a protection asked for but not in place."""
        if self.mode == "off":
            return ()
        if self.mode == "unavailable":
            return self.warnings or (NO_PLATFORM,)
        missing = []
        if not self.filesystem:
            missing.append("the probe could write outside its folder")
        if not (self.tcp or self.netns):
            missing.append("the probe could open network connections")
        return tuple(missing) + self.warnings

    def to_json(self) -> dict[str, Any]:
        """The ``sandbox`` object of the ``--json`` document."""
        return {
            "mode": self.mode,
            "description": self.describe(),
            "landlock_abi": self.landlock_abi,
            "filesystem": self.filesystem,
            "tcp": self.tcp,
            "scoped": self.scoped,
            "netns": self.netns,
            "private_shm": self.private_shm,
            "capabilities": self.capabilities,
            "unix_sockets": self.unix_sockets,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, data: object) -> SandboxInfo | None:
        """A stored :meth:`to_json` (or launcher report); ``None`` when there is none."""
        if not isinstance(data, dict):
            return None
        return cls(
            mode=str(data.get("mode", "on")),
            landlock_abi=int(data.get("landlock_abi") or 0),
            filesystem=bool(data.get("filesystem")),
            tcp=bool(data.get("tcp")),
            scoped=bool(data.get("scoped")),
            netns=bool(data.get("netns")),
            private_shm=bool(data.get("private_shm")),
            capabilities=bool(data.get("capabilities")),
            unix_sockets=bool(data.get("unix_sockets")),
            warnings=tuple(str(w) for w in data.get("warnings") or ()),
        )


OFF = SandboxInfo(mode="off")


def command(argv: Sequence[str | Path], *, write: Sequence[Path], report: Path) -> list[str | Path]:
    """``argv`` run through the launcher, writable only beneath ``write``."""
    wrapped: list[str | Path] = [sys.executable, "-I", "-S", LAUNCHER]
    for folder in write:
        wrapped += ["--write", folder]
    return [*wrapped, "--report", report, "--", *argv]


def wrap(
    argv: Sequence[str | Path], *, write: Sequence[Path], report: Path, enabled: bool
) -> list[str | Path]:
    """:func:`command` when ``enabled`` and this platform has the launcher, else ``argv``."""
    if not enabled or not available():
        return list(argv)
    return command(argv, write=write, report=report)


def read_report(path: Path) -> SandboxInfo:
    """What the launcher wrote to ``path``; ``unavailable`` when it wrote nothing."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    found = SandboxInfo.from_json(data)
    if found is None:
        return SandboxInfo(mode="unavailable", warnings=("the sandbox launcher reported nothing",))
    return found


def unavailable() -> SandboxInfo:
    """The report for a platform without the launcher."""
    return SandboxInfo(mode="unavailable", warnings=(NO_PLATFORM,))
