"""What a packed bundle carries: ``BUNDLE/artifacts/<backend>/`` and its record, ``pack.yaml``.

Layout (one folder per backend, each published atomically)::

    BUNDLE/artifacts/venv/pack.yaml          # this module's record (written last)
    BUNDLE/artifacts/venv/wheels/*.whl       # every wheel the plan installs, pip included
    BUNDLE/artifacts/conda/pack.yaml         # the conda backend's record
    BUNDLE/artifacts/conda/channel/<subdir>/ # every solved conda package, indexed as a channel
    BUNDLE/artifacts/conda/wheels/*.whl      # the wheels of the ``pip:`` section

``pack.yaml`` (``format_version: 1``)::

    format_version: 1
    created_by: rebuild-env 0.1.0
    backend: venv
    platform: linux-x86_64                 # sysconfig.get_platform() of the packing machine
    python: {version: 3.11.7, source: bundle.yaml}
    record_key: <sha256>                   # what the plan was made from (see record_key())
    prefer_recorded: false
    exclude_newer: ''                      # as in the plan
    warnings: [...]                        # the plan's warnings and conflicts, kept for offline
    conflicts: [...]
    artifacts:
      - {name: numpy, version: 2.4.6, source: bundle.yaml, filename: numpy-...whl,
         sha256: <hex>, size: 16918164}
    # conda only: an artifact with a ``subdir`` is a package file in channel/<subdir>/, and
    packages: [...]                        # the plan's packages (PyPI names, as planned)
    conda_solution: {...}                  # the solve (spec.conda_solution.to_json)

The user's record files (``bundle.yaml``, ``requirements.txt``, ``MLmodel``...) are never
modified: the pack lives entirely under ``artifacts/``, so it appears (or is replaced) in one
rename and a bundle of any format can be packed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import __version__
from ..errors import BundleError
from ..pins import Pin, RecordedEnv
from ..plan import PlannedPackage
from ..spec import conda_solution
from ..spec.conda_solution import CondaSolution

ARTIFACTS_DIR = "artifacts"
RECORD_FILE = "pack.yaml"
WHEELS_DIR = "wheels"
CHANNEL_DIR = "channel"
FORMAT_VERSION = 1
_TEMP_PREFIX = ".packing-"
_OLD_PREFIX = ".replaced-"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Artifact:
    """One file the bundle carries, and the package it installs."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int
    source: str = ""
    """Why the plan has this package (the plan's source column)."""
    subdir: str = ""
    """For a conda package: the channel subdir it sits in (``linux-64``, ``noarch``)."""


@dataclass(frozen=True)
class PackRecord:
    """``pack.yaml``: the plan a pack was made for, and its artifacts."""

    backend: str
    platform: str
    python_version: str
    python_source: str
    record_key: str
    artifacts: tuple[Artifact, ...]
    prefer_recorded: bool = False
    exclude_newer: str = ""
    warnings: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()
    packages: tuple[PlannedPackage, ...] = ()
    """The plan's packages, when the artifacts are not one per package (conda)."""
    solution: CondaSolution | None = None
    """The conda solve the channel's packages come from."""

    def to_yaml(self) -> str:
        """The file's text."""
        doc: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "created_by": f"rebuild-env {__version__}",
            "backend": self.backend,
            "platform": self.platform,
            "python": {"version": self.python_version, "source": self.python_source},
            "record_key": self.record_key,
            "prefer_recorded": self.prefer_recorded,
            "exclude_newer": self.exclude_newer,
            "warnings": list(self.warnings),
            "conflicts": list(self.conflicts),
            "artifacts": [
                {k: v for k, v in a.__dict__.items() if v != "" or k in ("source",)}
                for a in self.artifacts
            ],
        }
        if self.packages:
            doc["packages"] = [
                {k: list(v) if isinstance(v, tuple) else v for k, v in p.__dict__.items() if v}
                for p in self.packages
            ]
        if self.solution is not None:
            doc["conda_solution"] = _plain(conda_solution.to_json(self.solution))
        return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def _plain(value: object) -> object:
    """JSON-like data with tuples as lists (``yaml.safe_dump`` writes no tuples)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def backend_dir(bundle: Path, backend: str) -> Path:
    """Where the artifacts of ``backend`` live in ``bundle``."""
    return bundle / ARTIFACTS_DIR / backend


def artifact_path(folder: Path, artifact: Artifact) -> Path:
    """Where a pack folder keeps ``artifact``: ``channel/<subdir>/`` or ``wheels/``."""
    if artifact.subdir:
        return folder / CHANNEL_DIR / artifact.subdir / artifact.filename
    return folder / WHEELS_DIR / artifact.filename


def record_key(recorded: RecordedEnv, hints: Sequence[Pin]) -> str:
    """A hash of what a plan is made from: the record's pins and Python, the scan's hints.

    An offline rebuild refuses a pack whose key differs: the record was edited (or the
    model file replaced) after packing, so the artifacts may no longer be the plan's.
    """

    def pins(values: Sequence[Pin]) -> list[list[object]]:
        return sorted(
            [p.name, p.specifier, list(p.hashes), p.url, p.marker, list(p.extras)] for p in values
        )

    doc = {
        "format": recorded.format,
        "pins": pins(recorded.pins),
        "constraints": pins(recorded.constraints),
        "python": recorded.python.version if recorded.python else "",
        "index": [
            recorded.index.index_url,
            *recorded.index.extra_index_urls,
            *recorded.index.find_links,
        ],
        "hints": pins(hints),
        "loader": recorded.model.loader,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fail(path: Path, problem: str) -> BundleError:
    return BundleError(
        f"{problem}",
        path=path,
        hint="pack the bundle again with `rebuild-env pack BUNDLE` on a machine with network",
    )


def _artifact(raw: object, path: Path, i: int) -> Artifact:
    if not isinstance(raw, dict):
        raise _fail(path, f"artifacts[{i}] must be a mapping")
    try:
        artifact = Artifact(
            name=str(raw["name"]),
            version=str(raw["version"]),
            filename=str(raw["filename"]),
            sha256=str(raw["sha256"]),
            size=int(raw.get("size", 0)),
            source=str(raw.get("source", "")),
            subdir=str(raw.get("subdir", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(path, f"artifacts[{i}] is incomplete ({exc})") from None
    if len(artifact.sha256) != 64 or not _plain_name(artifact.filename):
        raise _fail(path, f"artifacts[{i}] has a bad filename or sha256")
    if artifact.subdir and not _plain_name(artifact.subdir):
        raise _fail(path, f"artifacts[{i}] has a bad subdir")
    return artifact


def _plain_name(name: str) -> bool:
    """A single path component: nothing a record could use to point outside its folder."""
    return bool(name) and "/" not in name and "\\" not in name and name not in (".", "..")


def _package(raw: object, path: Path, i: int) -> PlannedPackage:
    if not isinstance(raw, dict):
        raise _fail(path, f"packages[{i}] must be a mapping")
    try:
        return PlannedPackage(
            name=str(raw["name"]),
            version=str(raw.get("version", "")),
            source=str(raw.get("source", "")),
            hashes=tuple(str(h) for h in raw.get("hashes") or ()),
            url=str(raw.get("url", "")),
            extras=tuple(str(e) for e in raw.get("extras") or ()),
        )
    except (KeyError, TypeError) as exc:
        raise _fail(path, f"packages[{i}] is incomplete ({exc})") from None


def _solution(raw: object, path: Path) -> CondaSolution | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, dict):
            raise ValueError("not a mapping")
        return conda_solution.from_json(raw)
    except ValueError as exc:
        raise _fail(path, f"conda_solution cannot be read ({exc})") from None


def read(folder: Path) -> PackRecord | None:
    """The record of a pack folder; ``None`` when there is no complete pack."""
    path = folder / RECORD_FILE
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise _fail(path, f"cannot be read ({exc})") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise _fail(path, f"is not a pack record of format_version {FORMAT_VERSION}")
    python = data.get("python") if isinstance(data.get("python"), dict) else {}
    artifacts, packages = data.get("artifacts"), data.get("packages") or []
    if not isinstance(artifacts, list) or not isinstance(python, dict):
        raise _fail(path, "has no artifacts list")
    if not isinstance(packages, list):
        raise _fail(path, "packages must be a list")
    return PackRecord(
        backend=str(data.get("backend", "")),
        platform=str(data.get("platform", "")),
        python_version=str(python.get("version", "")),
        python_source=str(python.get("source", "")),
        record_key=str(data.get("record_key", "")),
        artifacts=tuple(_artifact(a, path, i) for i, a in enumerate(artifacts)),
        prefer_recorded=bool(data.get("prefer_recorded", False)),
        exclude_newer=str(data.get("exclude_newer") or ""),
        warnings=tuple(str(w) for w in data.get("warnings") or ()),
        conflicts=tuple(str(c) for c in data.get("conflicts") or ()),
        packages=tuple(_package(p, path, i) for i, p in enumerate(packages)),
        solution=_solution(data.get("conda_solution"), path),
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def staging(final: Path) -> Iterator[Path]:
    """A temporary folder beside ``final`` that becomes ``final`` when the block succeeds.

    The record is the last file written inside it, and the folder is renamed into place
    only then: an interrupted pack leaves the bundle as it was (plus, after a SIGKILL, a
    hidden ``.packing-*`` folder that readers ignore and the next pack removes).
    """
    created = not final.parent.exists()
    final.parent.mkdir(parents=True, exist_ok=True)
    for leftover in final.parent.glob(f"{_TEMP_PREFIX}{final.name}-*"):
        _remove(leftover)
    for leftover in final.parent.glob(f"{_OLD_PREFIX}{final.name}-*"):
        _remove(leftover)
    temporary = final.with_name(f"{_TEMP_PREFIX}{final.name}-{os.getpid()}")
    temporary.mkdir()
    try:
        yield temporary
        if not (temporary / RECORD_FILE).is_file():
            raise BundleError("the pack record was not written", path=temporary)
        old = final.with_name(f"{_OLD_PREFIX}{final.name}-{os.getpid()}")
        if final.exists():
            final.rename(old)
        try:
            temporary.rename(final)
        except OSError:
            if old.exists():
                old.rename(final)  # the earlier pack, put back
            raise
        _remove(old)
    except BaseException:
        _remove(temporary)
        if created:  # a bundle that had no artifacts/ folder gets none
            with contextlib.suppress(OSError):
                final.parent.rmdir()
        raise


def write(folder: Path, record: PackRecord) -> Path:
    """Write ``pack.yaml`` into ``folder`` (through a temporary sibling)."""
    path = folder / RECORD_FILE
    tmp = path.with_name(f".{RECORD_FILE}.tmp")
    tmp.write_text(record.to_yaml(), encoding="utf-8")
    tmp.replace(path)
    return path
