"""Finding a Python interpreter of a given version on this machine.

Looks, in order, at ``--python``, ``PATH`` (``python3.X``), pyenv's versions, uv-managed
Pythons and conda environments. Versions are read from directory names where those are
reliable and otherwise by asking the interpreter, only for candidates that could match.
Nothing here knows a machine-specific path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from packaging.version import InvalidVersion, Version

from . import _subprocess
from .errors import InterpreterNotFound, UsageError
from .locations import cache_dir
from .plan import Interpreter

QUERY_TIMEOUT_S = 20.0
DOWNLOAD_TIMEOUT_S = 900.0
DOWNLOADS_VARIABLE = "UV_PYTHON_DOWNLOADS"
"""uv's own switch (``never`` forbids downloads); ``--no-python-downloads`` sets it."""
_DOWNLOADS_OFF = frozenset({"never", "manual"})
_QUERY = (
    "import json, platform, sys; "
    "print(json.dumps([platform.python_implementation().lower(), "
    "'%d.%d.%d' % tuple(sys.version_info[:3])]))"
)
# Directory names that reliably say a CPython version: pyenv's ``3.8.18``, uv's
# ``cpython-3.8.18-linux-x86_64-gnu``. Anything else (pypy, miniconda, 3.8-dev) is asked.
_PYENV_NAME = re.compile(r"^(\d+\.\d+\.\d+)$")
_UV_NAME = re.compile(r"^cpython-(\d+\.\d+\.\d+)-")
_PATH_NAME = re.compile(r"^python(\d+\.\d+)?$")


@dataclass(frozen=True)
class Candidate:
    """A possible interpreter, with what its name tells of its version."""

    path: Path
    found_by: str
    version_hint: str = ""
    """``3.8.18`` from a pyenv/uv directory name, ``3.8`` from ``python3.8``, or empty."""


def _cache_file() -> Path:
    return cache_dir() / "interpreters.json"


def _load_cache() -> dict[str, list[str]]:
    try:
        data = json.loads(_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _cache_key(path: Path) -> str:
    real = path.resolve()
    stat = real.stat()
    return f"{real}|{stat.st_mtime_ns}|{stat.st_size}"


def query(path: Path, *, found_by: str = "") -> Interpreter | None:
    """Ask an interpreter what it is (remembered per file); ``None`` when it does not run."""
    try:
        key = _cache_key(path)
    except OSError:
        return None
    cache = _load_cache()
    known = cache.get(key)
    if isinstance(known, list) and len(known) == 2:
        return Interpreter(path=path, version=known[1], implementation=known[0], found_by=found_by)
    interp = _ask(path, found_by=found_by)
    if interp is not None:
        cache[key] = [interp.implementation, interp.version]
        try:
            _cache_file().parent.mkdir(parents=True, exist_ok=True)
            tmp = _cache_file().with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(cache), encoding="utf-8")
            tmp.replace(_cache_file())
        except OSError:
            pass  # a read-only cache only costs time
    return interp


def _ask(path: Path, *, found_by: str) -> Interpreter | None:
    try:
        done = _subprocess.run(
            [path, "-I", "-c", _QUERY], timeout=QUERY_TIMEOUT_S, check=False, what="python"
        )
    except (_subprocess.CommandTimeout, OSError):
        return None
    except Exception:  # a broken interpreter must not stop discovery  # noqa: BLE001
        return None
    if done.returncode != 0:
        return None
    try:
        implementation, version = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return Interpreter(path=path, version=version, implementation=implementation, found_by=found_by)


def _path_candidates() -> Iterator[Candidate]:
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        directory = Path(entry)
        # pyenv shims only work for the globally selected version; pyenv is searched directly.
        if not entry or directory.name == "shims" or not directory.is_dir():
            continue
        try:
            entries = sorted(directory.iterdir())
        except OSError:
            continue
        for exe in entries:
            match = _PATH_NAME.match(exe.name)
            if match and os.access(exe, os.X_OK):
                yield Candidate(exe, "PATH", match.group(1) or "")


def _pyenv_root() -> Path | None:
    root = os.environ.get("PYENV_ROOT")
    if root:
        return Path(root)
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    done = _subprocess.run([pyenv, "root"], check=False, timeout=QUERY_TIMEOUT_S)
    return Path(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else None


def _versions_dir_candidates(
    root: Path, found_by: str, binary: str, pattern: re.Pattern[str]
) -> Iterator[Candidate]:
    if not root.is_dir():
        return
    for entry in sorted(root.iterdir()):
        exe = entry / binary
        if exe.is_file():
            match = pattern.match(entry.name)
            yield Candidate(exe, found_by, match.group(1) if match else "")


def _uv_candidates() -> Iterator[Candidate]:
    uv = uv_binary()
    directory = os.environ.get("UV_PYTHON_INSTALL_DIR")
    if not directory and uv is not None:
        done = _subprocess.run([uv, "python", "dir"], check=False, timeout=QUERY_TIMEOUT_S)
        directory = done.stdout.strip() if done.returncode == 0 else ""
    if directory:
        yield from _versions_dir_candidates(Path(directory), "uv", "bin/python3", _UV_NAME)


def _conda_candidates() -> Iterator[Candidate]:
    prefixes: list[Path] = []
    for var in ("CONDA_PREFIX", "MAMBA_ROOT_PREFIX"):
        if os.environ.get(var):
            prefixes.append(Path(os.environ[var]))
    if os.environ.get("CONDA_EXE"):
        prefixes.append(Path(os.environ["CONDA_EXE"]).parent.parent)
    registry = Path.home() / ".conda" / "environments.txt"
    if registry.is_file():
        prefixes.extend(
            Path(line.strip()) for line in registry.read_text().splitlines() if line.strip()
        )
    for base in list(prefixes):
        prefixes.extend(sorted((base / "envs").glob("*")) if (base / "envs").is_dir() else [])
    seen: set[Path] = set()
    for prefix in prefixes:
        exe = prefix / "bin" / "python"
        if exe.is_file() and prefix not in seen:
            seen.add(prefix)
            yield Candidate(exe, "conda")


def uv_binary() -> str | None:
    """The uv executable: the one installed with this package (PyPI ``uv``), else PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def candidates() -> Iterator[Candidate]:
    """Every place an interpreter may be, cheapest first."""
    yield from _path_candidates()
    root = _pyenv_root()
    if root is not None:
        yield from _versions_dir_candidates(root / "versions", "pyenv", "bin/python", _PYENV_NAME)
    yield from _uv_candidates()
    yield from _conda_candidates()


def _same_minor(hint: str, minor: str) -> bool:
    return hint == minor or hint.startswith(minor + ".")


def _discover(minor: str | None) -> Iterator[Interpreter]:
    """Interpreters as they are found (only of ``minor`` when given), each real file once."""
    seen_real: set[Path] = set()
    for candidate in candidates():
        hint = candidate.version_hint
        if minor is not None and hint and not _same_minor(hint, minor):
            continue
        real = candidate.path.resolve()
        if real in seen_real:
            continue
        seen_real.add(real)
        interp: Interpreter | None
        if hint.count(".") == 2 and candidate.found_by in ("pyenv", "uv"):
            interp = Interpreter(candidate.path, hint, "cpython", candidate.found_by)
        else:
            interp = query(candidate.path, found_by=candidate.found_by)
        if interp is not None and (minor is None or interp.minor == minor):
            yield interp


def available(*, minor: str | None = None) -> list[Interpreter]:
    """Distinct interpreters found (only of ``minor``, e.g. ``3.8``, when given), newest first."""
    return sorted(_discover(minor), key=lambda i: Version(i.version), reverse=True)


def explicit(spec: str) -> Interpreter:
    """The interpreter at a path given with ``--python``."""
    path = Path(spec)
    resolved = path if path.exists() else Path(shutil.which(spec) or spec)
    interp = query(resolved, found_by="--python")
    if interp is None:
        raise UsageError(
            "is not a working Python interpreter",
            path=spec,
            hint="pass a path or a version such as 3.8",
        )
    return interp


def find(version: str, *, source: str) -> tuple[Interpreter, list[str]]:
    """The best interpreter for a recorded version (``3.8`` or ``3.8.10``), and warnings.

    The exact patch release is preferred; otherwise the newest of the same minor, with a
    warning. Raises :class:`InterpreterNotFound` naming the ways to get one.
    """
    try:
        wanted = Version(version)
    except InvalidVersion:
        raise UsageError(
            f"{version!r} is not a Python version", hint="e.g. 3.8 or 3.8.10"
        ) from None
    minor = f"{wanted.major}.{wanted.minor}"
    matches: list[Interpreter] = []
    for interp in _discover(minor):
        if len(wanted.release) >= 3 and Version(interp.version) == wanted:
            return interp, []  # the exact release: no need to look further
        matches.append(interp)
    matches.sort(key=lambda i: Version(i.version), reverse=True)
    if not matches:
        return _download(version, minor, source)
    exact = [i for i in matches if Version(i.version) == wanted]
    if exact or len(wanted.release) < 3:
        return (exact or matches)[0], []
    chosen = matches[0]
    return chosen, [
        f"Python {version} recorded by {source} is not installed; using {chosen.version} "
        f"({chosen.found_by}: {chosen.path})"
    ]


def downloads_allowed() -> bool:
    """uv's default: download a missing Python unless ``UV_PYTHON_DOWNLOADS`` says not to."""
    return os.environ.get(DOWNLOADS_VARIABLE, "automatic").strip().lower() not in _DOWNLOADS_OFF


def _not_found(minor: str, source: str, why: str) -> InterpreterNotFound:
    hint = (
        f"install Python {minor} (`uv python install {minor}`, or `pyenv install {minor}`), "
        "or pass --python PATH"
    )
    return InterpreterNotFound(
        f"no Python {minor} interpreter found (recorded by {source}; searched PATH, "
        f"pyenv, uv-managed Pythons and conda environments){why}",
        hint=hint,
    )


def _download(version: str, minor: str, source: str) -> tuple[Interpreter, list[str]]:
    """No local interpreter fits: have uv download one, as ``uv venv --python`` would.

    The exact recorded release is asked for first, then the newest of its minor. uv's
    own settings decide where from (``UV_PYTHON_DOWNLOADS_JSON_URL``, mirrors) and where
    to (``UV_PYTHON_INSTALL_DIR``); ``--no-bin`` keeps it out of the user's ``~/.local/bin``.
    """
    uv = uv_binary()
    if not downloads_allowed():
        raise _not_found(minor, source, f"; downloads are off ({DOWNLOADS_VARIABLE}=never)")
    if uv is None:
        raise _not_found(minor, source, "; uv, which would download one, is not installed")
    failures: list[str] = []
    for request in dict.fromkeys((version, minor)):
        done = _subprocess.run(
            [uv, "python", "install", "--no-bin", request],
            env=_subprocess.clean_env({"UV_NO_PROGRESS": "1"}),
            timeout=DOWNLOAD_TIMEOUT_S,
            check=False,
            what="uv python install",
        )
        if done.returncode != 0:
            failures.append(_subprocess.tail(done.stderr or done.stdout, 1))
            continue
        found = available(minor=minor)
        exact = [i for i in found if i.version == version]
        if exact or found:
            chosen = replace((exact or found)[0], found_by="downloaded by uv")
            note = (
                f"Python {minor} was not on this machine: downloaded {chosen.version} with "
                f"`uv python install` ({chosen.path}); --no-python-downloads forbids it"
            )
            return chosen, [note]
    why = f"; `uv python install {minor}` failed: {failures[-1]}" if failures else ""
    raise _not_found(minor, source, why)
