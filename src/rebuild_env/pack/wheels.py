"""The exact wheels of a plan: found with ``uv pip compile --format pylock.toml``, downloaded.

uv has no download command, and the host may have no pip: uv answers which file of each
pinned release installs on the target Python here (its URL and sha256, from the index the
plan names), and the file is fetched and checked against that hash.
"""

from __future__ import annotations

import hashlib
import importlib
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from .. import _subprocess, uv_output
from ..errors import BuildError, ResolveError
from ..interpreters import uv_binary
from ..plan import Plan, PlannedPackage
from ..target import tags_for
from .record import Artifact, file_sha256

LOCATE_TIMEOUT_S = 300.0
DOWNLOAD_TIMEOUT_S = 60.0
SEEDED = "pip"
"""Installed into every venv beside the plan (so users can keep working with pip)."""
SEEDED_SOURCE = "seeded into the venv (rebuild-env pack)"
DEPENDENCY_SOURCE = "a dependency the record leaves out (resolved by uv when packing)"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class WheelFile:
    """Where one planned package's wheel is, and its expected hash."""

    package: PlannedPackage
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        """The wheel's file name (the last part of its URL)."""
        return urllib.parse.unquote(urllib.parse.urlsplit(self.url).path.rsplit("/", 1)[-1])


def _index_lines(plan: Plan) -> list[str]:
    index = plan.index
    lines = [f"--index-url {index.index_url}"] if index.index_url else []
    lines += [f"--extra-index-url {u}" for u in index.extra_index_urls]
    lines += [f"--find-links {u}" for u in index.find_links]
    return lines


def _requirement(package: PlannedPackage) -> str:
    """``name==version``, or the bare name of a package the plan leaves to the resolver."""
    return package.requirement() if package.version or package.url else package.name


def _pylock(plan: Plan, packages: Sequence[PlannedPackage]) -> list[dict[str, Any]]:
    uv = uv_binary()
    if uv is None:
        raise ResolveError("packing needs uv", hint="pip install uv (a dependency of rebuild-env)")
    with tempfile.TemporaryDirectory(prefix="rebuild-env-pack-") as tmp:
        infile, lock = Path(tmp) / "pack.in", Path(tmp) / "pylock.toml"
        lines = _index_lines(plan) + [_requirement(p) for p in packages]
        infile.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args: list[str | Path] = [
            *(uv, "pip", "compile", "--quiet", "--no-header"),
            *("--format", "pylock.toml", "--only-binary", ":all:"),
            *("--python-version", plan.python_version),
            *("--python", plan.interpreter.path if plan.interpreter else sys.executable),
            *(infile, "-o", lock),
        ]
        if plan.exclude_newer:
            args += ["--exclude-newer", plan.exclude_newer]
        try:
            _subprocess.run(
                args,
                env=_subprocess.clean_env({"UV_NO_PROGRESS": "1"}),
                timeout=LOCATE_TIMEOUT_S,
                what="uv pip compile (locating wheels)",
            )
        except BuildError as exc:
            where = uv_output.unreachable(exc.output)
            raise ResolveError(
                f"cannot find the wheels to pack for Python {plan.python_version}: "
                + (f"{where} cannot be reached" if where else uv_output.first_cause(exc.output)),
                hint="packing needs the index; an offline install cannot build from source, "
                "so every package needs a wheel for this Python and platform",
            ) from None
        toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
        entries = toml.loads(lock.read_text(encoding="utf-8")).get("packages", [])
    return [e for e in entries if isinstance(e, dict)]


def _installable(url: str, python_version: str) -> bool:
    name = urllib.parse.unquote(url.rsplit("/", 1)[-1])
    try:
        tags = parse_wheel_filename(name)[3]
    except InvalidWheelFilename:
        return False
    return bool(tags & tags_for(python_version))


def _wheel_of(entry: dict[str, Any], python_version: str) -> tuple[str, str] | None:
    wheels = entry.get("wheels")
    for wheel in wheels if isinstance(wheels, list) else []:
        url = str(wheel.get("url") or wheel.get("path") or "")
        if url and _installable(url, python_version):
            hashes = wheel.get("hashes")
            return url, str(hashes.get("sha256", "")) if isinstance(hashes, dict) else ""
    return None


def locate(plan: Plan) -> list[WheelFile]:
    """The wheel of every planned package (plus pip, which every venv gets) for this machine.

    The closure is resolved again (exactly as pinned) so that a dependency the record left
    out, which an online install would fetch, is carried too. Raises :class:`ResolveError`
    naming every package that has no wheel here.
    """
    packages = list(plan.packages)
    if plan.package(SEEDED) is None:
        packages.append(PlannedPackage(name=SEEDED, version="", source=SEEDED_SOURCE))
    found: list[WheelFile] = []
    missing: list[str] = []
    direct = [p for p in packages if p.url]
    for package in direct:
        sha = next((h.split(":", 1)[1] for h in package.hashes if h.startswith("sha256:")), "")
        if package.url.endswith(".whl") and _installable(package.url, plan.python_version):
            found.append(WheelFile(package, package.url, sha))
        else:
            missing.append(f"{package.name} @ {package.url} (not a wheel for this Python)")
    indexed = [p for p in packages if not p.url]
    planned: dict[str, PlannedPackage] = {p.name: p for p in indexed}
    entries: dict[str, dict[str, Any]] = {
        canonicalize_name(str(e.get("name"))): e for e in _pylock(plan, indexed)
    }
    for name in sorted({*planned, *entries}):
        entry: dict[str, Any] = entries.get(name) or {}
        package = planned.get(name) or PlannedPackage(
            name=name, version=str(entry.get("version", "")), source=DEPENDENCY_SOURCE
        )
        wheel = _wheel_of(entry, plan.python_version)
        if wheel is None:
            missing.append(f"{_requirement(package)} (no wheel for this Python and platform)")
            continue
        version = package.version or str(entry.get("version", ""))
        exact = PlannedPackage(
            name=name, version=version, source=package.source, extras=package.extras
        )
        found.append(WheelFile(exact, *wheel))
    if missing:
        raise ResolveError(
            f"cannot pack for Python {plan.python_version}: " + "; ".join(missing),
            hint="an offline install cannot build from source; pass --python with a version "
            "that has wheels",
        )
    return found


def _download(url: str, target: Path) -> str:
    """Fetch ``url`` (http(s), file:// or a local path) into ``target``; its sha256."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme in ("", "file"):
        source = Path(urllib.parse.unquote(parts.path) if parts.scheme else url)
        shutil.copyfile(source, target)
        return file_sha256(target)
    digest = hashlib.sha256()
    request = urllib.request.Request(url, headers={"User-Agent": "rebuild-env"})
    with (
        urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response,
        target.open("wb") as out,
    ):
        for chunk in iter(lambda: response.read(_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def fetch(
    files: Sequence[WheelFile], into: Path, *, reuse: Sequence[Path] = ()
) -> tuple[Artifact, ...]:
    """Download every wheel into ``into``, each checked against its expected sha256.

    A file already in one of the ``reuse`` folders with the expected hash is copied from
    there instead (packing again needs no download).
    """
    into.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for wheel in files:
        target = into / wheel.filename
        sha = ""
        for folder in reuse:
            earlier = folder / wheel.filename
            if wheel.sha256 and earlier.is_file() and file_sha256(earlier) == wheel.sha256:
                shutil.copyfile(earlier, target)
                sha = wheel.sha256
                break
        if not sha:
            try:
                sha = _download(wheel.url, target)
            except (urllib.error.URLError, OSError) as exc:
                raise ResolveError(
                    f"cannot download {wheel.filename} ({getattr(exc, 'reason', exc)})",
                    hint="packing needs the network (the index the plan names)",
                ) from None
        if wheel.sha256 and sha != wheel.sha256:
            raise ResolveError(
                f"{wheel.filename}: sha256 {sha} does not match the index's {wheel.sha256}",
                hint="the download was corrupted or the index serves another file; pack again",
            )
        package = wheel.package
        artifacts.append(
            Artifact(
                name=package.name,
                version=package.version,
                filename=wheel.filename,
                sha256=sha,
                size=target.stat().st_size,
                source=package.source,
            )
        )
    return tuple(artifacts)
