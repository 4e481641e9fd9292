"""``--offline``: a plan made from the bundle's pack record only, built from its artifacts.

Nothing here asks an index: the pack record holds the exact closure (the plan as it was
when the bundle was packed, with every wheel's sha256), the artifacts are checked before
anything is built, and the installer runs with no index, in offline mode, with an empty
cache of its own and the user's installer configuration ignored.
"""

from __future__ import annotations

import os
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.version import InvalidVersion, Version

from .. import _subprocess, interpreters
from ..backends.base import Environment, env_python
from ..backends.venv import VenvBackend, create_venv
from ..errors import ArtifactsMissing, BuildError, BundleError, InterpreterNotFound, UsageError
from ..interpreters import uv_binary
from ..pins import IndexOptions, Pin, RecordedEnv
from ..plan import Interpreter, Plan, PlannedPackage
from ..spec import requirements_txt
from . import record
from .record import PackRecord

if TYPE_CHECKING:
    from ..options import Options

PACK_HINT = (
    "run `rebuild-env pack BUNDLE` where the package index is reachable, then copy the bundle"
)
# What would point an installer at an index or at the user's own configuration and cache.
_INSTALLER_SETTINGS = (
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_CONFIG_FILE",
    "UV_CACHE_DIR",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
)


def offline_env(cache: Path) -> dict[str, str]:
    """The installer's environment offline: no index, no user config, ``cache`` as its cache."""
    env = {k: v for k, v in _subprocess.clean_env().items() if k not in _INSTALLER_SETTINGS}
    env.update(
        UV_OFFLINE="1",
        UV_NO_CONFIG="1",
        UV_NO_PROGRESS="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_CACHE_DIR=str(cache),
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_NO_CACHE_DIR="1",
        VIRTUALENV_NO_PERIODIC_UPDATE="1",
    )
    return env


def read_pack(bundle: Path, backend: str) -> tuple[Path, PackRecord]:
    """The bundle's pack for ``backend``; raise when it has none."""
    folder = record.backend_dir(bundle, backend)
    pack = record.read(folder)
    if pack is None:
        raise BundleError(
            f"--offline: the bundle carries no artifacts for the {backend} backend "
            f"(no {record.ARTIFACTS_DIR}/{backend}/{record.RECORD_FILE})",
            path=bundle,
            hint=PACK_HINT,
        )
    if pack.backend != backend:
        raise BundleError(f"is a pack for the {pack.backend} backend", path=folder)
    return folder, pack


def check_artifacts(folder: Path, pack: PackRecord, subfolder: str = record.WHEELS_DIR) -> None:
    """Every artifact present with its recorded sha256; one error naming all that are not.

    ``subfolder`` holds the artifacts without a subdir (the wheels); a conda package is
    in ``channel/<subdir>/``.
    """
    problems = []
    for artifact in pack.artifacts:
        path = (
            record.artifact_path(folder, artifact)
            if artifact.subdir
            else folder / subfolder / artifact.filename
        )
        if not path.is_file():
            problems.append(f"{artifact.filename} (missing)")
        elif record.file_sha256(path) != artifact.sha256:
            problems.append(f"{artifact.filename} (sha256 differs from {record.RECORD_FILE})")
    if problems:
        raise ArtifactsMissing(
            f"--offline: {len(problems)} of the {len(pack.artifacts)} artifacts the plan needs "
            f"cannot be used: {', '.join(problems)}",
            path=folder,
            hint=f"nothing was built; {PACK_HINT}",
        )


def minor_version(version: str) -> str:
    """``3.11`` of ``3.11.4`` (a version that does not parse is kept as is)."""
    try:
        parsed = Version(version)
    except InvalidVersion:
        return version
    return f"{parsed.major}.{parsed.minor}"


def interpreter(pack: PackRecord, python: str | None) -> tuple[Interpreter, list[str]]:
    """An interpreter of the packed Python already on this machine (it cannot be downloaded)."""
    wanted = minor_version(pack.python_version)
    if python is not None and (Path(python).exists() or "/" in python):
        found = interpreters.explicit(python)
        warnings: list[str] = []
    elif python is not None and minor_version(python) != wanted:
        found = None
    else:
        try:
            found, warnings = interpreters.find(
                python or pack.python_version, source=pack.python_source or "the pack"
            )
        except InterpreterNotFound:
            raise InterpreterNotFound(
                f"--offline: no Python {wanted} interpreter on this machine (the pack was made "
                f"for Python {pack.python_version}; searched PATH, pyenv, uv-managed Pythons and "
                "conda environments), and offline it cannot come from the network",
                hint=f"install Python {wanted} from local media (an OS package, a pyenv build) "
                "or pass --python PATH to one already here",
            ) from None
    if found is None or found.minor != wanted:
        raise UsageError(
            f"--offline: the bundle's wheels are for Python {wanted}; "
            f"--python {python} cannot use them",
            hint=f"pass --python with a Python {wanted}, or pack again for the other version",
        )
    return found, warnings


def checked_pack(
    recorded: RecordedEnv, hints: tuple[Pin, ...], options: Options
) -> tuple[Path, PackRecord]:
    """The bundle's pack for ``options.backend`` (its folder and record), checked against the
    bundle, the flags and this platform, its artifacts present and intact.

    Of the planning options only the backend, ``--python`` (the packed minor) and
    ``--prefer-recorded`` (as packed) apply: the pack record is the plan.
    """
    backend, prefer_recorded = options.backend, options.prefer_recorded
    folder, pack = read_pack(recorded.bundle_dir, backend)
    if pack.record_key != record.record_key(recorded, hints):
        raise BundleError(
            "--offline: the bundle's record (or its model file) changed after it was packed",
            path=folder / record.RECORD_FILE,
            hint=PACK_HINT,
        )
    if pack.prefer_recorded != prefer_recorded:
        flag = "with" if pack.prefer_recorded else "without"
        raise UsageError(
            f"--offline: the bundle was packed {flag} --prefer-recorded",
            hint=f"rerun {flag} --prefer-recorded, or pack again",
        )
    if pack.platform != sysconfig.get_platform():
        raise BundleError(
            f"--offline: the bundle was packed for {pack.platform}; this machine is "
            f"{sysconfig.get_platform()}",
            path=folder,
            hint=PACK_HINT,
        )
    check_artifacts(folder, pack, record.WHEELS_DIR)
    return folder, pack


def plan_venv(recorded: RecordedEnv, folder: Path, pack: PackRecord, options: Options) -> Plan:
    """The offline venv plan: the packed wheels, on an interpreter of the packed minor."""
    interp, warnings = interpreter(pack, options.python)
    packages = tuple(
        PlannedPackage(
            name=a.name, version=a.version, source=a.source, hashes=(f"sha256:{a.sha256}",)
        )
        for a in pack.artifacts
    )
    return packed_plan(recorded, folder, pack, packages, interpreter=interp, notes=warnings)


def packed_plan(
    recorded: RecordedEnv,
    folder: Path,
    pack: PackRecord,
    packages: tuple[PlannedPackage, ...],
    *,
    interpreter: Interpreter | None = None,
    notes: Sequence[str] = (),
) -> Plan:
    """The plan a pack records, with the bundle's wheels as the only place to install from.

    ``interpreter``: the venv's base Python (``None`` for conda, which packs its own);
    ``notes``: warnings of the offline run, after the packed plan's.
    """
    return Plan(
        recorded=recorded,
        backend=pack.backend,
        python_version=interpreter.version if interpreter else pack.python_version,
        python_source=pack.python_source,
        interpreter=interpreter,
        packages=packages,
        index=IndexOptions(find_links=(str((folder / record.WHEELS_DIR).absolute()),)),
        exclude_newer=pack.exclude_newer,
        warnings=(*pack.warnings, *notes),
        conflicts=pack.conflicts,
    )


class OfflineVenvBackend(VenvBackend):
    """The venv backend installing only the bundle's wheels (no index, no user cache)."""

    def build(self, plan: Plan, prefix: Path, specs: tuple[Path, ...]) -> Environment:
        """Create the venv at ``prefix`` and install the packed wheels into it."""
        if plan.interpreter is None or not plan.index.find_links:
            raise BuildError("an offline plan needs an interpreter and the bundle's wheels")
        requirements = next(p for p in specs if p.name == requirements_txt.FILENAME)
        wheels, python = plan.index.find_links[0], plan.interpreter.path
        uv = uv_binary()
        # The installer's cache is a fresh folder beside the prefix (same disk: uv links
        # from it), so nothing the user downloaded before can stand in for an artifact.
        with tempfile.TemporaryDirectory(prefix=".rebuild-env-cache-", dir=prefix.parent) as tmp:
            env = offline_env(Path(tmp))
            create_venv(python, prefix, env, uv=uv)
            if uv is not None:
                args: list[str | Path] = [uv, "pip", "install", "--python", env_python(prefix)]
                args += ["--offline", "--no-index", "--find-links", wheels]
            else:
                args = [env_python(prefix), "-m", "pip", "install", "--no-index"]
                args += ["--no-cache-dir", "--find-links", wheels]
            try:
                self._install([*args, "--require-hashes", "-r", requirements], env)
            except BuildError as exc:
                exc.hint = f"installing only from {wheels} (--offline); {PACK_HINT}"
                raise
        return Environment(prefix=prefix, python=env_python(prefix), backend=self.name)
