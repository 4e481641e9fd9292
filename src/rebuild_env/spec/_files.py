"""Writing a spec file atomically (a reader never sees half a file)."""

from __future__ import annotations

from pathlib import Path


def write_atomically(out: Path, filename: str, text: str) -> Path:
    """Write ``text`` to ``out/filename`` through a temporary sibling; return the path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / filename
    tmp = path.with_name(f".{filename}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
