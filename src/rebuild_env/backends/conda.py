"""The conda backend: solved and installed in-process by py-rattler, no conda binary needed.

``write_specs`` solves the plan against the channels (so ``conda-lock.yml`` and the
``@EXPLICIT`` file hold exact URLs and hashes) and writes ``environment.yml`` too; ``build``
installs exactly those records into the prefix, then the ``pip:`` section with uv into the
prefix's own Python. With ``use_external`` (``--conda-exe``) the user's conda, mamba or
micromamba installs the written explicit file instead; that path is not exercised in CI,
where none of those tools is installable.

Channels come from the constructor (``--channel``), else ``REBUILD_ENV_CONDA_CHANNELS``
(separated by commas or whitespace), else conda-forge.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _subprocess
from ..errors import BuildError, UsageError
from ..interpreters import uv_binary
from ..plan import Plan
from ..spec import conda_lock, conda_solution, environment_yml, explicit
from ..spec._files import write_atomically
from ..spec.conda_solution import CondaSolution, PipPackage
from . import conda_solve
from .base import Environment, env_python

if TYPE_CHECKING:
    from packaging.tags import Tag

NAME = "conda"
DEFAULT_CHANNELS = ("conda-forge",)
CHANNELS_ENV_VAR = "REBUILD_ENV_CONDA_CHANNELS"
EXE_ENV_VAR = "REBUILD_ENV_CONDA_EXE"
EXTERNAL_TOOLS = ("conda", "mamba", "micromamba")
INSTALL_TIMEOUT_S = 1800.0
PIP_LOCK_TIMEOUT_S = 120.0
SOLUTION_FILE = "rebuild-env-conda-solution.json"
STORED_LOCK_FILE = "rebuild-env-conda-lock.yml"
_PATH_LIKE = re.compile(r"^(/|\.{1,2}/|~)")


def normalize_channel(channel: str) -> str:
    """A channel name or URL as given; a local directory as a ``file://`` URL."""
    text = channel.strip()
    if not _PATH_LIKE.match(text) and not (os.name == "nt" and Path(text).drive):
        return text
    path = Path(text).expanduser().absolute()
    if not path.is_dir():
        raise UsageError(
            f"conda channel directory {path} does not exist",
            hint="pass --channel a channel name, a URL or an existing local channel directory",
        )
    return path.as_uri()


def channels_from_env() -> tuple[str, ...]:
    """``REBUILD_ENV_CONDA_CHANNELS``, split on commas and whitespace."""
    raw = os.environ.get(CHANNELS_ENV_VAR, "")
    return tuple(c for c in re.split(r"[,\s]+", raw) if c)


def external_command(exe: str, prefix: Path, explicit_file: Path) -> list[str]:
    """The command that makes ``exe`` install an explicit file into ``prefix``."""
    tool = Path(exe).name.removesuffix(".exe")
    if tool == "micromamba":
        return [exe, "create", "--yes", "--prefix", str(prefix), "--file", str(explicit_file)]
    # conda and mamba: --file with an @EXPLICIT file installs without solving.
    return [
        exe,
        "create",
        "--yes",
        "--quiet",
        "--prefix",
        str(prefix),
        "--file",
        str(explicit_file),
    ]


def find_external(tool: str) -> str:
    """The executable for ``--conda-exe`` (a tool name on PATH, or a path)."""
    if tool in EXTERNAL_TOOLS:
        found = shutil.which(tool)
        if found is None:
            raise BuildError(
                f"--conda-exe {tool}: {tool} is not on PATH",
                hint="install it, pass its path, or leave out --conda-exe to use the built-in "
                "engine",
            )
        return found
    path = Path(tool).expanduser()
    if not path.is_file() or not os.access(path, os.X_OK):
        raise BuildError(
            f"--conda-exe {tool}: not an executable file",
            hint=f"pass one of {', '.join(EXTERNAL_TOOLS)} or the path to one",
        )
    if Path(path.name.removesuffix(".exe")).name not in EXTERNAL_TOOLS:
        raise UsageError(
            f"--conda-exe {tool}: expected conda, mamba or micromamba",
            hint="other tools cannot install an @EXPLICIT file",
        )
    return str(path.absolute())


class CondaBackend:
    """Build a Plan as a conda prefix.

    ``channels``: names, URLs or local channel directories, in priority order (default:
    ``REBUILD_ENV_CONDA_CHANNELS``, else conda-forge). ``use_external``: ``conda``,
    ``mamba``, ``micromamba`` or a path, to install with that tool instead of py-rattler
    (default: ``REBUILD_ENV_CONDA_EXE``, else none). ``allow_name_only``: when a pinned
    version is not on the channel, take any version instead of installing it with pip.

    After :meth:`write_specs`, :attr:`last_warnings` holds what the conda mapping changed
    (packages moved to ``pip:``, build strings dropped...): the report lists them.
    """

    name = NAME

    def __init__(
        self,
        channels: Sequence[str] | None = None,
        *,
        use_external: str | None = None,
        allow_name_only: bool = False,
    ) -> None:
        given = tuple(channels or ()) or channels_from_env() or DEFAULT_CHANNELS
        self.channels = tuple(normalize_channel(c) for c in given)
        self.use_external = use_external or os.environ.get(EXE_ENV_VAR) or None
        self.allow_name_only = allow_name_only
        self.last_warnings: list[str] = []
        self._solved: tuple[Plan, conda_solve.Solved] | None = None

    def solve(self, plan: Plan) -> CondaSolution:
        """Solve ``plan`` against the channels (the result is kept for :meth:`build`)."""
        return self._solve(plan).solution

    def _solve(self, plan: Plan) -> conda_solve.Solved:
        if self._solved is not None and self._solved[0] is plan:
            return self._solved[1]
        solved = conda_solve.solve(plan, self.channels, allow_name_only=self.allow_name_only)
        if solved.solution.pip:
            solved.solution = _with_pip_files(plan, solved.solution)
        self._solved = (plan, solved)
        self.last_warnings = list(solved.solution.warnings)
        return solved

    def write_specs(self, plan: Plan, out: Path, *, built: Path | None = None) -> tuple[Path, ...]:
        """``environment.yml``, ``conda-lock.yml`` and ``conda-explicit.txt``.

        ``built``: a complete prefix this backend built for the same plan and channels; its
        stored solution is written instead of solving again (a cache hit needs no repodata).
        """
        stored = _stored_solution(built) if built is not None else None
        solution = stored or self._solve(plan).solution
        self.last_warnings = list(solution.warnings)
        stored_lock = built / STORED_LOCK_FILE if built is not None else None
        if stored is not None and stored_lock is not None and stored_lock.is_file():
            # conda-lock's models cost 0.5 s to import: a cache hit copies the stored file.
            lock = write_atomically(out, conda_lock.FILENAME, stored_lock.read_text("utf-8"))
        else:
            lock = conda_lock.write(solution, out)
        return (
            environment_yml.write(plan, solution, out),
            lock,
            explicit.write(plan, solution, out),
        )

    def build(self, plan: Plan, prefix: Path, specs: tuple[Path, ...]) -> Environment:
        """Install the solved packages into ``prefix``, then the ``pip:`` section."""
        solved = self._solve(plan)
        if self.use_external:
            exe = find_external(self.use_external)
            explicit_file = next((p for p in specs if p.name == explicit.FILENAME), None)
            if explicit_file is None:
                raise BuildError(f"--conda-exe needs the {explicit.FILENAME} written first")
            _subprocess.run(
                external_command(exe, prefix, explicit_file),
                timeout=INSTALL_TIMEOUT_S,
                what=Path(exe).name,
            )
        else:
            self.install_conda_packages(solved.records, prefix)
        python = env_python(prefix)
        if not python.exists():
            raise BuildError("the conda environment has no bin/python", path=prefix)
        if solved.solution.pip:
            self.install_pip_section(plan, solved.solution.pip, python)
        (prefix / SOLUTION_FILE).write_text(
            json.dumps(conda_solution.to_json(solved.solution)), encoding="utf-8"
        )
        for spec in specs:
            if spec.name == conda_lock.FILENAME:
                shutil.copyfile(spec, prefix / STORED_LOCK_FILE)
        return Environment(prefix=prefix, python=python, backend=NAME)

    def install_conda_packages(self, records: list[object], prefix: Path) -> None:
        """Link the solved records into ``prefix`` (rattler, through its package cache)."""
        _install(records, prefix)

    def install_pip_section(
        self, plan: Plan, packages: tuple[PipPackage, ...], python: Path
    ) -> None:
        """Install the ``pip:`` section into the prefix's Python."""
        _install_pip(plan, packages, python)


def _stored_solution(prefix: Path) -> CondaSolution | None:
    try:
        doc = json.loads((prefix / SOLUTION_FILE).read_text(encoding="utf-8"))
        return conda_solution.from_json(doc)
    except (OSError, ValueError):
        return None


def _install(records: list[object], prefix: Path, cache: Path | None = None) -> None:
    """Install ``records`` into ``prefix``; ``cache``: rattler's package cache (default: ours)."""
    from rattler import install
    from rattler.exceptions import (
        InstallerError,
        IoError,
        LinkError,
        TransactionError,
    )

    cache = cache or conda_solve.package_cache()
    cache.mkdir(parents=True, exist_ok=True)
    try:
        asyncio.run(
            install(
                records,  # type: ignore[arg-type]
                target_prefix=prefix,
                cache_dir=cache,
                show_progress=False,
                execute_link_scripts=False,
            )
        )
    except (InstallerError, IoError, LinkError, TransactionError) as exc:
        raise BuildError(
            f"installing the conda packages failed: {str(exc).strip().splitlines()[0]}",
            path=prefix,
            hint="a package file may be missing from the channel or corrupt in the cache",
            output=str(exc),
        ) from None


def _install_pip(plan: Plan, packages: tuple[PipPackage, ...], python: Path) -> None:
    """The ``pip:`` section, with uv, into the prefix's Python (no dependency changes)."""
    uv = uv_binary()
    args: list[str | Path]
    if uv is not None:
        args = [uv, "pip", "install", "--python", python, "--no-deps"]
    else:
        args = [python, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check"]
    index = plan.index
    if index.index_url:
        args += ["--index-url", index.index_url]
    for url in index.extra_index_urls:
        args += ["--extra-index-url", url]
    for url in index.find_links:
        args += ["--find-links", url]
    args += [p.planned.requirement() for p in packages]
    _subprocess.run(
        args,
        env=_subprocess.clean_env({"UV_NO_PROGRESS": "1"}),
        timeout=INSTALL_TIMEOUT_S,
        what="pip: section install",
    )


def _with_pip_files(plan: Plan, solution: CondaSolution) -> CondaSolution:
    """The pip packages with the wheel URL and hash a lockfile needs (``uv pip compile``)."""
    from dataclasses import replace

    from ..target import wheel_tags

    uv = uv_binary()
    if uv is None:
        return solution
    major, minor = (int(x) for x in solution.python_version.split(".")[:2])
    wanted = list(wheel_tags(f"{major}.{minor}"))
    with tempfile.TemporaryDirectory(prefix="rebuild-env-") as tmp:
        infile, lock = Path(tmp) / "pip.in", Path(tmp) / "pylock.toml"
        infile.write_text("".join(f"{p.planned.requirement()}\n" for p in solution.pip))
        done = _subprocess.run(
            [
                *(uv, "pip", "compile", "--quiet", "--no-header", "--no-deps"),
                *("--format", "pylock.toml", "--python-version", f"{major}.{minor}"),
                *(infile, "-o", lock),
            ],
            env=_subprocess.clean_env({"UV_NO_PROGRESS": "1"}),
            timeout=PIP_LOCK_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0 or not lock.exists():
            return solution
        toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
        entries = toml.loads(lock.read_text(encoding="utf-8")).get("packages", [])
    files = {str(e.get("name")): _best_file(e, wanted) for e in entries}
    pip = []
    for package in solution.pip:
        url, sha256 = files.get(package.planned.name) or ("", "")
        pip.append(replace(package, url=url, sha256=sha256))
    return replace(solution, pip=tuple(pip))


def _best_file(entry: dict[str, Any], wanted: list[Tag]) -> tuple[str, str]:
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    best: tuple[int, str, str] | None = None
    wheels = entry.get("wheels")
    for wheel in wheels if isinstance(wheels, list) else []:
        url = str(wheel.get("url", ""))
        try:
            tags = parse_wheel_filename(url.rsplit("/", 1)[-1])[3]
        except InvalidWheelFilename:
            continue
        ranks = [wanted.index(t) for t in tags if t in wanted]
        if ranks and (best is None or min(ranks) < best[0]):
            best = (min(ranks), url, str(wheel.get("hashes", {}).get("sha256", "")))
    if best is not None:
        return best[1], best[2]
    sdist = entry.get("sdist")
    if isinstance(sdist, dict):
        return str(sdist.get("url", "")), str(sdist.get("hashes", {}).get("sha256", ""))
    return "", ""
