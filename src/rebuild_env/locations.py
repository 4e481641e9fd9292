"""Where rebuild-env keeps its per-user state (``REBUILD_ENV_CACHE_DIR`` overrides)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import CacheUnwritable

CACHE_ENV_VAR = "REBUILD_ENV_CACHE_DIR"


def cache_dir() -> Path:
    """The per-user cache: environments, index answers, interpreter facts, locks."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rebuild-env"))


def cache_unwritable(exc: OSError, *, where: Path | None = None) -> CacheUnwritable | None:
    """The one-line error for a failed write in the cache (``where``, else the file the
    error names); ``None`` when the error is about something else."""
    cache = cache_dir().absolute()
    target = where or (Path(exc.filename).absolute() if exc.filename else None)
    if target is None or not (target == cache or cache in target.parents):
        return None
    return CacheUnwritable(
        f"the rebuild-env cache cannot be written: {exc.strerror or exc} ({target})",
        path=cache,
        hint=f"set {CACHE_ENV_VAR} to a writable folder (or pass --prefix DIR to build elsewhere)",
    )
