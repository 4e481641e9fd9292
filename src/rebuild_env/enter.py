"""Stepping into a rebuilt environment: ``rebuild-env run`` and ``rebuild-env shell``.

What ``source bin/activate`` (or ``conda activate``) would change, computed here so that a
command or a subshell gets it without the user's shell reading any script: the env's
``bin`` first on ``PATH``, ``VIRTUAL_ENV`` / ``CONDA_PREFIX`` set, and the variables that
would make its Python read another installation's files removed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from .errors import UsageError

FALLBACK_SHELL = "/bin/sh"
MARKER_VARIABLE = "REBUILD_ENV_PREFIX"
"""Set in the command's environment, so prompts and scripts can tell where they are."""
_UNSET = ("PYTHONHOME", "PYTHONPATH", "__PYVENV_LAUNCHER__")


def activated(backend: str, prefix: Path, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) as the activated env would have it."""
    env = dict(os.environ if base is None else base)
    for name in _UNSET:
        env.pop(name, None)
    bin_dir = str(prefix / "bin")
    env["PATH"] = os.pathsep.join(
        [bin_dir, *(p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir)]
    )
    if backend == "conda":
        env["CONDA_PREFIX"] = str(prefix)
        env["CONDA_DEFAULT_ENV"] = str(prefix)
        env.pop("VIRTUAL_ENV", None)
    else:
        env["VIRTUAL_ENV"] = str(prefix)
        env.pop("CONDA_PREFIX", None)
    env[MARKER_VARIABLE] = str(prefix)
    return env


def resolve_command(command: list[str], env: Mapping[str, str]) -> str:
    """The executable ``command[0]`` names, looked up on the activated ``PATH``."""
    if not command:
        raise UsageError(
            "no command to run", hint="put it after --: rebuild-env run BUNDLE -- python -V"
        )
    found = shutil.which(command[0], path=env.get("PATH"))
    if found is None:
        raise UsageError(
            f"command not found in the environment or on PATH: {command[0]}",
            hint="rebuild-env run BUNDLE -- python -c '...' runs the env's own python",
        )
    return found


def user_shell(env: Mapping[str, str]) -> str:
    """The user's ``$SHELL`` (``/bin/sh`` when unset)."""
    return env.get("SHELL") or FALLBACK_SHELL
