"""What every backend shares: the Backend protocol and the atomic prefix protocol.

Environments are not relocatable (a virtualenv's scripts and a conda prefix's text files
hold their own path), so "build in a temporary directory and rename" would break them.
Instead the environment is built in place with an *incomplete* marker inside it:

- on any failure or Ctrl-C the prefix is removed;
- after a SIGKILL the marker is still there, so the next run knows the prefix is a
  half-built one of ours and rebuilds it without ``--force``;
- an existing complete environment is only replaced with ``--force``, and then it is
  moved aside first and put back if the new build fails, so the user never ends up with
  neither.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import BuildError, PrefixExists, RebuildEnvError
from ..locations import cache_dir, cache_unwritable
from ..plan import Plan

INCOMPLETE_MARKER = ".rebuild-env-incomplete"
COMPLETE_MARKER = "rebuild-env.json"
LOCK_TIMEOUT_S = 3600.0
LOCK_FILE_MODE = 0o644


@dataclass(frozen=True)
class Environment:
    """A built environment."""

    prefix: Path
    python: Path
    """The interpreter inside the environment."""
    backend: str


class Backend(Protocol):
    """A way to build a Plan into an environment."""

    name: str

    @property
    def channels(self) -> tuple[str, ...]:
        """The conda channels in force (none for a venv): another channel is another env,
        so they are part of the plan key."""
        ...

    @property
    def last_warnings(self) -> Sequence[str]:
        """What the last :meth:`write_specs` changed or noticed (the conda mapping's
        substitutions), for the report."""
        ...

    def write_specs(self, plan: Plan, out: Path, *, built: Path | None = None) -> tuple[Path, ...]:
        """Write the spec files a person can re-use without rebuild-env; return their paths.

        ``built``: a complete environment this backend built for the same plan key, whose
        recorded solution may be written instead of solving again.
        """
        ...

    def build(self, plan: Plan, prefix: Path, specs: tuple[Path, ...]) -> Environment:
        """Create the environment at ``prefix`` (emptied and marked by :func:`building`)."""
        ...


def env_python(prefix: Path) -> Path:
    """The interpreter of an environment (venv or conda prefix)."""
    if os.name == "nt":  # pragma: no cover - the tool targets POSIX first
        return prefix / ("Scripts/python.exe" if (prefix / "Scripts").is_dir() else "python.exe")
    return prefix / "bin" / "python"


def is_complete(prefix: Path) -> bool:
    """A prefix that rebuild-env finished building."""
    return (prefix / COMPLETE_MARKER).is_file() and not (prefix / INCOMPLETE_MARKER).exists()


def read_completion(prefix: Path) -> dict[str, object]:
    """The completion record of a finished environment (empty when unreadable)."""
    try:
        data = json.loads((prefix / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def lock_path(prefix: Path) -> Path:
    """Where the lock guarding ``prefix`` lives (outside it, so removing it is safe)."""
    digest = hashlib.sha256(str(prefix.resolve()).encode()).hexdigest()[:16]
    locks = cache_dir() / "locks"
    try:
        locks.mkdir(parents=True, exist_ok=True)
        return locks / f"{digest}.lock"
    except OSError as exc:
        in_cache = cache_dir().absolute() in prefix.absolute().parents
        if in_cache:
            raise cache_unwritable(exc, where=locks) or exc from None
    # A --prefix needs no writable cache: its lock lives beside it.
    return prefix.absolute().with_name(f".{prefix.name}.rebuild-env.lock")


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def use_lock_path(prefix: Path) -> Path:
    """The lock a run holds shared while it builds or verifies in ``prefix``."""
    return lock_path(prefix).with_suffix(".use")


@contextmanager
def in_use(prefix: Path) -> Iterator[None]:
    """Hold ``prefix``'s use lock shared for the block: ``cache prune`` / ``clear`` take it
    exclusively, without waiting, and skip an environment they cannot take it for. Not
    held (nothing to protect) when the lock cannot be created: a read-only cache is not
    pruned either."""
    import fcntl

    try:
        fd = os.open(use_lock_path(prefix), os.O_RDWR | os.O_CREAT, LOCK_FILE_MODE)
    except (OSError, RebuildEnvError):
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


@contextmanager
def locked(prefix: Path) -> Iterator[None]:
    """Hold the lock of ``prefix``: concurrent rebuilds of one environment take turns."""
    from filelock import FileLock

    with FileLock(str(lock_path(prefix)), timeout=LOCK_TIMEOUT_S):
        yield


def _write_failed(exc: OSError, prefix: Path) -> RebuildEnvError:
    in_cache = cache_unwritable(exc, where=prefix)
    if in_cache is not None:
        return in_cache
    where = f" ({exc.filename})" if exc.filename and Path(exc.filename) != prefix else ""
    return BuildError(
        f"cannot write the environment: {exc.strerror or exc}{where}",
        path=prefix,
        hint="choose a --prefix in a writable folder on a disk with free space",
    )


def _aside_name(prefix: Path, kind: str, pid: int | None = None) -> Path:
    return prefix.with_name(f".{prefix.name}.rebuild-env-{kind}-{pid or os.getpid()}")


def _discard(path: Path, prefix: Path) -> None:
    """Delete ``path`` (a copy of ``prefix`` moved aside) after renaming it to a ``trash``
    name: a delete killed halfway leaves nothing a run would mistake for an environment,
    and the next one reclaims it."""
    trash = _aside_name(prefix, "trash")
    _remove(trash)
    path.rename(trash)
    _remove(trash)


def recover(prefix: Path) -> list[str]:
    """Deal with what a killed ``--force`` left beside ``prefix`` (the caller holds its lock,
    so no running build owns any of it); say what was done.

    The old environment moved aside (``.NAME.rebuild-env-old-PID``) is put back when the
    new one never completed, and removed when it did; a half-deleted ``trash`` copy is
    removed.
    """
    notes: list[str] = []
    for trash in prefix.parent.glob(f".{prefix.name}.rebuild-env-trash-*"):
        _remove(trash)
    olds = sorted(
        prefix.parent.glob(f".{prefix.name}.rebuild-env-old-*"), key=lambda p: p.stat().st_mtime
    )
    for old in olds[:-1]:
        _discard(old, prefix)
    if not olds:
        return notes
    old = olds[-1]
    if is_complete(prefix):
        _discard(old, prefix)
        notes.append(f"removed {old}, the environment a killed --force run had replaced")
    else:
        _remove(prefix)
        old.rename(prefix)
        notes.append(
            f"restored {prefix} from {old.name}, where a run killed while replacing it "
            "(--force) had left it"
        )
    return notes


@contextmanager
def building(
    prefix: Path, *, force: bool, record: dict[str, object], notes: list[str] | None = None
) -> Iterator[Path]:
    """Prepare ``prefix`` for an in-place build and make the outcome all-or-nothing.

    Yields the (absolute) prefix. On success writes ``record`` as the completion marker.
    The caller holds :func:`locked` for the prefix. ``notes``: what was recovered from a
    killed run (see :func:`recover`) is appended to it.
    """
    prefix = prefix.absolute()
    aside: Path | None = None
    if prefix.exists() and not prefix.is_dir():
        raise PrefixExists("exists and is a file", path=prefix, hint="choose another --prefix")
    recovered = recover(prefix)
    if notes is not None:
        notes.extend(recovered)
    if prefix.is_dir() and (prefix / INCOMPLETE_MARKER).exists():
        _remove(prefix)  # a half-built environment of ours (the last run was killed)
    elif prefix.is_dir() and any(prefix.iterdir()):
        if not force:
            what = "an environment" if is_complete(prefix) else "a non-empty directory"
            raise PrefixExists(
                f"already exists ({what}{'; ' if recovered else ''}{'; '.join(recovered)})",
                path=prefix,
                hint="pass --force to replace it, or choose another --prefix",
            )
        aside = _aside_name(prefix, "old")
        _remove(aside)
        prefix.rename(aside)
    try:
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / INCOMPLETE_MARKER).write_text("rebuild-env is building this environment\n")
        yield prefix
        (prefix / COMPLETE_MARKER).write_text(
            json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        (prefix / INCOMPLETE_MARKER).unlink()
    except BaseException as exc:
        _remove(prefix)
        if aside is not None:
            aside.rename(prefix)
        if isinstance(exc, OSError):  # a read-only folder, a full disk: the user's to fix
            raise _write_failed(exc, prefix) from exc
        raise
    if aside is not None:
        _discard(aside, prefix)
