"""Where rebuild-env keeps its per-user state (``REBUILD_ENV_CACHE_DIR`` overrides)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV_VAR = "REBUILD_ENV_CACHE_DIR"


def cache_dir() -> Path:
    """The per-user cache: environments, index answers, interpreter facts, locks."""
    override = os.environ.get(CACHE_ENV_VAR)
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("rebuild-env"))
