"""Backends build a Plan into an environment: ``venv`` (uv) or ``conda`` (py-rattler).

:func:`get_backend` is the factory (as pipx's ``backends/__init__``): it imports the backend
asked for, so ``base`` (the protocol) never imports its implementations.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import UsageError
from .base import Backend, Environment

__all__ = ["Backend", "Environment", "get_backend"]


def get_backend(
    name: str, *, channels: Sequence[str] = (), conda_exe: str | None = None
) -> Backend:
    """The backend called ``name``; ``channels`` and ``conda_exe`` configure conda's."""
    if name == "venv":
        from .venv import VenvBackend

        return VenvBackend()
    if name == "conda":
        from .conda import CondaBackend

        return CondaBackend(channels, use_external=conda_exe)
    raise UsageError(f"unknown backend {name!r}", hint="use --backend venv or --backend conda")
