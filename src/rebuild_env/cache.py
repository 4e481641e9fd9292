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
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .backends.base import (
    COMPLETE_MARKER,
    LOCK_FILE_MODE,
    is_complete,
    read_completion,
    use_lock_path,
)

__all__ = ["CachedEnv", "clear", "entries", "is_complete", "prune", "remove", "touch"]
from .locations import cache_dir

SECONDS_PER_DAY = 86400
LEFTOVER = ".rebuild-env-"


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
    role: str = "reference"
    """``candidate``: built for the upgraded side of ``compare``."""


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


def _entry(path: Path) -> CachedEnv:
    record = read_completion(path)
    marker = path / COMPLETE_MARKER
    try:
        last_used = marker.stat().st_mtime if marker.exists() else path.stat().st_mtime
    except OSError:
        last_used = 0.0
    return CachedEnv(
        path=path,
        complete=is_complete(path),
        bundle=str(record.get("bundle", "")),
        role="candidate" if record.get("role") == "candidate" else "reference",
        python=str(record.get("python", "")),
        backend=str(record.get("backend", "")),
        last_used=last_used,
        size=_size(path),
    )


def entries() -> list[CachedEnv]:
    """Every cached environment, most recently used first."""
    if not envs_dir().is_dir():
        return []
    found = [
        _entry(path)
        for path in envs_dir().iterdir()
        if path.is_dir() and not path.name.startswith(".")
    ]
    return sorted(found, key=lambda e: e.last_used, reverse=True)


def _leftovers() -> list[CachedEnv]:
    """What killed runs left in the cache: an old env moved aside, a half-deleted copy."""
    if not envs_dir().is_dir():
        return []
    return [
        replace(_entry(path), complete=False, bundle="(left by a killed run)")
        for path in envs_dir().iterdir()
        if path.name.startswith(".") and LEFTOVER in path.name and path.is_dir()
    ]


def _owner(path: Path) -> Path:
    """The cache entry a leftover (``.NAME.rebuild-env-old-PID``) belongs to."""
    if path.name.startswith(".") and LEFTOVER in path.name:
        return path.with_name(path.name[1:].split(LEFTOVER)[0])
    return path


def touch(prefix: Path) -> None:
    """Record that a cached environment was just used (not on a read-only cache: a cache
    hit needs no write access, it only goes unrecorded for ``prune --older-than``)."""
    marker = prefix / COMPLETE_MARKER
    with contextlib.suppress(OSError):
        os.utime(marker)


def remove(
    entry: CachedEnv, *, still: Callable[[CachedEnv], bool] = lambda e: True, dry_run: bool = False
) -> CachedEnv | None:
    """Delete one cached environment unless a run is using it; what was removed (sized as it
    was then), or ``None`` when it was in use or no longer qualifies (``still``).

    A rebuild holds the entry's use lock shared from building through its verdict; this
    takes it exclusively without waiting, then looks at the entry again under the lock.
    """
    import fcntl

    owner = _owner(entry.path)
    with contextlib.ExitStack() as stack:
        fd = os.open(use_lock_path(owner), os.O_RDWR | os.O_CREAT, LOCK_FILE_MODE)
        stack.callback(os.close, fd)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        if not entry.path.is_dir():
            return None
        fresh = _entry(entry.path)
        if owner != entry.path:
            fresh = replace(fresh, complete=False, bundle=entry.bundle)
        if not still(fresh):
            return None
        if not dry_run:
            trash = owner.with_name(f".{owner.name}{LEFTOVER}trash-{os.getpid()}")
            shutil.rmtree(trash, ignore_errors=True)
            entry.path.rename(trash)  # a delete killed halfway leaves a leftover, not an env
            shutil.rmtree(trash, ignore_errors=True)
        return fresh


@dataclass(frozen=True)
class Removal:
    """What ``prune`` / ``clear`` removed (or would, with ``--dry-run``) and skipped."""

    removed: tuple[CachedEnv, ...]
    in_use: tuple[CachedEnv, ...]


def _remove_all(
    candidates: list[CachedEnv], still: Callable[[CachedEnv], bool], dry_run: bool
) -> Removal:
    removed, busy = [], []
    for entry in candidates:
        if not still(entry):
            continue
        done = remove(entry, still=still, dry_run=dry_run)
        if done is not None:
            removed.append(done)
        elif entry.path.is_dir():
            busy.append(entry)
    return Removal(tuple(removed), tuple(busy))


def prune(older_than_days: float | None, *, dry_run: bool = False) -> Removal:
    """Remove incomplete environments, leftovers of killed runs, and complete environments
    unused for that many days; never one a running rebuild builds or verifies in."""

    def stale(entry: CachedEnv) -> bool:
        idle_days = (time.time() - entry.last_used) / SECONDS_PER_DAY
        return not entry.complete or (older_than_days is not None and idle_days > older_than_days)

    return _remove_all([*entries(), *_leftovers()], stale, dry_run)


def clear(*, dry_run: bool = False) -> Removal:
    """Remove every cached environment that no running rebuild uses."""
    return _remove_all([*entries(), *_leftovers()], lambda e: True, dry_run)


def human_size(size: int) -> str:
    """``12.3 MB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
