"""``--offline --backend conda``: the bundle's own channel is the only channel; nothing is solved.

The pack record holds the conda solve made when packing. The records installed are read from
the packed channel's ``repodata.json`` (each checked against the record's sha256) and linked
through an empty package cache of their own; the ``pip:`` section is installed from the
packed wheels by uv, offline, with no index and hashes required. Python itself is one of
the packed conda packages: no interpreter of this machine is needed.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _subprocess
from ..backends import conda
from ..backends.conda import CondaBackend
from ..backends.conda_names import conda_name
from ..backends.conda_solve import Solved
from ..errors import ArtifactsMissing, BuildError, BundleError, UsageError
from ..interpreters import uv_binary
from ..pins import RecordedEnv
from ..plan import Plan
from ..spec.conda_solution import CondaPackage, CondaSolution, PipPackage
from . import record
from .offline import PACK_HINT, minor_version, offline_env, packed_plan, read_pack
from .record import PackRecord

if TYPE_CHECKING:
    from ..options import Options

REPODATA_FILE = "repodata.json"


def plan_conda(recorded: RecordedEnv, folder: Path, pack: PackRecord, options: Options) -> Plan:
    """The offline conda plan: the packed plan's packages, the packed Python (no interpreter)."""
    if pack.solution is None or not pack.packages:
        raise BundleError(
            "--offline: the conda pack record holds no conda solution",
            path=folder / record.RECORD_FILE,
            hint=PACK_HINT,
        )
    wanted = minor_version(pack.python_version)
    if options.python is not None and minor_version(options.python) != wanted:
        raise UsageError(
            f"--offline: the bundle's conda packages are for Python {wanted}; "
            f"--python {options.python} cannot use them",
            hint=f"leave out --python (conda installs the packed Python {pack.python_version}), "
            "or pack again for the other version",
        )
    # Each package carries its artifact's sha256 (a wheel of the pip: section, else the conda
    # package), so a cached environment built from another pack is not taken for this one.
    wheels = {a.name: a.sha256 for a in pack.artifacts if not a.subdir}
    packed = {a.name: a.sha256 for a in pack.artifacts if a.subdir}
    packages = tuple(
        replace(p, hashes=(f"sha256:{sha}",))
        if (sha := wheels.get(p.name) or packed.get(conda_name(p.name)))
        else p
        for p in pack.packages
    )
    return packed_plan(recorded, folder, pack, packages, notes=_ignored_settings(folder, options))


def _ignored_settings(folder: Path, options: Options) -> tuple[str, ...]:
    ignored = [f"--channel {c}" for c in options.channels]
    if conda.channels_from_env():
        ignored.append(f"${conda.CHANNELS_ENV_VAR} ({', '.join(conda.channels_from_env())})")
    if options.conda_exe or os.environ.get(conda.EXE_ENV_VAR):
        ignored.append("--conda-exe (the packed packages are installed by the built-in engine)")
    if not ignored:
        return ()
    channel = folder / record.CHANNEL_DIR
    return (
        f"--offline: the bundle's own channel ({channel}) is the only conda channel; "
        f"ignored: {', '.join(ignored)}",
    )


def packed_records(channel: Path, pack: PackRecord) -> list[Any]:
    """The rattler records of every packed conda package, read from the channel's index.

    Each must be listed with the sha256 the pack record holds; the artifacts themselves were
    checked before (:func:`.offline.check_artifacts`).
    """
    from rattler import Channel, RepoData
    from rattler.exceptions import IoError

    wanted = {(a.subdir, a.filename): a for a in pack.artifacts if a.subdir}
    source = Channel(channel.absolute().as_uri())
    records, problems = [], []
    for subdir in sorted({s for s, _ in wanted}):
        index = channel / subdir / REPODATA_FILE
        try:
            listed = RepoData.from_path(index).into_repo_data(source)
        except IoError as exc:
            raise BundleError(
                f"--offline: the packed channel's index cannot be read ({exc})",
                path=index,
                hint=PACK_HINT,
            ) from None
        for found in listed:
            artifact = wanted.pop((subdir, found.file_name), None)
            if artifact is None:
                continue
            if found.sha256 is None or found.sha256.hex() != artifact.sha256:
                problems.append(f"{artifact.filename} (its sha256 in {REPODATA_FILE} differs)")
            records.append(found)
    problems += [f"{a.filename} (not in {a.subdir}/{REPODATA_FILE})" for a in wanted.values()]
    if problems:
        raise ArtifactsMissing(
            f"--offline: the packed channel does not list the packages as packed: "
            f"{', '.join(problems)}",
            path=channel,
            hint=f"nothing was built; {PACK_HINT}",
        )
    return records


def offline_solution(folder: Path, pack: PackRecord) -> CondaSolution:
    """The packed solve, pointing at the bundle's channel and wheels (the spec files say so)."""
    if pack.solution is None:
        raise BundleError("holds no conda solution", path=folder / record.RECORD_FILE)
    channel = (folder / record.CHANNEL_DIR).absolute().as_uri()
    wheels = {a.name: a for a in pack.artifacts if not a.subdir}

    def packed(package: CondaPackage) -> CondaPackage:
        filename = package.url.rsplit("/", 1)[-1]
        return replace(package, url=f"{channel}/{package.subdir}/{filename}")

    def wheel(package: PipPackage) -> PipPackage:
        artifact = wheels.get(package.planned.name)
        if artifact is None:
            raise BundleError(
                f"carries no wheel for {package.planned.requirement()} (the pip: section)",
                path=folder / record.RECORD_FILE,
                hint=PACK_HINT,
            )
        path = (record.artifact_path(folder, artifact)).absolute()
        return replace(package, url=path.as_uri(), sha256=artifact.sha256)

    return replace(
        pack.solution,
        channels=(channel,),
        packages=tuple(packed(p) for p in pack.solution.packages),
        pip=tuple(wheel(p) for p in pack.solution.pip),
    )


class OfflineCondaBackend(CondaBackend):
    """The conda backend installing only the bundle's packed channel and wheels."""

    def __init__(self) -> None:
        super().__init__(conda.DEFAULT_CHANNELS)
        # A cached env's key is the plan, whose packages carry the artifacts' sha256; the
        # packed channel's location is no part of what was built.
        self.channels = ()
        self.use_external = None

    def _solve(self, plan: Plan) -> Solved:
        if self._solved is not None and self._solved[0] is plan:
            return self._solved[1]
        folder, pack = read_pack(plan.recorded.bundle_dir, conda.NAME)
        records = packed_records(folder / record.CHANNEL_DIR, pack)
        solved = Solved(offline_solution(folder, pack), records)
        self._solved = (plan, solved)
        self.last_warnings = list(solved.solution.warnings)
        return solved

    def install_conda_packages(self, records: list[object], prefix: Path) -> None:
        """Link the packed records through an empty package cache of their own."""
        # A fresh cache beside the prefix: nothing the user's rattler cache holds can stand
        # in for an artifact, and a file:// record needs no network.
        with tempfile.TemporaryDirectory(prefix=".rebuild-env-pkgs-", dir=prefix.parent) as tmp:
            try:
                conda._install(records, prefix, cache=Path(tmp))
            except BuildError as exc:
                exc.hint = f"installing only from the bundle's channel (--offline); {PACK_HINT}"
                raise

    def install_pip_section(
        self, plan: Plan, packages: tuple[PipPackage, ...], python: Path
    ) -> None:
        """The packed wheels of the ``pip:`` section, offline, no index, hashes required."""
        wheels = plan.index.find_links[0]
        uv = uv_binary()
        with tempfile.TemporaryDirectory(
            prefix=".rebuild-env-cache-", dir=python.parents[2]
        ) as tmp:
            requirements = Path(tmp) / "pip-section.txt"
            requirements.write_text(
                "".join(f"{_exact(p)} --hash=sha256:{p.sha256}\n" for p in packages),
                encoding="utf-8",
            )
            args: list[str | Path]
            if uv is not None:
                args = [uv, "pip", "install", "--python", python, "--no-deps", "--offline"]
            else:
                args = [python, "-m", "pip", "install", "--no-deps", "--no-cache-dir"]
                args += ["--disable-pip-version-check"]
            args += ["--no-index", "--find-links", wheels, "--require-hashes", "-r", requirements]
            try:
                _subprocess.run(
                    args,
                    env=offline_env(Path(tmp) / "cache"),
                    timeout=conda.INSTALL_TIMEOUT_S,
                    what="pip: section install (offline)",
                )
            except BuildError as exc:
                exc.hint = f"installing only from {wheels} (--offline); {PACK_HINT}"
                raise


def _exact(package: PipPackage) -> str:
    """``name[extras] @ file:///...whl``: the packed wheel itself, whatever the plan named."""
    planned = package.planned
    extras = f"[{','.join(planned.extras)}]" if planned.extras else ""
    return f"{planned.name}{extras} @ {package.url}"
