"""``environment.yml`` for the conda backend: channels, exact pins, a ``pip:`` section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from ..plan import Plan
from ._files import write_atomically
from .conda_solution import CondaSolution

FILENAME = "environment.yml"
ENV_NAME_FALLBACK = "rebuild-env"


def document(plan: Plan, solution: CondaSolution) -> dict[str, Any]:
    """The file's content as data."""
    deps: list[Any] = list(solution.requested)
    if solution.pip:
        pip_lines: list[str] = []
        index = plan.index
        if index.index_url:
            pip_lines.append(f"--index-url {index.index_url}")
        pip_lines += [f"--extra-index-url {url}" for url in index.extra_index_urls]
        pip_lines += [f"--find-links {url}" for url in index.find_links]
        pip_lines += [p.planned.requirement() for p in solution.pip]
        deps.append({"pip": pip_lines})
    return {
        "name": plan.recorded.bundle_dir.resolve().name or ENV_NAME_FALLBACK,
        "channels": list(solution.channels),
        "dependencies": deps,
    }


def render(plan: Plan, solution: CondaSolution) -> str:
    """The file's text, with a header saying where it came from."""
    header = [
        f"# Written by rebuild-env {__version__} for {plan.recorded.bundle_dir.name}",
        f"# Python {solution.python_version} ({plan.python_source})",
        "# Create: conda env create -f environment.yml   (exact builds: see conda-lock.yml)",
    ]
    body = yaml.safe_dump(document(plan, solution), sort_keys=False, default_flow_style=False)
    return "\n".join(header) + "\n" + body


def write(plan: Plan, solution: CondaSolution, out: Path) -> Path:
    """Write ``environment.yml`` into ``out``."""
    return write_atomically(out, FILENAME, render(plan, solution))
