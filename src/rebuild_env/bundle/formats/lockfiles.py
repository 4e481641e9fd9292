"""Lockfiles next to a model: ``pylock.toml`` (PEP 751), ``uv.lock``, ``poetry.lock``,
``Pipfile.lock``.

Each gives exact versions and file hashes. When a folder holds several, the first in
:data:`PRECEDENCE` wins (the standard format first, then the one recording the most: uv,
poetry, pipenv) and a note names the others; ``--format NAME`` picks another.
Development-only groups (Pipfile ``develop``, poetry's ``dev`` category) are left out.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ...errors import BundleError
from ...pins import IndexOptions, ModelSpec, Pin, PythonRecord, RecordedEnv
from ..model_files import find_model_file, loader_for
from ..textfile import read_text
from .bare import python_hint, sample_files

DEFAULT_INDEX = "https://pypi.org/simple"
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")  # a PEP 508 name


@dataclass
class _Lock:
    pins: list[Pin]
    python: PythonRecord | None = None
    index: IndexOptions = field(default_factory=IndexOptions)
    notes: tuple[str, ...] = ()


def _table(value: Any) -> dict[str, Any]:
    """A TOML/YAML/JSON table, or an empty one when the value is missing or not a table."""
    return value if isinstance(value, dict) else {}


def _tables(value: Any) -> list[dict[str, Any]]:
    """The tables of an array of tables; anything else holds none."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _name(entry: dict[str, Any], path: Path) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BundleError(f"package entry without a name: {entry!r:.80}", path=path)
    return canonicalize_name(name)


def _toml(path: Path) -> dict[str, Any]:
    module = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    try:
        data = module.loads(read_text(path))
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise BundleError(f"is not valid TOML ({exc})", path=path) from None
    if not isinstance(data, dict):  # pragma: no cover - TOML documents are tables
        raise BundleError("is not a TOML table", path=path)
    return data


def _list(data: dict[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BundleError(f"'{key}' must be an array of tables", path=path)
    return value


def _version(entry: dict[str, Any], path: Path) -> str:
    text = str(entry.get("version", ""))
    try:
        Version(text)
    except InvalidVersion:
        raise BundleError(
            f"package {entry.get('name')!r} has no valid version ({text!r})", path=path
        ) from None
    return text


def _python(spec: Any, source: str) -> PythonRecord | None:
    if not spec or not isinstance(spec, str) or spec.strip() == "*":
        return None
    text = spec.strip()
    try:
        Version(text)
        return PythonRecord(version=text, source=source)
    except InvalidVersion:
        pass
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return None
    return PythonRecord(version=text, source=source)


def _hash_of(value: Any) -> str | None:
    return value if isinstance(value, str) and ":" in value else None


def _vcs_url(source: dict[str, Any]) -> str:
    url = str(source.get("git") or source.get("url") or "")
    return url if url.startswith("git+") else f"git+{url}"


def read_uv_lock(path: Path) -> _Lock:
    """``uv.lock``: every ``[[package]]`` except the project itself."""
    data = _toml(path)
    pins, notes = [], []
    seen: dict[str, str] = {}
    for entry in _list(data, "package", path):
        source = _table(entry.get("source"))
        name = _name(entry, path)
        if "virtual" in source or "editable" in source or "directory" in source:
            continue  # the locked project (or a local path) is not a package to install
        if name in seen:
            notes.append(
                f"{path.name}: {name} is locked at several versions ({seen[name]}, "
                f"{entry.get('version')}) for different platforms; using {seen[name]}"
            )
            continue
        hashes = [_hash_of(_table(entry.get("sdist")).get("hash"))]
        hashes += [_hash_of(w.get("hash")) for w in _tables(entry.get("wheels"))]
        if "git" in source:
            # uv writes git = "https://host/repo?rev=main#<commit>"; pip wants repo@<commit>
            repo, _, commit = str(source["git"]).partition("#")
            url = _vcs_url({"git": repo.split("?", 1)[0]}) + (f"@{commit}" if commit else "")
            pins.append(Pin(name=name, source=path.name, url=url))
            seen[name] = "git"
            continue
        if "path" in source:
            notes.append(f"{path.name}: {name} came from a local file; using the index")
        version = _version(entry, path)
        seen[name] = version
        pins.append(
            Pin(
                name=name,
                specifier=f"=={version}",
                source=path.name,
                hashes=tuple(h for h in hashes if h),
            )
        )
    registries = {
        str(e["source"]["registry"])
        for e in _list(data, "package", path)
        if isinstance(e.get("source"), dict) and "registry" in e["source"]
    }
    index = IndexOptions()
    if registries and registries != {DEFAULT_INDEX}:
        first, *rest = sorted(registries)
        index = IndexOptions(index_url=first, extra_index_urls=tuple(rest))
    return _Lock(pins, _python(data.get("requires-python"), path.name), index, tuple(notes))


def read_poetry_lock(path: Path) -> _Lock:
    """``poetry.lock``: ``[[package]]`` with ``[[package.files]]`` hashes."""
    data = _toml(path)
    pins, notes = [], []
    for entry in _list(data, "package", path):
        name = _name(entry, path)
        groups = entry.get("groups")
        if entry.get("category") == "dev" or (isinstance(groups, list) and "main" not in groups):
            notes.append(f"{path.name}: left out development dependency {name}")
            continue
        source = _table(entry.get("source"))
        if source.get("type") == "git":
            reference = source.get("resolved_reference") or source.get("reference") or ""
            url = _vcs_url(source) + (f"@{reference}" if reference else "")
            pins.append(Pin(name=name, source=path.name, url=url))
            continue
        if source.get("type") in ("directory", "file"):
            notes.append(f"{path.name}: {name} came from a local path; using the index")
        hashes = tuple(
            h for h in (_hash_of(f.get("hash")) for f in _tables(entry.get("files"))) if h
        )
        version = _version(entry, path)
        pins.append(Pin(name=name, specifier=f"=={version}", source=path.name, hashes=hashes))
    metadata = _table(data.get("metadata"))
    python = _python(metadata.get("python-versions"), path.name)
    sources = sorted(
        {
            str(_table(e.get("source")).get("url")).rstrip("/")
            for e in _list(data, "package", path)
            if _table(e.get("source")).get("type") == "legacy"
        }
        - {DEFAULT_INDEX}
    )
    index = IndexOptions(sources[0], tuple(sources[1:])) if sources else IndexOptions()
    return _Lock(pins, python, index, tuple(notes))


def read_pipfile_lock(path: Path) -> _Lock:
    """``Pipfile.lock`` (JSON): the ``default`` section; ``develop`` is left out."""
    try:
        data = json.loads(read_text(path))
    except ValueError as exc:
        raise BundleError(f"is not valid JSON ({exc})", path=path) from None
    default = data.get("default") if isinstance(data, dict) else None
    if not isinstance(default, dict):
        raise BundleError("has no 'default' section", path=path, hint="is it a Pipfile.lock?")
    pins, notes = [], []
    for raw_name, entry in default.items():
        if not isinstance(entry, dict):
            raise BundleError(f"entry {raw_name!r} must be an object", path=path)
        if not _NAME.fullmatch(raw_name):
            raise BundleError(f"entry {raw_name!r} is not a package name", path=path)
        name = canonicalize_name(raw_name)
        marker = str(entry.get("markers") or "")
        try:
            marker = str(Marker(marker)) if marker else ""
        except InvalidMarker:
            notes.append(f"{path.name}: ignored invalid marker of {name}: {marker!r}")
            marker = ""
        if "git" in entry:
            ref = entry.get("ref")
            url = _vcs_url(entry) + (f"@{ref}" if ref else "")
            pins.append(Pin(name=name, source=path.name, url=url, marker=marker))
            continue
        if "path" in entry or "file" in entry:
            notes.append(f"{path.name}: {name} came from a local path; using the index")
        spec = str(entry.get("version") or "").strip()
        spec = "" if spec == "*" else spec
        try:
            SpecifierSet(spec)
        except InvalidSpecifier:
            raise BundleError(f"{name} has an invalid version {spec!r}", path=path) from None
        listed = entry.get("hashes")
        hashes = tuple(h for h in map(_hash_of, listed if isinstance(listed, list) else []) if h)
        pins.append(
            Pin(
                name=name,
                specifier=spec,
                source=path.name,
                hashes=hashes,
                marker=marker,
                extras=tuple(sorted(str(e) for e in _strings(entry.get("extras")))),
            )
        )
    develop = data.get("develop")
    if isinstance(develop, dict) and develop:
        notes.append(f"{path.name}: left out {len(develop)} development packages ('develop')")
    meta = _table(data.get("_meta"))
    requires = _table(meta.get("requires"))
    python = _python(
        requires.get("python_full_version") or requires.get("python_version"), path.name
    )
    sources = [str(s["url"]) for s in _tables(meta.get("sources")) if s.get("url")]
    index = IndexOptions()
    if sources and sources != [DEFAULT_INDEX]:
        index = IndexOptions(index_url=sources[0], extra_index_urls=tuple(sources[1:]))
    return _Lock(pins, python, index, tuple(notes))


def read_pylock(path: Path) -> _Lock:
    """``pylock.toml`` (PEP 751): ``[[packages]]`` with per-file ``hashes`` tables."""
    data = _toml(path)
    lock_version = str(data.get("lock-version", ""))
    if not lock_version.startswith("1."):
        raise BundleError(
            f"has lock-version {lock_version!r}; rebuild-env reads version 1.x", path=path
        )
    pins = []
    indexes: list[str] = []
    for entry in _list(data, "packages", path):
        name = _name(entry, path)
        marker = str(entry.get("marker") or "")
        vcs = entry.get("vcs") if isinstance(entry.get("vcs"), dict) else None
        if vcs is not None:
            commit = vcs.get("commit-id") or vcs.get("requested-revision") or ""
            url = f"{vcs.get('type', 'git')}+{vcs.get('url', '')}" + (
                f"@{commit}" if commit else ""
            )
            pins.append(Pin(name=name, source=path.name, url=url, marker=marker))
            continue
        files = [entry.get("sdist"), entry.get("archive"), *_tables(entry.get("wheels"))]
        hashes = []
        for file in files:
            table = file.get("hashes") if isinstance(file, dict) else None
            if isinstance(table, dict):
                hashes += [f"{algo}:{digest}" for algo, digest in table.items()]
        index = entry.get("index")
        if isinstance(index, str) and index not in indexes:
            indexes.append(index)
        version = _version(entry, path) if entry.get("version") is not None else ""
        pins.append(
            Pin(
                name=name,
                specifier=f"=={version}" if version else "",
                source=path.name,
                hashes=tuple(hashes),
                marker=marker,
            )
        )
    options = IndexOptions()
    if indexes and indexes != [DEFAULT_INDEX]:
        options = IndexOptions(index_url=indexes[0], extra_index_urls=tuple(indexes[1:]))
    return _Lock(pins, _python(data.get("requires-python"), path.name), options)


@dataclass(frozen=True)
class LockfileKind:
    """One lockfile format: its ``--format`` name, file names and parser."""

    name: str
    filenames: tuple[str, ...]
    parse: Callable[[Path], _Lock]

    def file(self, bundle: Path) -> Path | None:
        """This kind's lockfile in ``bundle``, if any (``pylock.*.toml`` included)."""
        for filename in self.filenames:
            matches = sorted(bundle.glob(filename)) if "*" in filename else [bundle / filename]
            found = next((m for m in matches if m.is_file()), None)
            if found is not None:
                return found
        return None

    def detect(self, bundle: Path) -> bool:
        """A folder with this lockfile and a model file."""
        return self.file(bundle) is not None and bool(find_model_file(bundle, required=False))

    def read(self, bundle: Path, *, model: Path | None = None) -> RecordedEnv:
        """Read the bundle from this lockfile."""
        path = self.file(bundle)
        if path is None:
            raise BundleError(f"no {' or '.join(self.filenames)} in this folder", path=bundle)
        model_path = model or find_model_file(bundle, required=True)
        assert model_path is not None
        lock = self.parse(path)
        notes = list(lock.notes)
        others = [k.file(bundle) for k in PRECEDENCE if k is not self]
        ignored = [o.name for o in others if o is not None]
        if ignored:
            notes.append(
                f"read {path.name}; also found {', '.join(ignored)} (ignored; "
                "choose one with --format " + "|".join(k.name for k in PRECEDENCE) + ")"
            )
        if not lock.pins:
            notes.append(f"{path.name} locks no packages")
        python = python_hint(bundle) or lock.python
        return RecordedEnv(
            bundle_dir=bundle,
            format=self.name,
            model=ModelSpec(path=model_path, loader=loader_for(model_path)),
            pins=tuple(lock.pins),
            python=python,
            sample=sample_files(bundle),
            index=lock.index,
            notes=tuple(notes),
        )


PRECEDENCE: tuple[LockfileKind, ...] = (
    LockfileKind("pylock", ("pylock.toml", "pylock.*.toml"), read_pylock),
    LockfileKind("uv-lock", ("uv.lock",), read_uv_lock),
    LockfileKind("poetry-lock", ("poetry.lock",), read_poetry_lock),
    LockfileKind("pipfile-lock", ("Pipfile.lock",), read_pipfile_lock),
)
NAMES = tuple(kind.name for kind in PRECEDENCE)
