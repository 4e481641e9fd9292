"""An ``@EXPLICIT`` file (``conda list --explicit --md5`` format): exact package URLs.

``conda create --file``, ``mamba`` and ``micromamba`` install it without solving. It cannot
hold pip packages; the header says so rather than dropping them silently.
"""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..plan import Plan
from ._files import write_atomically
from .conda_solution import CondaSolution

FILENAME = "conda-explicit.txt"
MARKER = "@EXPLICIT"


def render(plan: Plan, solution: CondaSolution) -> str:
    """The file's text."""
    lines = [
        f"# Written by rebuild-env {__version__} for {plan.recorded.bundle_dir.name}",
        "# Create: conda create --name ENV --file conda-explicit.txt",
        f"# platform: {solution.platform}",
    ]
    if solution.pip:
        lines.append(
            "# Not conda packages (install afterwards with pip): "
            + " ".join(p.planned.requirement() for p in solution.pip)
        )
    lines.append(MARKER)
    lines += [f"{p.url}#{p.md5}" if p.md5 else p.url for p in solution.packages]
    return "\n".join(lines) + "\n"


def write(plan: Plan, solution: CondaSolution, out: Path) -> Path:
    """Write the explicit file into ``out``."""
    return write_atomically(out, FILENAME, render(plan, solution))
