"""``requirements.txt`` in the pip-freeze dialect people really write.

Handles comments, blank lines, line continuations, environment markers, extras,
``--hash``, ``-r``/``-c`` includes, index options, editable/VCS lines and direct
references to local wheels that no longer exist. Every requirement is parsed with
``packaging``; a line that is neither a requirement nor a known option is an error
naming the file and line.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from packaging.requirements import InvalidRequirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from ...errors import BundleError
from ...pins import IndexOptions, Pin
from ..textfile import read_text

MAX_INCLUDE_DEPTH = 10
SHOWN_CHARS = 80  # of a bad line, in its error (a binary file makes a long one)
_COMMENT = re.compile(r"(^|\s+)#.*$")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_VCS_URL = re.compile(r"^(git|hg|svn|bzr)\+[a-z]+://", re.IGNORECASE)
# Options that only tune how pip installs; they do not change what is installed.
_IGNORED_OPTIONS = frozenset(
    {
        "--pre",
        "--prefer-binary",
        "--no-binary",
        "--only-binary",
        "--trusted-host",
        "--use-feature",
        "--require-hashes",
        "--no-index",
        "--config-settings",
        "--global-option",
    }
)
_OPTIONS_WITH_VALUE = frozenset(
    {"--no-binary", "--only-binary", "--trusted-host", "--use-feature", "--config-settings"}
)


@dataclass
class RequirementsFile:
    """What one requirements file (with its includes) says."""

    pins: list[Pin] = field(default_factory=list)
    constraints: list[Pin] = field(default_factory=list)
    index_url: str = ""
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def index(self) -> IndexOptions:
        """The index options as the frozen value the plan uses."""
        return IndexOptions(self.index_url, tuple(self.extra_index_urls), tuple(self.find_links))


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join ``\\`` continuations and strip comments; keep the first physical line number."""
    out: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.split("\n"), start=1):
        if not buffer:
            start = number
        line = raw.rstrip()
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        cleaned = _COMMENT.sub("", buffer).strip()
        if cleaned:
            out.append((start, cleaned))
        buffer = ""
    if buffer.strip():
        out.append((start, _COMMENT.sub("", buffer).strip()))
    return out


def pin_from_archive_url(url: str, *, source: str) -> tuple[Pin, str] | None:
    """``name==version`` recovered from a wheel or sdist file name in a URL or path."""
    filename = unquote(Path(urlparse(url).path).name)
    try:
        if filename.endswith(".whl"):
            name, version, *_ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return Pin(name=canonicalize_name(name), specifier=f"=={version}", source=source), filename


def _is_unreachable(url: str) -> bool:
    """A local path or ``file://`` URL that does not exist on this machine."""
    parsed = urlparse(url)
    if parsed.scheme not in ("file", ""):
        return False
    local = Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(url)
    return not (local.is_absolute() and local.exists())


class _Parser:
    def __init__(self) -> None:
        self.result = RequirementsFile()
        self._seen: set[Path] = set()

    def parse(self, path: Path, *, constraint: bool = False, depth: int = 0) -> None:
        resolved = path.resolve()
        if resolved in self._seen:
            return
        if depth > MAX_INCLUDE_DEPTH:
            raise BundleError("includes nest too deeply", path=path)
        self._seen.add(resolved)
        if not path.is_file():
            raise BundleError("included requirements file does not exist", path=path)
        self.parse_text(read_text(path), path=path, constraint=constraint, depth=depth)

    def parse_text(
        self,
        text: str,
        *,
        path: Path,
        label: str | None = None,
        constraint: bool = False,
        depth: int = 0,
    ) -> None:
        """Parse requirement lines that live in ``path`` (``label`` names them in sources)."""
        for number, line in _logical_lines(text):
            where = f"{label or path.name}:{number}"
            self._line(path, where, line, constraint=constraint, depth=depth)

    def _line(self, path: Path, where: str, line: str, *, constraint: bool, depth: int) -> None:
        if line.startswith("-"):
            self._option(path, where, line, constraint=constraint, depth=depth)
            return
        requirement, hashes = _split_hashes(line, where, path)
        pin = self._requirement(requirement, where, path, hashes)
        if pin is not None:
            (self.result.constraints if constraint else self.result.pins).append(pin)

    def _requirement(
        self, text: str, where: str, path: Path, hashes: tuple[str, ...]
    ) -> Pin | None:
        if _VCS_URL.match(text):
            return self._vcs(text, where)
        looks_like_path = text.startswith((".", "/", "file:", "http:", "https:")) or text.endswith(
            (".whl", ".tar.gz", ".zip")
        )
        if looks_like_path and " @ " not in text.split(";", maxsplit=1)[0]:
            return self._archive(text, where)
        try:
            pin = Pin.parse(text, source=where, hashes=hashes)
        except InvalidRequirement as exc:
            raise BundleError(
                f"line {where.rsplit(':', 1)[1]} is not a valid requirement: "
                f"{_shown(text)} "
                f"({str(exc).splitlines()[0]})",
                path=path,
                hint="fix or remove the line (pip-freeze format: name==version)",
            ) from None
        if pin.url and _VCS_URL.match(pin.url):
            self.result.notes.append(f"{where}: {pin.name} comes from version control ({pin.url})")
        if pin.url and _is_unreachable(pin.url):
            recovered = pin_from_archive_url(pin.url, source=where)
            if recovered is None:
                self.result.notes.append(
                    f"{where}: {pin.name} points at a local path ({pin.url}); "
                    f"installing {pin.name} from the index instead"
                )
                return Pin(name=pin.name, source=where, extras=pin.extras, marker=pin.marker)
            found, filename = recovered
            self.result.notes.append(
                f"{where}: {pin.name} was installed from a local file ({filename}); "
                f"using {found.name}{found.specifier} from the index"
            )
            return Pin(
                name=pin.name,
                specifier=found.specifier,
                source=where,
                extras=pin.extras,
                marker=pin.marker,
            )
        return pin

    def _archive(self, text: str, where: str) -> Pin | None:
        location, _, marker = text.partition(";")
        location = location.strip()
        recovered = pin_from_archive_url(location, source=where)
        if recovered is None:
            self.result.notes.append(
                f"{where}: dropped {text!r} (neither a package name nor a wheel or sdist file name)"
            )
            return None
        pin, filename = recovered
        if not _is_unreachable(location):
            # A URL that may still answer: keep it, with the version it names for the plan.
            return Pin(name=pin.name, source=where, url=location, marker=marker.strip())
        self.result.notes.append(
            f"{where}: {filename} is a local file; using {pin.name}{pin.specifier} from the index"
        )
        return pin

    def _option(self, path: Path, where: str, line: str, *, constraint: bool, depth: int) -> None:
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        option, value = words[0], " ".join(words[1:])
        if "=" in option and option.startswith("--"):
            option, value = option.split("=", 1)
        elif option[:2] in ("-r", "-c", "-e", "-i", "-f") and len(option) > 2:
            option, value = option[:2], option[2:].lstrip("=")
        if option in ("-r", "--requirement", "-c", "--constraint"):
            if not value:
                raise BundleError(f"{where}: {option} needs a file name", path=path)
            target = (path.parent / value).resolve()
            self.parse(
                target, constraint=constraint or option in ("-c", "--constraint"), depth=depth + 1
            )
        elif option in ("-i", "--index-url"):
            self.result.index_url = value
        elif option == "--extra-index-url":
            self.result.extra_index_urls.append(value)
        elif option in ("-f", "--find-links"):
            self.result.find_links.append(value)
        elif option in ("-e", "--editable"):
            self._editable(value, where)
        elif option in _IGNORED_OPTIONS or option.split("=")[0] in _OPTIONS_WITH_VALUE:
            self.result.notes.append(f"{where}: ignored installer option {line!r}")
        else:
            raise BundleError(
                f"line {where.rsplit(':', 1)[1]} has an unknown option {option!r}",
                path=path,
                hint="remove the line or write it as a pip requirement",
            )

    def _vcs(self, value: str, where: str) -> Pin | None:
        """``git+https://host/repo@ref#egg=name``: keep the reference, it may be reachable."""
        egg = _EGG.search(value)
        if egg is None:
            self.result.notes.append(
                f"{where}: dropped {value!r}: a version-control URL without #egg=NAME "
                "does not say which package it installs"
            )
            return None
        name = canonicalize_name(egg.group(1))
        url = _EGG.sub("", value)
        self.result.notes.append(f"{where}: {name} comes from version control ({url})")
        return Pin(name=name, source=where, url=url)

    def _editable(self, value: str, where: str) -> None:
        if _VCS_URL.match(value):
            pin = self._vcs(value, where)
            if pin is not None:
                self.result.pins.append(pin)
            return
        self.result.notes.append(
            f"{where}: dropped editable install {value!r} "
            "(the author's own source tree is not in the bundle)"
        )


def _split_hashes(line: str, where: str, path: Path) -> tuple[str, tuple[str, ...]]:
    if "--hash" not in line:
        return line, ()
    head, _, rest = line.partition("--hash")
    hashes = []
    for token in ("--hash" + rest).split():
        if token == "--hash":
            continue
        value = token.removeprefix("--hash=").removeprefix("=")
        if ":" not in value:
            raise BundleError(f"{where}: malformed --hash {token!r}", path=path)
        hashes.append(value)
    return head.strip(), tuple(hashes)


def _shown(text: str) -> str:
    """A bad line as the error shows it: quoted, escaped, at most SHOWN_CHARS long."""
    quoted = repr(text)
    return quoted if len(quoted) <= SHOWN_CHARS else quoted[: SHOWN_CHARS - 3] + "..."


def parse_requirements(path: Path) -> RequirementsFile:
    """Parse a requirements file and everything it includes."""
    parser = _Parser()
    parser.parse(path)
    return parser.result


def parse_requirement_lines(lines: Iterable[str], *, path: Path, label: str) -> RequirementsFile:
    """Parse requirement lines embedded in another file (a conda ``pip:`` section,
    MLflow's ``python_env.yaml``); ``-r`` / ``-c`` are relative to ``path``'s folder."""
    parser = _Parser()
    parser.parse_text("\n".join(lines), path=path, label=label)
    return parser.result
