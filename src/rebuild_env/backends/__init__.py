"""Backends build a Plan into an environment: ``venv`` (uv) or ``conda`` (py-rattler)."""

from __future__ import annotations

from .base import Backend, Environment, get_backend

__all__ = ["Backend", "Environment", "get_backend"]
