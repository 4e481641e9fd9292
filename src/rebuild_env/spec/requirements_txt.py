"""``requirements.txt`` for the venv backend: exact pins, hashes when every package has them."""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..plan import Plan
from ._files import write_atomically

FILENAME = "requirements.txt"


def render(plan: Plan) -> str:
    """The file's text.

    Hashes are written only when every package has one: pip and uv switch to
    hash-checking mode as soon as one line has a hash, and then refuse the others.
    """
    lines = [
        f"# Written by rebuild-env {__version__} for {plan.recorded.bundle_dir.name}",
        f"# Python {plan.python_version} ({plan.python_source})",
    ]
    if plan.exclude_newer:
        lines.append(f"# Unpinned dependencies resolved as of {plan.exclude_newer}")
    lines.append(
        "# Install: uv pip install -r requirements.txt   (or: pip install -r requirements.txt)"
    )
    index = plan.index
    if index.index_url:
        lines.append(f"--index-url {index.index_url}")
    lines.extend(f"--extra-index-url {url}" for url in index.extra_index_urls)
    lines.extend(f"--find-links {url}" for url in index.find_links)
    with_hashes = bool(plan.packages) and all(p.hashes for p in plan.packages)
    for package in sorted(plan.packages, key=lambda p: p.name):
        line = package.requirement()
        if with_hashes:
            line += "".join(f" \\\n    --hash={h}" for h in package.hashes)
        lines.append(f"{line}  # {package.source}" if not with_hashes else line)
    return "\n".join(lines) + "\n"


def write(plan: Plan, out: Path) -> Path:
    """Write ``requirements.txt`` into ``out``."""
    return write_atomically(out, FILENAME, render(plan))
