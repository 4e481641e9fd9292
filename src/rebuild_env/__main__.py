"""``python -m rebuild_env``."""

from __future__ import annotations

from .cli import entry

if __name__ == "__main__":
    entry()
