"""An ``@EXPLICIT`` file (``conda list --explicit --md5`` format): exact package URLs.

``conda create --file``, ``mamba`` and ``micromamba`` install it without solving. It cannot
hold pip packages; the header says so rather than dropping them silently.
"""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..plan import Plan
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
    out.mkdir(parents=True, exist_ok=True)
    path = out / FILENAME
    tmp = path.with_name(f".{FILENAME}.tmp")
    tmp.write_text(render(plan, solution), encoding="utf-8")
    tmp.replace(path)
    return path
