"""Regenerate ``src/rebuild_env/backends/pypi_to_conda.json``: PyPI name -> conda-forge name.

    python scripts/make_conda_names.py [--grayskull VERSION]

The source is grayskull's maintained table (``grayskull/strategy/config.yaml``, Apache-2.0,
https://github.com/conda/grayskull), read from the grayskull wheel on PyPI, so the data can
be refreshed with one command. Only the names that differ are kept. ``OVERRIDES`` adds the
names rebuild-env's users meet that grayskull's table leaves out, and wins over it.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name

GRAYSKULL_VERSION = "3.2.0"
TABLE = "grayskull/strategy/config.yaml"
OUT = Path(__file__).resolve().parent.parent / "src" / "rebuild_env" / "backends"
OUT_FILE = OUT / "pypi_to_conda.json"
# conda-forge feedstock names grayskull's table does not list (checked by hand).
OVERRIDES = {
    "brotli": "brotli-python",
    "build": "python-build",
    "docker": "docker-py",
    "duckdb": "python-duckdb",
    "flatbuffers": "python-flatbuffers",
    "graphviz": "python-graphviz",
    "kaleido": "python-kaleido",
    "opencv-contrib-python": "opencv",
    "opencv-contrib-python-headless": "opencv",
    "opencv-python-headless": "opencv",
    "psycopg2-binary": "psycopg2",
    "pyqt5": "pyqt",
    "ruamel-yaml": "ruamel.yaml",
    "ruamel-yaml-clib": "ruamel.yaml.clib",
    "stack-data": "stack_data",
    "tzdata": "python-tzdata",
}


def grayskull_table(version: str) -> dict[str, str]:
    """grayskull's PyPI -> conda-forge names that differ, from its wheel on PyPI."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
             ":all:", f"grayskull=={version}", "-d", tmp],
            check=True,
        )  # fmt: skip
        wheel = next(Path(tmp).glob("grayskull-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            data = yaml.safe_load(io.TextIOWrapper(archive.open(TABLE), encoding="utf-8"))
    table: dict[str, str] = {}
    for name, entry in data.items():
        conda = entry.get("conda_forge") if isinstance(entry, dict) else None
        if isinstance(conda, str) and conda != canonicalize_name(str(name)):
            table[canonicalize_name(str(name))] = conda
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grayskull", default=GRAYSKULL_VERSION, help="grayskull release")
    args = parser.parse_args()
    table = {**grayskull_table(args.grayskull), **OVERRIDES}
    doc = {
        "_about": (
            "PyPI distribution name -> conda-forge package name, for the names that differ. "
            f"From grayskull {args.grayskull}'s {TABLE} (Apache-2.0, "
            "https://github.com/conda/grayskull), plus rebuild-env's overrides "
            "(scripts/make_conda_names.py). Every other name is taken to be the same on conda."
        ),
        **dict(sorted(table.items())),
    }
    OUT_FILE.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"{OUT_FILE.name}: {len(table)} names")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
