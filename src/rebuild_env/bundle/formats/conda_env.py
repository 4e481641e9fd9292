"""A bundle whose environment record is a conda file.

Reads ``environment.yml`` (hand-written, ``conda env export`` with or without build strings,
``--from-history``, a ``pip:`` section), ``conda list --explicit`` files and ``conda-lock.yml``.
Conda specs are parsed with py-rattler's ``MatchSpec``; each conda package that is also a
Python distribution becomes a PyPI-named :class:`Pin` whose ``source`` keeps the conda spec
text (``conda_spec(pin)`` gives it back to the conda backend). Native libraries (openssl,
libgcc...) are left to the backend that installs Python and are listed in one note.
"""

from __future__ import annotations

import platform as host_platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ...errors import BundleError
from ...pins import IndexOptions, ModelSpec, Pin, PythonRecord, RecordedEnv
from ..model_files import find_model_file, loader_for
from ..textfile import read_text
from .bare import REQUIREMENTS_NAMES, python_hint, sample_files
from .conda_names import CONDA_TO_PYPI, is_python_package, pep440_specifier
from .requirements import parse_requirement_lines

NAME = "conda-env"
ENV_FILES = ("environment.yml", "environment.yaml", "conda.yaml", "conda.yml")
LOCK_FILES = ("conda-lock.yml", "conda-lock.yaml")
EXPLICIT_SUFFIXES = (".txt", ".lock")
EXPLICIT_MARKER = "@EXPLICIT"
MAX_EXPLICIT_PROBE_BYTES = 4096
CONDA_SOURCE = "conda: "
_CONDA_ARCHIVE = re.compile(r"\.(conda|tar\.bz2)$")


@dataclass
class CondaRecord:
    """What one conda file says, in rebuild-env's terms."""

    python: PythonRecord | None = None
    pins: list[Pin] = field(default_factory=list)
    index: IndexOptions = field(default_factory=IndexOptions)
    platform: str = ""
    notes: list[str] = field(default_factory=list)
    native: list[str] = field(default_factory=list)
    """Conda packages left to the conda backend (not Python distributions)."""


def conda_spec(pin: Pin) -> str | None:
    """The conda spec a pin was read from (``numpy=1.26.4=py311h...``), if it was."""
    _, marker, spec = pin.source.partition(f"({CONDA_SOURCE}")
    return spec.rstrip(")") if marker else None


def host_subdir() -> str:
    """This machine's conda subdir (``linux-64``, ``osx-arm64``, ``win-64``)."""
    machine = host_platform.machine().lower()
    arch = {"x86_64": "64", "amd64": "64", "arm64": "arm64", "aarch64": "aarch64"}.get(
        machine, "64"
    )
    system = {"darwin": "osx", "win32": "win"}.get(sys.platform, "linux")
    return f"{system}-{arch}"


def _python_record(version_spec: str, source: str) -> PythonRecord | None:
    spec = version_spec.replace(" ", "")
    if not spec or spec == "*":
        return None
    release = spec.removesuffix(".*").removeprefix("==")
    try:
        Version(release)
        return PythonRecord(version=release, source=source)
    except InvalidVersion:
        pass
    converted = pep440_specifier(spec, exact=False)
    return PythonRecord(version=converted, source=source) if converted else None


def _table(value: Any) -> dict[str, Any]:
    """A TOML/YAML/JSON table, or an empty one when the value is missing or not a table."""
    return value if isinstance(value, dict) else {}


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.record = CondaRecord()
        self.assumed: list[str] = []

    def conda_package(self, name: str, version: str, build: str | None, spec: str) -> None:
        """One conda package: Python goes to ``python``, distributions to ``pins``."""
        label = f"{self.path.name} ({CONDA_SOURCE}{spec})"
        if name == "python":
            if self.record.python is None:
                self.record.python = _python_record(version, self.path.name)
            return
        if not is_python_package(name, build):
            self.record.native.append(name)
            return
        pypi = canonicalize_name(CONDA_TO_PYPI.get(name, name))
        specifier = pep440_specifier(version, exact=bool(build))
        if version and not specifier:
            self.record.notes.append(
                f"{label}: version {version!r} has no PyPI equivalent; {pypi} left unpinned"
            )
        if not build and name not in CONDA_TO_PYPI:
            self.assumed.append(name)
        self.record.pins.append(Pin(name=pypi, specifier=specifier, source=label))

    def spec(self, text: str) -> None:
        from rattler import MatchSpec
        from rattler.exceptions import InvalidMatchSpecError

        try:
            match = MatchSpec(text, strict=False)
        except InvalidMatchSpecError as exc:
            raise BundleError(
                f"{text!r} is not a conda package spec ({exc})",
                path=self.path,
                hint="write it as NAME, NAME=VERSION or NAME=VERSION=BUILD",
            ) from None
        if match.name is None:
            raise BundleError(f"{text!r} names no package", path=self.path)
        version = str(match.version) if match.version is not None else ""
        self.conda_package(match.name.normalized, version, match.build, text)

    def finish(self) -> CondaRecord:
        if self.record.native:
            self.record.notes.append(
                f"{self.path.name}: left to conda (not Python distributions): "
                + ", ".join(sorted(set(self.record.native)))
            )
        return self.record


def _yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        raise BundleError(f"is not valid YAML ({str(exc).splitlines()[0]})", path=path) from None


def parse_environment(path: Path, data: dict[str, Any] | None = None) -> CondaRecord:
    """``environment.yml`` / MLflow's ``conda.yaml``: conda specs plus a ``pip:`` section."""
    data = _yaml(path) if data is None else data
    if not isinstance(data, dict):
        raise BundleError("is not a conda environment file (expected a mapping)", path=path)
    deps = data.get("dependencies")
    if deps is None:
        deps = []
    if not isinstance(deps, list):
        raise BundleError("'dependencies' must be a list", path=path)
    reader = _Reader(path)
    pip_lines: list[str] = []
    for item in deps:
        if isinstance(item, str):
            reader.spec(item)
        elif isinstance(item, dict) and list(item) == ["pip"] and isinstance(item["pip"], list):
            pip_lines.extend(str(line) for line in item["pip"] if line is not None)
        elif isinstance(item, (int, float)):
            reader.spec(str(item))
        else:
            raise BundleError(
                f"unexpected entry in 'dependencies': {item!r}",
                path=path,
                hint="entries are conda specs or one 'pip:' list",
            )
    record = reader.record
    index = IndexOptions()
    if pip_lines:
        parsed = parse_requirement_lines(pip_lines, path=path, label=f"{path.name} pip")
        conda_names = {p.name for p in record.pins}
        for pin in parsed.pins:
            if pin.name in conda_names:
                # The same distribution from conda and pip: pip installs last, so pip's wins.
                record.pins = [p for p in record.pins if p.name != pin.name]
                record.notes.append(
                    f"{path.name}: {pin.name} is listed for conda and pip; using the pip entry"
                )
            record.pins.append(pin)
        record.notes.extend(parsed.notes)
        index = parsed.index
    repositories = data.get("pip-repositories")
    if isinstance(repositories, list) and repositories:
        index = IndexOptions(
            index.index_url,
            (*index.extra_index_urls, *(str(r) for r in repositories)),
            index.find_links,
        )
    record.index = index
    if reader.assumed:
        record.notes.append(
            f"{path.name}: conda packages taken to be the PyPI distributions of the same name: "
            + ", ".join(reader.assumed)
        )
    return reader.finish()


def parse_explicit(path: Path, text: str | None = None) -> CondaRecord:
    """``conda list --explicit``: one package URL per line after ``@EXPLICIT``."""
    text = read_text(path) if text is None else text
    reader = _Reader(path)
    seen_marker = False
    for raw in text.split("\n"):
        line = raw.strip()
        if line.startswith("# platform:"):
            reader.record.platform = line.split(":", 1)[1].strip()
        if not line or line.startswith("#"):
            continue
        if line == EXPLICIT_MARKER:
            seen_marker = True
            continue
        if not seen_marker:
            raise BundleError(
                f"has {line!r} before {EXPLICIT_MARKER}", path=path, hint="not an explicit file"
            )
        url = line.split("#", 1)[0]
        filename = unquote(Path(urlparse(url).path).name)
        if not _CONDA_ARCHIVE.search(filename):
            raise BundleError(f"{line!r} is not a conda package URL", path=path)
        stem = _CONDA_ARCHIVE.sub("", filename)
        pieces = stem.rsplit("-", 2)  # conda's file name convention: NAME-VERSION-BUILD
        if len(pieces) != 3:
            raise BundleError(f"cannot read package name from {filename!r}", path=path)
        name, version, build = pieces
        reader.conda_package(name, version, build, f"{name}={version}={build}")
    if not seen_marker:
        raise BundleError(f"has no {EXPLICIT_MARKER} line", path=path)
    return reader.finish()


def parse_lock(path: Path, data: dict[str, Any] | None = None) -> CondaRecord:
    """``conda-lock.yml`` (format version 1): this machine's platform, else the first one."""
    data = _yaml(path) if data is None else data
    packages = data.get("package") if isinstance(data, dict) else None
    if not isinstance(packages, list):
        raise BundleError("is not a conda-lock file (no 'package' list)", path=path)
    metadata = _table(data.get("metadata"))
    listed = metadata.get("platforms")
    platforms = [str(p) for p in listed] if isinstance(listed, list) else []
    wanted = host_subdir() if host_subdir() in platforms or not platforms else platforms[0]
    reader = _Reader(path)
    reader.record.platform = wanted
    if platforms and wanted != host_subdir():
        reader.record.notes.append(
            f"{path.name} has no {host_subdir()} packages; reading its {wanted} entries"
        )
    for entry in packages:
        if not isinstance(entry, dict) or entry.get("platform", wanted) != wanted:
            continue
        if entry.get("optional") or entry.get("category", "main") != "main":
            continue
        name, version = str(entry.get("name", "")), str(entry.get("version", ""))
        if not name or not version:
            raise BundleError(f"package entry without name or version: {entry!r}", path=path)
        hashes = _table(entry.get("hash"))
        sha = hashes.get("sha256")
        if entry.get("manager") == "pip":
            reader.record.pins.append(
                Pin(
                    name=canonicalize_name(name),
                    specifier=f"=={version}",
                    source=f"{path.name} (pip)",
                    hashes=(f"sha256:{sha}",) if sha else (),
                )
            )
            continue
        url = str(entry.get("url", ""))
        stem = _CONDA_ARCHIVE.sub("", unquote(Path(urlparse(url).path).name))
        build = stem.rsplit("-", 2)[-1] if stem.count("-") >= 2 else None
        reader.conda_package(name, version, build, f"{name}={version}={build or '*'}")
    return reader.finish()


def parse_conda_file(path: Path) -> CondaRecord:
    """Any conda environment record, told apart by content rather than by name."""
    text = read_text(path)
    if any(line.strip() == EXPLICIT_MARKER for line in text.split("\n")):
        return parse_explicit(path, text)
    data = _yaml(path)
    if isinstance(data, dict) and "package" in data and "metadata" in data:
        return parse_lock(path, data)
    return parse_environment(path, data)


def _explicit_files(bundle: Path) -> list[Path]:
    found = []
    for candidate in sorted(bundle.glob("*")):
        if candidate.suffix not in EXPLICIT_SUFFIXES or not candidate.is_file():
            continue
        try:
            with candidate.open("rb") as handle:
                head = handle.read(MAX_EXPLICIT_PROBE_BYTES)
        except OSError:
            continue
        if EXPLICIT_MARKER.encode() in head:
            found.append(candidate)
    return found


def record_file(bundle: Path) -> Path | None:
    """The bundle's conda record: a lockfile, else an explicit file, else environment.yml."""
    for name in LOCK_FILES:
        if (bundle / name).is_file():
            return bundle / name
    explicit = _explicit_files(bundle)
    if explicit:
        return explicit[0]
    return next((bundle / n for n in ENV_FILES if (bundle / n).is_file()), None)


def detect(bundle: Path) -> bool:
    """A folder with a model file whose record is conda's.

    A conda lock (``conda-lock.yml``, an ``@EXPLICIT`` file) always counts; a loose
    ``environment.yml`` only when no ``requirements.txt`` sits next to it (then the pip
    list is the author's record and the folder reads as ``bare``; ``--format conda-env``
    reads the environment file instead).
    """
    record = record_file(bundle)
    if record is None or find_model_file(bundle, required=False) is None:
        return False
    if record.name in ENV_FILES:
        return not any((bundle / name).is_file() for name in REQUIREMENTS_NAMES)
    return True


def read(bundle: Path, *, model: Path | None = None) -> RecordedEnv:
    """Read a conda bundle."""
    source = record_file(bundle)
    if source is None:
        raise BundleError(
            "no conda record found (environment.yml, conda-lock.yml or an @EXPLICIT file)",
            path=bundle,
        )
    model_path = model or find_model_file(bundle, required=True)
    assert model_path is not None
    record = parse_conda_file(source)
    return RecordedEnv(
        bundle_dir=bundle,
        format=NAME,
        model=ModelSpec(path=model_path, loader=loader_for(model_path)),
        pins=tuple(record.pins),
        python=record.python or python_hint(bundle),
        sample=sample_files(bundle),
        index=record.index,
        notes=tuple(record.notes),
    )
