"""A cheap fingerprint of an environment's installed files, taken when it is verified.

A stored verification says "this model predicted identically *in this env*". The env can
change behind rebuild-env's back (a file deleted, ``pip install numpy==...`` run in it), and
then the stored verdict no longer holds. Hashing every installed file would cost more than
the probe itself, so the fingerprint records, for each top-level entry of ``site-packages``
(and each ``conda-meta`` record), a digest of every file's relative path, size and mtime,
plus the installed distributions and versions read from ``*.dist-info`` / ``conda-meta``
names. Nothing is opened or read: a few thousand ``stat`` calls (~15 ms for a
scikit-learn stack, against ~1 s for the probe's imports).

Bytecode (``__pycache__``, ``*.pyc``) is left out: the probe itself writes it.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIGEST_CHARS = 16
CONDA_META = "conda-meta"
BYTECODE_DIR = "__pycache__"
BYTECODE_SUFFIX = ".pyc"
DIST_INFO_SUFFIX = ".dist-info"
_CONDA_RECORD_PARTS = 3  # name-version-build.json
_NAME_SEPARATORS = re.compile(r"[-_.]+")


def _canonical(name: str) -> str:
    """PEP 503 normalisation (packaging's, without importing it on a cache hit)."""
    return _NAME_SEPARATORS.sub("-", name).lower()


@dataclass(frozen=True)
class EnvFingerprint:
    """What an environment held when it was verified."""

    distributions: dict[str, str] = field(default_factory=dict)
    """Installed distribution (canonical name) -> version."""
    entries: dict[str, str] = field(default_factory=dict)
    """``lib/python3.11/site-packages/sklearn`` -> digest of the files under it."""

    def to_json(self) -> dict[str, Any]:
        """The fingerprint as stored with the verification."""
        return {"distributions": self.distributions, "entries": self.entries}

    @classmethod
    def from_json(cls, data: object) -> EnvFingerprint | None:
        """A stored fingerprint (``None`` when absent or malformed)."""
        if not isinstance(data, dict):
            return None
        dists, entries = data.get("distributions"), data.get("entries")
        if not isinstance(dists, dict) or not isinstance(entries, dict):
            return None
        return cls(
            {str(k): str(v) for k, v in dists.items()}, {str(k): str(v) for k, v in entries.items()}
        )


def _site_packages(prefix: Path) -> list[Path]:
    return sorted(p for p in prefix.glob("lib/python*/site-packages") if not p.is_symlink())


def _digest_tree(path: str, digest: Any) -> None:
    with os.scandir(path) as listing:
        for entry in sorted(listing, key=lambda e: e.name):
            if entry.name == BYTECODE_DIR or entry.name.endswith(BYTECODE_SUFFIX):
                continue
            if entry.is_dir(follow_symlinks=False):
                digest.update(f"{entry.name}/\0".encode())
                _digest_tree(entry.path, digest)
            else:
                st = entry.stat(follow_symlinks=False)
                digest.update(f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())


def _digest_entry(entry: os.DirEntry[str]) -> str:
    digest = hashlib.sha256()
    if entry.is_dir(follow_symlinks=False):
        _digest_tree(entry.path, digest)
    else:
        st = entry.stat(follow_symlinks=False)
        digest.update(f"{st.st_size}\0{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:DIGEST_CHARS]


def take(prefix: Path) -> EnvFingerprint:
    """The fingerprint of the environment at ``prefix`` now."""
    dists: dict[str, str] = {}
    entries: dict[str, str] = {}
    folders = [*_site_packages(prefix)]
    if (prefix / CONDA_META).is_dir():
        folders.append(prefix / CONDA_META)
    for folder in folders:
        where = folder.relative_to(prefix).as_posix()
        with os.scandir(folder) as listing:
            for entry in listing:
                if entry.name == BYTECODE_DIR or entry.name.endswith(BYTECODE_SUFFIX):
                    continue
                entries[f"{where}/{entry.name}"] = _digest_entry(entry)
                if entry.name.endswith(DIST_INFO_SUFFIX):
                    name, _, version = entry.name[: -len(DIST_INFO_SUFFIX)].partition("-")
                    dists[_canonical(name)] = version
                elif folder.name == CONDA_META and entry.name.endswith(".json"):
                    parts = entry.name[: -len(".json")].rsplit("-", _CONDA_RECORD_PARTS - 1)
                    if len(parts) == _CONDA_RECORD_PARTS:
                        dists.setdefault(_canonical(parts[0]), parts[1])
    return EnvFingerprint(dists, entries)


def _owners(prefix: Path) -> dict[str, str]:
    """Installed file or folder (relative to the prefix) -> the distribution that owns it.

    Read from the ``RECORD`` files: only done to explain a fingerprint that changed.
    """
    owners: dict[str, str] = {}
    for folder in _site_packages(prefix):
        where = folder.relative_to(prefix).as_posix()
        for info in folder.glob(f"*{DIST_INFO_SUFFIX}"):
            name = _canonical(info.name[: -len(DIST_INFO_SUFFIX)].partition("-")[0])
            owners[f"{where}/{info.name}"] = name
            try:
                with (info / "RECORD").open(encoding="utf-8", newline="") as handle:
                    for row in csv.reader(handle):
                        if row and not row[0].startswith(".."):
                            owners.setdefault(f"{where}/{row[0].split('/')[0]}", name)
            except OSError:
                continue
    return owners


def changes(before: EnvFingerprint, now: EnvFingerprint, prefix: Path) -> tuple[str, ...]:
    """What changed, per distribution: ``numpy 2.4.6 -> 2.0.2``, ``scikit-learn (files
    changed)``, ``pandas (installed)``; empty when nothing did."""
    found: dict[str, str] = {}
    for name in sorted(set(before.distributions) | set(now.distributions)):
        old, new = before.distributions.get(name), now.distributions.get(name)
        if old is None:
            found[name] = f"{name} {new} (installed)"
        elif new is None:
            found[name] = f"{name} {old} (removed)"
        elif old != new:
            found[name] = f"{name} {old} -> {new}"
    changed = {
        path
        for path in set(before.entries) | set(now.entries)
        if before.entries.get(path) != now.entries.get(path)
    }
    if changed:
        owners = _owners(prefix)
        for path in sorted(changed):
            leaf = path.rsplit("/", 1)[-1]
            if path.startswith(f"{CONDA_META}/"):
                name = _canonical(
                    leaf.removesuffix(".json").rsplit("-", _CONDA_RECORD_PARTS - 1)[0]
                )
            else:
                name = owners.get(path) or leaf
            found.setdefault(name, f"{name} (files changed)")
    return tuple(found.values())
