"""Writing a spec file atomically (a reader never sees half a file)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(out: Path, filename: str, text: str) -> Path:
    """Write ``text`` to ``out/filename`` through a temporary sibling; return the path.

    The sibling's name is unique: bundles with the same plan share a spec folder, and
    ``verify --jobs N`` writes it from several threads (and processes) at once.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    fd, name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".tmp", dir=out)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(name).replace(path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return path
