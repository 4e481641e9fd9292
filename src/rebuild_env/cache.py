"""The environment cache: ``rebuild-env cache list | path | prune | clear``.

Environments built without ``--prefix`` live in ``<cache>/envs/<backend>-<plan hash>``; the
hash covers everything that determines the environment (see ``rebuild.plan_key``), so two
bundles with the same plan share one environment. A reuse touches the completion marker,
so ``prune --older-than`` removes what was not *used* for that long. Package installers'
own caches (uv's, rattler's) are never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .backends.base import COMPLETE_MARKER, is_complete, locked, read_completion

__all__ = ["CachedEnv", "clear", "entries", "is_complete", "prune", "remove", "touch"]
from .locations import cache_dir

SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class CachedEnv:
    """One cached environment."""

    path: Path
    complete: bool
    bundle: str
    python: str
    backend: str
    last_used: float
    size: int


def envs_dir() -> Path:
    """Where cached environments live."""
    return cache_dir() / "envs"


def _size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                continue
    return total


def entries() -> list[CachedEnv]:
    """Every cached environment, most recently used first."""
    if not envs_dir().is_dir():
        return []
    found = []
    for path in envs_dir().iterdir():
        if not path.is_dir() or path.name.startswith("."):
            continue
        record = read_completion(path)
        marker = path / COMPLETE_MARKER
        last_used = marker.stat().st_mtime if marker.exists() else path.stat().st_mtime
        found.append(
            CachedEnv(
                path=path,
                complete=is_complete(path),
                bundle=str(record.get("bundle", "")),
                python=str(record.get("python", "")),
                backend=str(record.get("backend", "")),
                last_used=last_used,
                size=_size(path),
            )
        )
    return sorted(found, key=lambda e: e.last_used, reverse=True)


def touch(prefix: Path) -> None:
    """Record that a cached environment was just used (not on a read-only cache: a cache
    hit needs no write access, it only goes unrecorded for ``prune --older-than``)."""
    marker = prefix / COMPLETE_MARKER
    with contextlib.suppress(OSError):
        os.utime(marker)


def remove(entry: CachedEnv) -> None:
    """Delete one cached environment (waiting for a rebuild that holds it)."""
    with locked(entry.path):
        shutil.rmtree(entry.path, ignore_errors=True)


def prune(older_than_days: float | None) -> list[CachedEnv]:
    """Remove incomplete environments, and complete ones unused for that many days."""
    now = time.time()
    removed = []
    for entry in entries():
        idle_days = (now - entry.last_used) / SECONDS_PER_DAY
        stale = older_than_days is not None and idle_days > older_than_days
        if not entry.complete or stale:
            remove(entry)
            removed.append(entry)
    return removed


def clear() -> list[CachedEnv]:
    """Remove every cached environment."""
    removed = entries()
    for entry in removed:
        remove(entry)
    return removed


def human_size(size: int) -> str:
    """``12.3 MB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
