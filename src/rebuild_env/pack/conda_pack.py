"""Packing for the conda backend: the solved conda packages as a local channel."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..plan import Plan
from ..rebuild import Options
from .offline import OfflineVenvBackend
from .record import Artifact


def pack_conda(
    plan: Plan, options: Options, staged: Path, *, reuse: Path
) -> tuple[tuple[Artifact, ...], str]:
    """Not available yet."""
    raise UsageError(
        "packing for the conda backend is not available yet", hint="use --backend venv"
    )


class OfflineCondaBackend(OfflineVenvBackend):
    """Not available yet."""
