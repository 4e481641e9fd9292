"""What an interpreter has installed, told by that interpreter: the capture side of ``save``.

``rebuild-env save --python PATH`` must record the versions of the environment that
trained the model, not those of rebuild-env's own environment (a ``pipx`` / ``uv tool``
install has its own scikit-learn). So this script runs with *that* interpreter, in
isolated mode, and prints one JSON document: the Python, the platform, the marker
environment, and every installed distribution with its version, requirements and
top-level modules. It reads metadata only and imports nothing of the user's (except pandas
to turn a ``--csv`` sample into the column-oriented JSON the probe reads), so it needs no
sandbox; loading the model is the probe's job.

Standard library only, and no syntax newer than Python 3.7, like the probe::

    python -I env_inventory.py [--csv SAMPLE.csv OUT.json]
"""

from __future__ import annotations

import json
import os
import platform
import sys
import sysconfig
from pathlib import Path
from typing import Any

PATH = Path(__file__).resolve()
SHA256_HEX_CHARS = 64
CSV_ARGS = 3  # --csv SAMPLE OUT
SKIPPED_TOP_LEVEL = ("__pycache__", "..", "")


def markers() -> dict[str, str]:
    """PEP 508's marker environment (what ``packaging.markers.default_environment`` gives)."""
    impl = sys.implementation
    info = impl.version
    version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        version += info.releaselevel[0] + str(info.serial)
    return {
        "implementation_name": impl.name,
        "implementation_version": version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _top_level(dist: Any) -> list[str]:
    text = dist.read_text("top_level.txt")
    if text:
        return sorted({line.strip() for line in text.splitlines() if line.strip()})
    found = set()
    for path in dist.files or ():
        first = str(path).replace("\\", "/").split("/")[0]
        if first in SKIPPED_TOP_LEVEL or first.endswith((".dist-info", ".egg-info", ".pth")):
            continue
        found.add(first[: -len(".py")] if first.endswith(".py") else first.split(".")[0])
    return sorted(found)


def installed_sha256(dist: Any) -> str | None:
    """The installed wheel's sha256, when the installer recorded it (PEP 610)."""
    text = dist.read_text("direct_url.json")
    if not text:
        return None
    try:
        info = json.loads(text).get("archive_info", {})
    except ValueError:
        return None
    hashes = info.get("hashes") or {}
    value = hashes.get("sha256")
    if not value and "sha256=" in (info.get("hash") or ""):
        value = info["hash"].partition("=")[2]
    return value if isinstance(value, str) and len(value) == SHA256_HEX_CHARS else None


class _DistFolder:
    """A ``*.dist-info`` / ``*.egg-info`` folder read by hand, for Pythons before 3.8 (no
    ``importlib.metadata``): the few attributes :func:`distributions` uses."""

    def __init__(self, path: Path) -> None:
        from email.parser import HeaderParser

        self._path = path
        text = self.read_text("METADATA") or self.read_text("PKG-INFO") or ""
        self.metadata = HeaderParser().parsestr(text)
        self.version = self.metadata["Version"] or ""
        self.requires = self.metadata.get_all("Requires-Dist") or []
        record = self.read_text("RECORD") or self.read_text("installed-files.txt") or ""
        self.files = [line.split(",")[0] for line in record.splitlines() if line.strip()]

    def read_text(self, name: str) -> str | None:
        try:
            return (self._path / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None


def _metadata_distributions() -> list[Any]:
    try:
        from importlib import metadata
    except ImportError:  # Python 3.7: the metadata folders on sys.path, in its order
        found: list[Any] = []
        for entry in sys.path:
            folder = Path(entry or ".")
            if not folder.is_dir():
                continue
            for child in sorted(folder.iterdir()):
                if child.suffix in (".dist-info", ".egg-info") and child.is_dir():
                    found.append(_DistFolder(child))
        return found
    return list(metadata.distributions())


def distributions() -> list[dict[str, Any]]:
    """Every distribution importable here (the first of a name on ``sys.path`` wins)."""
    seen = set()
    found = []
    for dist in _metadata_distributions():
        name = dist.metadata["Name"]
        if not name or name.lower() in seen:
            continue
        seen.add(name.lower())
        found.append(
            {
                "name": name,
                "version": dist.version,
                "requires": list(dist.requires or ()),
                "top_level": _top_level(dist),
                "sha256": installed_sha256(dist),
            }
        )
    return found


def csv_to_json(source: str, target: str) -> None:
    """A CSV sample as the probe's column-oriented table (dtypes as pandas reads them)."""
    import pandas as pd

    frame = pd.read_csv(source)
    columns = []
    for column in frame.columns:
        series = frame[column]
        values = series.astype(object).where(series.notna(), None).tolist()
        columns.append([v.item() if hasattr(v, "item") else v for v in values])
    doc = {
        "kind": "dataframe",
        "columns": [str(c) for c in frame.columns],
        "dtypes": [str(t) for t in frame.dtypes],
        "data": columns,
    }
    with Path(target).open("w") as handle:
        json.dump(doc, handle)


def main(argv: list[str]) -> int:
    """Print the inventory (after converting a ``--csv`` sample, when asked)."""
    if len(argv) == CSV_ARGS and argv[0] == "--csv":
        csv_to_json(argv[1], argv[2])
    doc = {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "platform": sysconfig.get_platform(),
        "markers": markers(),
        "distributions": distributions(),
    }
    sys.stdout.write(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
