"""What the package index knows about releases: files, tags, Requires-Python, upload times.

Uses the index's JSON simple API (PEP 691, with PEP 700 upload times), cached on disk:
a release's files never change, so answers are kept for a day and then refreshed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, parse_tag
from packaging.utils import (
    InvalidSdistFilename,
    canonicalize_name,
    parse_sdist_filename,
)
from packaging.version import InvalidVersion, Version

from .locations import cache_dir

DEFAULT_INDEX = "https://pypi.org/simple"
CACHE_TTL_S = 24 * 3600
REQUEST_TIMEOUT_S = 20.0
MAX_PARALLEL = 8
_ACCEPT = "application/vnd.pypi.simple.v1+json"


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release on the index."""

    filename: str
    version: Version
    tags: frozenset[Tag]
    """Empty for an sdist."""
    requires_python: str
    upload_time: str
    sha256: str
    yanked: bool


def index_url(recorded: str = "") -> str:
    """The index to ask: the bundle's ``--index-url``, else uv's/pip's setting, else PyPI."""
    for value in (
        recorded,
        os.environ.get("UV_INDEX_URL", ""),
        os.environ.get("PIP_INDEX_URL", ""),
    ):
        if value:
            return value.rstrip("/")
    return DEFAULT_INDEX


def _cache_dir() -> Path:
    return cache_dir() / "index"


def _fetch(url: str, name: str) -> dict[str, object] | None:
    cache = _cache_dir() / f"{hashlib.sha256(url.encode()).hexdigest()[:12]}-{name}.json"
    try:
        if time.time() - cache.stat().st_mtime < CACHE_TTL_S:
            data = json.loads(cache.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        pass
    import urllib.error  # only on a cache miss: importing it costs a cache hit ~45 ms
    import urllib.request

    request = urllib.request.Request(f"{url}/{name}/", headers={"Accept": _ACCEPT})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            body = response.read()
        data = json.loads(body)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(body)
        tmp.replace(cache)
    except OSError:
        pass
    return data


@functools.lru_cache(maxsize=8192)
def _version(text: str) -> Version:
    return Version(text)


@functools.lru_cache(maxsize=8192)
def _wheel_tags(text: str) -> frozenset[Tag]:
    return frozenset(parse_tag(text))


def _parse_file(entry: dict[str, object], wanted: Version | None = None) -> ReleaseFile | None:
    # A project lists thousands of files sharing a few versions and tag sets: parse each
    # distinct string once (packaging's parse_wheel_filename costs ~45 us a file). With
    # ``wanted``, the files of other versions stop at their version (~1 us, not ~6).
    filename = str(entry.get("filename", ""))
    try:
        if filename.endswith(".whl"):
            parts = filename[:-4].split("-")
            if len(parts) not in (5, 6):
                return None
            version = _version(parts[1])
            if wanted is not None and version != wanted:
                return None
            tags = _wheel_tags("-".join(parts[-3:]))
        else:
            _, version = parse_sdist_filename(filename)
            if wanted is not None and version != wanted:
                return None
            tags = frozenset()
    except (InvalidSdistFilename, InvalidVersion, ValueError):
        return None
    hashes = entry.get("hashes")
    return ReleaseFile(
        filename=filename,
        version=version,
        tags=frozenset(tags),
        requires_python=str(entry.get("requires-python") or ""),
        upload_time=str(entry.get("upload-time") or ""),
        sha256=str(hashes.get("sha256", "")) if isinstance(hashes, dict) else "",
        yanked=bool(entry.get("yanked")),
    )


def _exact(text: str) -> Version | None:
    try:
        return _version(text)
    except InvalidVersion:
        return None


def _fetch_all(base: str, names: Sequence[str]) -> list[dict[str, object] | None]:
    """``_fetch`` for each name, a few at once, in daemon threads.

    Not a ThreadPoolExecutor: its workers are joined at exit, so a Ctrl-C while the index
    hangs would wait for every request to time out before the process could end.
    """
    answers: list[dict[str, object] | None] = [None] * len(names)
    todo = iter(range(len(names)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            answers[i] = _fetch(base, names[i])

    workers = [
        threading.Thread(target=work, name="rebuild-env-index", daemon=True)
        for _ in range(min(MAX_PARALLEL, len(names)))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return answers


def release_files(
    names: Iterable[str], *, url: str = "", only: Mapping[str, str] | None = None
) -> dict[str, list[ReleaseFile]] | None:
    """Files of each project, fetched in parallel; ``None`` when the index cannot be read.

    ``only`` maps a project to the one version whose files are wanted (an exact pin): the
    others are left out, which keeps a cache hit from parsing ~10,000 files it never uses.
    """
    base = index_url(url)
    wanted = sorted({canonicalize_name(n) for n in names})
    versions = {canonicalize_name(k): _exact(v) for k, v in (only or {}).items()}
    answers = _fetch_all(base, wanted)
    if any(a is None for a in answers) and all(a is None for a in answers):
        return None
    result: dict[str, list[ReleaseFile]] = {}
    for name, data in zip(wanted, answers, strict=True):
        files = data.get("files") if data else None
        version = versions.get(name)
        parsed = (
            [_parse_file(f, version) for f in files if isinstance(f, dict)]
            if isinstance(files, list)
            else []
        )
        result[name] = [f for f in parsed if f is not None]
    return result


def supports_python(files: list[ReleaseFile], python: Version, tags: frozenset[Tag]) -> bool:
    """Whether a release can be installed on ``python`` without building from source.

    A release with only an sdist counts as installable when its Requires-Python admits
    the version (pure-Python projects often ship only sdists).
    """
    usable = []
    for f in files:
        try:
            if f.requires_python and python not in SpecifierSet(f.requires_python):
                continue
        except InvalidSpecifier:
            pass
        usable.append(f)
    wheels = [f for f in usable if f.tags]
    if wheels:
        return any(f.tags & tags for f in wheels)
    return bool(usable)


def day_after_newest(uploads: Iterable[str]) -> str:
    """The day after the newest of these upload times (``2021-04-29``), or empty: what
    "as of the time these releases were current" means for ``--exclude-newer``."""
    newest = max((u for u in uploads if u), default="")
    if not newest:
        return ""
    moment = datetime.fromisoformat(newest.replace("Z", "+00:00"))
    return (moment + timedelta(days=1)).date().isoformat()


def upload_date(files: list[ReleaseFile]) -> str:
    """The latest upload time of a release's files (RFC 3339), or empty."""
    return max((f.upload_time for f in files if f.upload_time), default="")


METADATA_SUFFIX = ".metadata"
"""PEP 658: a wheel's ``METADATA`` is served beside it at ``<file URL>.metadata``."""
MAX_METADATA_TRIES = 3
"""Wheels of one release asked for their metadata before giving up (they all share it)."""


def wheel_metadata(name: str, version: str, *, url: str = "") -> str | None:
    """The core metadata (``METADATA`` text) of one release, from the index; ``None`` if unknown.

    Read from any of the release's wheels (PEP 658), so that a release whose metadata a
    modern resolver rejects can be described to it again (uv's ``dependency-metadata``).
    """
    data = _fetch(index_url(url), canonicalize_name(name))
    files = data.get("files") if data else None
    wanted = _exact(version)
    if not isinstance(files, list) or wanted is None:
        return None
    import urllib.error
    import urllib.request

    links = [
        str(entry.get("url") or "")
        for entry in files
        if isinstance(entry, dict) and (parsed := _parse_file(entry, wanted)) and parsed.tags
    ]
    for link in [u for u in links if u][:MAX_METADATA_TRIES]:
        try:
            with urllib.request.urlopen(
                link + METADATA_SUFFIX, timeout=REQUEST_TIMEOUT_S
            ) as response:
                return bytes(response.read()).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, ValueError):
            continue
    return None
