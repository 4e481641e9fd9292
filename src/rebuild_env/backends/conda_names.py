"""PyPI distribution names as conda package names.

The table (``pypi_to_conda.json``, shipped with the package) lists only the names that
differ on conda-forge; every other distribution is looked up under its own name. It is
curated by hand: grayskull's 12k-entry map has known wrong entries (tzdata,
psycopg2-binary, ruamel), and a name the channel lacks costs only a move to ``pip:``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from packaging.utils import canonicalize_name

MAPPING_FILE = "pypi_to_conda.json"


@cache
def mapping() -> dict[str, str]:
    """The shipped PyPI -> conda table (canonical PyPI names)."""
    text = resources.files(__package__).joinpath(MAPPING_FILE).read_text(encoding="utf-8")
    data = json.loads(text)
    return {canonicalize_name(k): str(v) for k, v in data.items() if not k.startswith("_")}


def conda_name(pypi_name: str) -> str:
    """The conda package name of a PyPI distribution (the same name when not listed)."""
    canonical = canonicalize_name(pypi_name)
    return mapping().get(canonical, canonical)
