"""The resolver: a :class:`RecordedEnv` (+ what the model file says) -> a :class:`Plan`.

It never changes a pin silently: every pin dropped, loosened, tightened or contradicted
becomes a warning in the plan. Packages the recorder left unpinned are resolved by uv *as
of the recorded releases' own date* (``--exclude-newer``), because old releases declare no
upper bounds and today's numpy breaks yesterday's scikit-learn.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.markers import Marker, default_environment
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from . import _subprocess, interpreters, legacy_metadata, uv_output
from .errors import BuildError, ResolveError
from .locations import cache_dir
from .pins import IndexOptions, Pin, RecordedEnv
from .plan import Dropped, Interpreter, Plan, PlannedPackage
from .target import compile_args, tags_for

if TYPE_CHECKING:
    from . import index

COMPILE_TIMEOUT_S = 600.0
# Distributions that exist only for another OS; a Linux environment cannot install them.
PLATFORM_ONLY = {
    "pywin32": "win32",
    "pywin32-ctypes": "win32",
    "pywinpty": "win32",
    "wmi": "win32",
    "windows-curses": "win32",
    "comtypes": "win32",
    "appnope": "darwin",
    "pyobjc": "darwin",
    "pyobjc-core": "darwin",
    "tensorflow-macos": "darwin",
    "tensorflow-metal": "darwin",
}
# Names pip freeze writes that were never installable packages.
NOT_PACKAGES = {
    "pkg-resources": "an artefact of Debian/Ubuntu's pip freeze, not a real package",
    "sklearn": "the deprecated dummy package that only stood for scikit-learn "
    "(it refuses to install since 2023)",
}


def _target_env(python_version: str) -> dict[str, str]:
    env = {k: str(v) for k, v in default_environment().items()}
    minor = ".".join(python_version.split(".")[:2])
    env.update(python_version=minor, python_full_version=python_version)
    return env


# What a model of these distributions needs besides them, to know what an app pin is.
_MODEL_DEPENDENCIES = {
    "scikit-learn": ("numpy", "scipy", "joblib", "threadpoolctl"),
    "pandas": ("numpy", "python-dateutil", "pytz", "tzdata", "six"),
    "scipy": ("numpy",),
    "lightgbm": ("numpy", "scipy", "scikit-learn"),
    "xgboost": ("numpy", "scipy"),
    "catboost": ("numpy", "scipy", "pandas", "six"),
    "skops": ("scikit-learn", "numpy", "huggingface-hub", "tabulate"),
    "feature-engine": ("numpy", "pandas", "scikit-learn", "scipy", "statsmodels"),
}
_REQUIRED_NAME = re.compile(
    r"you require ([A-Za-z0-9][A-Za-z0-9._-]*)"
    r"|[Bb]ecause (?:there is no version of |only )?([A-Za-z0-9][A-Za-z0-9._-]*)"
    r"|build `([A-Za-z0-9][A-Za-z0-9._-]*)"
)
MAX_DROPPED = 8
MAX_RECOVERIES = 16
"""Resolver failures worked around (pins dropped, metadata restated, cutoff moved) per plan."""
SEED = "setuptools"
"""Seeded into every resolved env unless recorded: pre-2023 libraries (xgboost 1.5, ...)
import ``pkg_resources`` at import time, and a conda env always had setuptools."""
SEED_WITHOUT_DATE = "setuptools<81"
"""With no record date to resolve as of: the newest releases that still ship pkg_resources."""
PYTHON_MINORS = tuple(f"3.{minor}" for minor in range(6, 15))
"""The Python minors asked about when saying which Pythons have wheels for a release."""
# Compiled libraries whose old sdists do not build on a current machine (or take many
# minutes): only releases with a wheel for the target Python are candidates. Without
# this, uv skips releases whose metadata it rejects (pandas 0.20-0.24 declare
# ``pytz>=2011k``) and settles on an ancient sdist (pandas 0.11) that then fails to build.
ONLY_BINARY = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "lightgbm",
    "xgboost",
    "catboost",
    "statsmodels",
    "h5py",
    "tables",
    "pyarrow",
    "matplotlib",
    "torch",
    "tensorflow",
)


class CompileFailed(ResolveError):
    """``uv pip compile`` found no resolution: its output and first cause travel with the
    error, for the recovery rules to read (not the CLI: it shows the message only)."""

    def __init__(self, message: str, *, compile_output: str, cause: str, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.compile_output = compile_output
        self.cause = cause


class _Resolver:
    def __init__(self, recorded: RecordedEnv, backend: str, *, prefer_recorded: bool) -> None:
        self.recorded = recorded
        self.backend = backend
        self.prefer_recorded = prefer_recorded
        self.warnings: list[str] = list(recorded.notes)
        self.conflicts: list[str] = []
        self.dropped: list[Dropped] = []
        self.index: IndexOptions = recorded.index
        self.metadata: list[legacy_metadata.DependencyMetadata] = []

    # -- pins --------------------------------------------------------------------------
    def merge_hints(self, pins: list[Pin], hints: Sequence[Pin]) -> list[Pin]:
        """Fold what the model file says into the recorded pins."""
        by_name = {p.name: i for i, p in enumerate(pins)}
        for hint in hints:
            if hint.name not in by_name:
                pins.append(hint)
                by_name[hint.name] = len(pins) - 1
                if hint.version:
                    self.warnings.append(
                        f"{hint.name}=={hint.version} added: the bundle does not pin it, "
                        f"{hint.source} does"
                    )
                continue
            recorded = pins[by_name[hint.name]]
            if not hint.specifier:
                continue
            try:
                hinted = SpecifierSet(hint.specifier)
                recorded_spec = SpecifierSet(recorded.specifier)
            except InvalidSpecifier:
                continue
            if recorded.version and hint.version and recorded.version != hint.version:
                if self.prefer_recorded:
                    self.conflicts.append(
                        f"{recorded.source} pins {recorded.name} {recorded.version}, but "
                        f"{hint.source} says {hint.version}; keeping the recorded pin "
                        "(--prefer-recorded; expect a version warning when the model loads)"
                    )
                    continue
                self.conflicts.append(
                    f"{recorded.source} pins {recorded.name} {recorded.version}, but "
                    f"{hint.source} says the model was written by {hint.version}; using "
                    f"{hint.version} (--prefer-recorded keeps the recorded pin)"
                )
                pins[by_name[hint.name]] = _repinned(recorded, hint, "over")
            elif recorded.version and not hinted.contains(recorded.version, prereleases=True):
                if self.prefer_recorded:
                    self.conflicts.append(
                        f"{recorded.source} pins {recorded.name} {recorded.version}, but "
                        f"{hint.source} requires {hint.specifier}; keeping the recorded pin "
                        "(--prefer-recorded)"
                    )
                    continue
                # The file cannot load with the recorded version (numpy 2 for a model
                # pickled with numpy 1): the model wins, as for an exact version.
                self.conflicts.append(
                    f"{recorded.source} pins {recorded.name} {recorded.version}, but "
                    f"{hint.source} requires {recorded.name}{hint.specifier}; using "
                    f"{recorded.name}{hint.specifier} (--prefer-recorded keeps the recorded pin)"
                )
                pins[by_name[hint.name]] = replace(
                    recorded,
                    specifier=str(hinted),
                    source=f"{hint.source} (over {recorded.source})",
                    hashes=(),
                    url="",
                )
            elif not recorded.version and hint.version:
                if recorded_spec.contains(hint.version, prereleases=True):
                    self.warnings.append(
                        f"{recorded.name} pinned to {hint.version} ({hint.source}); "
                        f"{recorded.source} allowed {recorded.specifier or 'any version'}"
                    )
                    pins[by_name[hint.name]] = _repinned(recorded, hint, "within")
                else:
                    self.conflicts.append(
                        f"{recorded.source} asks for {recorded.name}{recorded.specifier}, but "
                        f"{hint.source} says {hint.version}; keeping the recorded requirement"
                    )
        return pins

    def drop_uninstallable(self, pins: list[Pin], python_version: str) -> list[Pin]:
        """Leave out what cannot exist on this platform, each with a warning."""
        target = _target_env(python_version)
        kept = []
        for pin in pins:
            reason = ""
            if pin.name in NOT_PACKAGES:
                reason = NOT_PACKAGES[pin.name]
            elif pin.name in PLATFORM_ONLY and PLATFORM_ONLY[pin.name] != sys.platform:
                reason = f"it only exists for {PLATFORM_ONLY[pin.name]}"
            elif pin.marker and not Marker(pin.marker).evaluate(target):
                reason = f"its marker '{pin.marker}' is false here"
            if reason:
                self.dropped.append(Dropped(pin, reason))
                self.warnings.append(f"dropped {pin.requirement()} ({pin.source}): {reason}")
            else:
                kept.append(pin)
        if any(d.pin.name == "sklearn" for d in self.dropped) and not any(
            p.name == "scikit-learn" for p in kept
        ):
            kept.append(Pin(name="scikit-learn", source="stands for the dummy 'sklearn' pin"))
        return kept

    # -- python ------------------------------------------------------------------------
    def choose_python(
        self, pins: list[Pin], python: str | None, files: dict[str, list[index.ReleaseFile]] | None
    ) -> tuple[Interpreter | None, str, str]:
        """The interpreter (venv), the exact version and why."""
        if python is not None and (Path(python).exists() or "/" in python):
            interp = interpreters.explicit(python)
            return interp, interp.version, "--python"
        if python is not None:
            return self._find(python, "--python")
        record = self.recorded.python
        if record is not None and record.exact() is not None:
            return self._find(record.version, record.source)
        return self._newest_compatible(pins, files, record.version if record else "")

    def _find(self, version: str, source: str) -> tuple[Interpreter | None, str, str]:
        if self.backend == "conda":
            # conda installs Python itself: the recorded version, whatever this machine has.
            return None, version, source
        interp, warnings = interpreters.find(version, source=source)
        self.warnings.extend(warnings)
        return interp, interp.version, source

    def _newest_compatible(
        self, pins: list[Pin], files: dict[str, list[index.ReleaseFile]] | None, spec: str
    ) -> tuple[Interpreter | None, str, str]:
        from . import index

        try:
            allowed = SpecifierSet(spec) if spec else SpecifierSet()
        except InvalidSpecifier:
            allowed = SpecifierSet()
        found = [i for i in interpreters.available() if i.implementation == "cpython"]
        found = [i for i in found if Version(i.version).major == 3 and allowed.contains(i.version)]
        if not found:
            raise ResolveError(
                "no Python 3 interpreter found on this machine",
                hint="install one or pass --python PATH",
            )
        exact = [(p.name, p.version) for p in pins if p.version]
        for interp in found:
            tags = tags_for(interp.version)
            blockers = [
                name
                for name, version in exact
                if files is not None
                and files.get(name)
                and not index.supports_python(
                    release_of(files[name], version), Version(interp.version), tags
                )
            ]
            if not blockers:
                why = "newest interpreter here that every pinned release supports"
                self.warnings.append(
                    f"the bundle records no Python version; using {interp.version} ({why})"
                )
                return interp, interp.version, why
        chosen = found[0]
        self.warnings.append(
            f"the bundle records no Python version and no interpreter here has wheels for every "
            f"pin; trying the newest, {chosen.version}"
        )
        return chosen, chosen.version, "newest interpreter here"

    def nearest_python_with_wheels(
        self,
        pins: list[Pin],
        needed: frozenset[str],
        files: dict[str, list[index.ReleaseFile]],
        interp: Interpreter,
        source: str,
    ) -> tuple[Interpreter, str, str]:
        """The recorded Python, or the nearest minor here with files for the model's pins.

        A model's exact pins may have no wheel for the recorded Python (scikit-learn 0.23.2
        on 3.9, which came after it). The nearest minor is tried, older first (the pins
        were built for what came before them), then newer, with a warning naming the
        change; when none here fits, the error says which Pythons would.
        """
        from . import index

        model_pins = [p for p in pins if p.version and p.name in needed and files.get(p.name)]

        def blockers(version: str) -> list[Pin]:
            tags = tags_for(version)
            return [
                p
                for p in model_pins
                if not index.supports_python(
                    release_of(files[p.name], p.version or ""), Version(version), tags
                )
            ]

        blocked = blockers(interp.version)
        if not blocked or self.backend != "venv":
            return interp, interp.version, source
        here = Version(interp.minor)
        newest: dict[str, Interpreter] = {}
        for found in interpreters.available():
            if found.implementation == "cpython" and Version(found.version).major == here.major:
                newest.setdefault(found.minor, found)
        older = sorted((m for m in newest if Version(m) < here), key=Version, reverse=True)
        newer = sorted((m for m in newest if Version(m) > here), key=Version)
        names = ", ".join(f"{p.name}=={p.version}" for p in blocked)
        for minor in [*older, *newer]:
            if not blockers(newest[minor].version):
                chosen = newest[minor]
                self.warnings.append(
                    f"Python {interp.minor} ({source}) has no wheels for {names}; using "
                    f"{chosen.version}, the nearest Python here that has them"
                )
                return chosen, chosen.version, f"nearest to {source} with wheels"
        fits = [m for m in PYTHON_MINORS if not blockers(m)]
        raise ResolveError(
            f"no Python on this machine has wheels for {names} (recorded Python "
            f"{interp.minor}, {source}; found here: {', '.join(sorted(newest, key=Version))})",
            hint=(
                f"install Python {' or '.join(fits)} (pyenv install / uv python install) "
                "and run again, or pass --python"
                if fits
                else "no CPython 3.x has wheels for all of them on this platform"
            ),
        )

    # -- packages ----------------------------------------------------------------------
    def exclude_newer(
        self, pins: list[Pin], files: dict[str, list[index.ReleaseFile]] | None
    ) -> str:
        """The day after the newest recorded release: what 'as of recording time' means."""
        from . import index

        if files is None:
            return ""
        return index.day_after_newest(
            index.upload_date(_earliest_match(files[pin.name], pin))
            for pin in pins
            if pin.specifier and files.get(pin.name)
        )

    def compile_for_model(
        self,
        pins: list[Pin],
        needed: frozenset[str],
        python_version: str,
        exclude_newer: str,
        interp_path: Path | None,
        *,
        files: dict[str, list[index.ReleaseFile]] | None = None,
    ) -> tuple[list[PlannedPackage], str]:
        """Resolve ``pins``; what the model does not need may not block it.

        Each failure uv explains is worked around when a rule allows it, with a warning,
        and the rest resolved again: a release whose metadata uv rejects is restated to it
        (:mod:`legacy_metadata`); an exact pin published after the cutoff moves the cutoff;
        a pin that cannot be had here (no such version, no file for this Python, an sdist
        that fails to build, an unreachable VCS/URL reference) is dropped when the model
        does not need it, with its true reason; an unreachable extra index is left out.
        Returns the packages and the cutoff actually used.
        """
        pins = list(pins)
        # What the app pinned and the model does not need is never built from source when
        # the release has wheels elsewhere (psycopg2's sdist wants pg_config); a release
        # that is only an sdist (pure-Python, usually old) is built, with build isolation
        # and the build backend resolved as of the same date.
        app = [
            p.name
            for p in pins
            if canonicalize_name(p.name) not in needed and not p.url and not _sdist_only(files, p)
        ]
        wheels_only = sorted({*ONLY_BINARY, *app})
        for _ in range(MAX_RECOVERIES):
            try:
                packages = self.compile(
                    pins, python_version, exclude_newer, interp_path, wheels_only
                )
                return packages, exclude_newer
            except CompileFailed as failed:
                recovered = self._recover(
                    failed,
                    pins,
                    needed=needed,
                    python_version=python_version,
                    exclude_newer=exclude_newer,
                    files=files,
                )
                if recovered is None:
                    raise
                exclude_newer = recovered
        packages = self.compile(pins, python_version, exclude_newer, interp_path, wheels_only)
        return packages, exclude_newer

    def _recover(
        self,
        failed: CompileFailed,
        pins: list[Pin],
        *,
        needed: frozenset[str],
        python_version: str,
        exclude_newer: str,
        files: dict[str, list[index.ReleaseFile]] | None,
    ) -> str | None:
        """Work around ``failed`` (``pins`` edited in place): the cutoff to use next, or
        ``None`` when no rule applies."""
        from . import index

        output, cause = failed.compile_output, failed.cause
        invalid = legacy_metadata.invalid_release(output)
        if invalid is not None and not any(
            m.name == canonicalize_name(invalid[0]) and m.version == invalid[1]
            for m in self.metadata
        ):
            text = index.wheel_metadata(invalid[0], invalid[1], url=self.index.index_url)
            stated = (
                legacy_metadata.describe(canonicalize_name(invalid[0]), invalid[1], text)
                if text
                else None
            )
            if stated is not None:
                self.metadata.append(stated)
                self.warnings.append(
                    f"{stated.name} {stated.version} declares "
                    f"{', '.join(repr(r) for r in stated.repaired) or 'metadata'} that uv "
                    f"cannot parse; its requirements are stated to uv as "
                    f"{', '.join(stated.requires_dist) or 'none'} (uv dependency-metadata)"
                )
                return exclude_newer
        moved = self._moved_cutoff(cause, pins, files, exclude_newer)
        if moved:
            return moved
        culprit = _blocking_pin(cause, pins, needed) or _failed_pin(output, pins)
        if culprit is None or culprit.name in needed:
            unreachable = uv_output.unreachable(output)
            return self._drop_index(unreachable, exclude_newer) if unreachable else None
        pins.remove(culprit)
        reason = why_uninstallable(culprit, files, python_version, cause)
        self.dropped.append(Dropped(culprit, reason))
        self.warnings.append(
            f"dropped {culprit.requirement()} ({culprit.source}): {reason}; the model "
            "does not need it"
        )
        return exclude_newer

    def _moved_cutoff(
        self,
        cause: str,
        pins: list[Pin],
        files: dict[str, list[index.ReleaseFile]] | None,
        cutoff: str,
    ) -> str:
        """A later cutoff when uv's ``cause`` blames an exact pin published after ``cutoff``,
        else ``""``.

        The record locks that release, so "as of the record's date" cannot be earlier than
        its upload (its files may not all have been known when the cutoff was first set).
        """
        from . import index

        if not cutoff or files is None:
            return ""
        blamed = {
            canonicalize_name(next(g for g in m.groups() if g).rstrip("."))
            for m in _REQUIRED_NAME.finditer(cause)
        }
        for pin in pins:
            if pin.name not in blamed or not pin.version:
                continue
            if not files.get(pin.name):  # its page could not be read when the cutoff was set
                again = index.release_files(
                    [pin.name], url=self.index.index_url, only={pin.name: pin.version}
                )
                files[pin.name] = (again or {}).get(pin.name, [])
            uploaded = index.upload_date(release_of(files[pin.name], pin.version))
            later = index.day_after_newest([uploaded])
            if later and later > cutoff:
                self.warnings.append(
                    f"the resolution date moved from {cutoff} to {later}: the record locks "
                    f"{pin.name}=={pin.version}, published {uploaded[:10]}"
                )
                return later
        return ""

    def _drop_index(self, unreachable: str, cutoff: str) -> str | None:
        """Leave out an extra index (or find-links) that cannot be reached; the main index
        serves. The main index itself is never replaced."""
        extra = [u for u in (*self.index.extra_index_urls, *self.index.find_links) if u]
        for url in extra:
            if url.rstrip("/") in unreachable:
                self.index = replace(
                    self.index,
                    extra_index_urls=tuple(u for u in self.index.extra_index_urls if u != url),
                    find_links=tuple(u for u in self.index.find_links if u != url),
                )
                self.warnings.append(
                    f"left out the extra index {url}: it cannot be reached "
                    f"({unreachable.rsplit('(', 1)[-1].rstrip(')')}); packages resolve "
                    "from the main index"
                )
                return cutoff
        return None

    def compile(
        self,
        pins: list[Pin],
        python_version: str,
        exclude_newer: str,
        interp_path: Path | None,
        wheels_only: Sequence[str] = ONLY_BINARY,
    ) -> list[PlannedPackage]:
        """Resolve ``pins`` to an exact closure with ``uv pip compile``."""
        uv = interpreters.uv_binary()
        if uv is None:
            raise ResolveError(
                "resolving loose pins needs uv", hint="pip install uv (a dependency of rebuild-env)"
            )
        sources = {p.name: p.source for p in pins}
        with tempfile.TemporaryDirectory(prefix="rebuild-env-") as tmp:
            infile = Path(tmp) / "requirements.in"
            lines = self.index.requirement_lines()
            lines += [p.requirement() for p in pins] + ["pip"]
            if not any(p.name == SEED for p in pins):
                lines.append(SEED if exclude_newer else SEED_WITHOUT_DATE)
            config = Path(tmp) / "uv.toml"
            config.write_text(legacy_metadata.uv_config(self.metadata) if self.metadata else "")
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text(
                "\n".join(c.requirement() for c in self.recorded.constraints) + "\n"
            )
            infile.write_text("\n".join(lines) + "\n")
            args = compile_args(
                uv,
                infile,
                python_version=python_version,
                interpreter=interp_path,
                constraints=constraints,
                exclude_newer=exclude_newer or "",
                config=config if self.metadata else None,
                only_binary=wheels_only,
            )
            key = [str(a) for a in args if a not in (infile, constraints, config)]
            texts = [infile.read_text(), constraints.read_text(), config.read_text()]
            ok, output = cached_compile(args, [*key, *texts], bool(exclude_newer))
        if not ok:
            cause = uv_output.first_cause(output)
            if unreachable := uv_output.unreachable(output):
                raise CompileFailed(
                    f"resolving for Python {python_version} needs {unreachable}",
                    compile_output=output,
                    cause=cause,
                    hint="check the network and the index URLs the record names (a "
                    "private index needs its credentials set in the environment)",
                )
            raise CompileFailed(
                "the recorded requirements cannot be resolved together for Python "
                f"{python_version}: {cause}",
                compile_output=output,
                cause=cause,
                hint="the plan's warnings say what was already left out; pass --python "
                "VERSION to try another Python, or fix the pin uv names",
            )
        resolved = f"resolved by uv as of {exclude_newer}" if exclude_newer else "resolved by uv"
        if not any(p.name == SEED for p in pins):
            sources[SEED] = f"seeded, resolved as of {exclude_newer}" if exclude_newer else "seeded"
        return parse_compiled(output, sources, resolved)


def parse_compiled(
    output: str, sources: dict[str, str], default_source: str
) -> list[PlannedPackage]:
    """The packages of ``uv pip compile`` output, each with the source of its pin."""
    packages = []
    for raw in output.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "-")):
            continue
        pin = Pin.parse(line, source="")
        packages.append(
            PlannedPackage(
                name=pin.name,
                version=pin.version or "",
                source=sources.get(pin.name) or default_source,
                url=pin.url,
                extras=pin.extras,
            )
        )
    return packages


def _repinned(recorded: Pin, hint: Pin, relation: str) -> Pin:
    """The recorded pin moved to the version the model file names (its hashes dropped)."""
    source = f"{hint.source} ({relation} {recorded.source})"
    return replace(recorded, specifier=f"=={hint.version}", source=source, hashes=(), url="")


def release_of(files: list[index.ReleaseFile], version: str) -> list[index.ReleaseFile]:
    """The files of one release (none for a version that does not parse)."""
    try:
        wanted = Version(version)
    except InvalidVersion:
        return []
    return [f for f in files if f.version == wanted]


def _earliest_match(files: list[index.ReleaseFile], pin: Pin) -> list[index.ReleaseFile]:
    """The files of the oldest release that satisfies ``pin``.

    That release's date is the earliest moment the recorded constraint could be met:
    ``requests==2.26.*`` dates the record no earlier than 2.26.0, ``numpy>=1.20`` no
    earlier than 1.20.0. Exact pins are their own oldest match.
    """
    if pin.version:
        return release_of(files, pin.version)
    try:
        spec = SpecifierSet(pin.specifier)
    except InvalidSpecifier:
        return []
    matching = sorted({f.version for f in files if not f.yanked and spec.contains(f.version)})
    return [f for f in files if matching and f.version == matching[0]]


RESOLUTION_TTL_S = {True: 30 * 24 * 3600, False: 24 * 3600}
"""How long a resolution is reused: a month when it is as of a date, a day when as of now."""


def cached_compile(
    args: Sequence[str | Path], key: list[str], dated: bool, *, output_file: Path | None = None
) -> tuple[bool, str]:
    """Run ``uv pip compile`` once per distinct question: ``(succeeded, its output)``.

    The same pins, Python, index options and date give the same answer, so a cache hit of
    a ``requirements.txt`` bundle does not pay for the resolver again. An answer that
    depends on the network (an unreachable URL) is never kept. ``output_file``: the
    command writes its answer there (``-o``) instead of on stdout.
    """
    uv = Path(str(args[0]))
    with contextlib.suppress(OSError):
        key = [*key, str(uv.stat().st_mtime_ns)]
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:32]
    path = cache_dir() / "resolutions" / f"{digest}.json"
    try:
        entry = json.loads(path.read_text())
        if time.time() - float(entry["at"]) < RESOLUTION_TTL_S[dated]:
            return bool(entry["ok"]), str(entry["output"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        done = _subprocess.run(
            list(args),
            env=_subprocess.clean_env({"UV_NO_PROGRESS": "1"}),
            timeout=COMPILE_TIMEOUT_S,
            what="uv pip compile",
        )
        ok, output = True, output_file.read_text() if output_file else done.stdout
    except BuildError as exc:
        ok, output = False, exc.output
        if uv_output.unreachable(output) or not uv_output.resolver_steps(output):
            return ok, output  # the network's answer, or not the resolver's: ask again
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"at": time.time(), "ok": ok, "output": output}))
        tmp.replace(path)
    return ok, output


def model_needs(hints: Sequence[Pin], loader: str) -> frozenset[str]:
    """The distributions the model file needs (from the scan), with their own dependencies."""
    wanted: list[str] = [canonicalize_name(h.name) for h in hints]
    if loader in ("joblib", "cloudpickle", "skops"):
        wanted.append(loader)
    needed: set[str] = set()
    while wanted:
        name = wanted.pop()
        if name not in needed:
            needed.add(name)
            wanted.extend(_MODEL_DEPENDENCIES.get(name, ()))
    return frozenset(needed)


# uv: "Failed to download and build `name @ git+https://...`", "Failed to build `name==1.0`"
_FAILED_NAME = re.compile(
    r"Failed to (?:download and build|download|build|prepare distributions?|fetch)"
    r"[^`\n]*`([A-Za-z0-9][A-Za-z0-9._-]*)"
)


def _failed_pin(output: str, pins: Sequence[Pin]) -> Pin | None:
    """The recorded pin an installer failure names (a build, a download, a VCS clone)."""
    for match in _FAILED_NAME.finditer(output):
        name = canonicalize_name(match.group(1))
        for pin in pins:
            if pin.name == name:
                return pin
    return None


def _sdist_only(files: dict[str, list[index.ReleaseFile]] | None, pin: Pin) -> bool:
    """Whether the pinned release exists on the index only as an sdist (usually pure Python)."""
    if files is None or not pin.version or not files.get(pin.name):
        return False
    release = release_of(files[pin.name], pin.version)
    return bool(release) and not any(f.tags for f in release)


def why_uninstallable(
    pin: Pin,
    files: dict[str, list[index.ReleaseFile]] | None,
    python_version: str,
    uv_reason: str,
) -> str:
    """The true reason a pin cannot be installed here, from the index when it knows."""
    from . import index

    if pin.url:
        return f"{pin.url} cannot be fetched or built here ({uv_reason})"
    release = (
        release_of(files[pin.name], pin.version)
        if files is not None and pin.version and files.get(pin.name)
        else None
    )
    if files is not None and pin.version and files.get(pin.name) and not release:
        return f"{pin.name} {pin.version} is not on the index"
    if release and all(f.yanked for f in release):
        return f"{pin.name} {pin.version} was yanked from the index"
    if release and not index.supports_python(
        release, Version(python_version), tags_for(python_version)
    ):
        fits = [m for m in PYTHON_MINORS if index.supports_python(release, Version(m), tags_for(m))]
        where = f" (it has files for Python {', '.join(fits)})" if fits else ""
        return f"{pin.name} {pin.version} has no file for Python {python_version} here{where}"
    if release and not any(f.tags for f in release):
        return f"{pin.name} {pin.version} is only an sdist, and it did not build ({uv_reason})"
    return f"uv: {uv_reason}"


def _blocking_pin(reason: str, pins: Sequence[Pin], needed: frozenset[str]) -> Pin | None:
    """The recorded pin uv's explanation blames, when the model does not need it."""
    for match in _REQUIRED_NAME.finditer(reason):
        name = canonicalize_name(next(g for g in match.groups() if g).rstrip("."))
        for pin in pins:
            if canonicalize_name(pin.name) == name and name not in needed:
                return pin
    return None


def _is_closed(recorded: RecordedEnv, pins: list[Pin]) -> bool:
    """A manifest records the whole installed closure, exactly: nothing left to resolve."""
    return recorded.format == "manifest" and all(p.version and not p.url for p in pins)


def make_plan(
    recorded: RecordedEnv,
    *,
    backend: str = "venv",
    python: str | None = None,
    hints: Sequence[Pin] = (),
    resolve: bool = True,
    prefer_recorded: bool = False,
) -> Plan:
    """Decide the environment for ``recorded``.

    ``python`` is ``--python`` (a version or a path); ``hints`` are pins inferred from
    the model file; where they contradict a recorded pin, the model file's version wins
    (it is the version that wrote the model) unless ``prefer_recorded``. With
    ``resolve=False`` loose pins stay loose (no index access).
    """
    resolver = _Resolver(recorded, backend, prefer_recorded=prefer_recorded)
    pins = resolver.merge_hints(list(recorded.pins), hints)
    closed = _is_closed(recorded, pins)
    files = None
    if resolve and not closed:
        from . import index  # only here: a closed manifest never asks the index

        # an exact pin needs only its own release's files (its date, its wheels)
        # constraints count too: a release the record locks dates the record
        locked = [*pins, *(c for c in recorded.constraints if c.version)]
        files = index.release_files(
            [p.name for p in locked if p.specifier],
            url=recorded.index.index_url,
            only={p.name: p.version or "" for p in locked if p.version},
        )
        if files is None and pins:
            resolver.warnings.append(
                "the package index could not be read; resolving without release dates"
            )
    needed = model_needs(hints, recorded.model.loader)
    interp, python_version, python_source = resolver.choose_python(pins, python, files)
    if python is None and interp is not None and files is not None:
        interp, python_version, python_source = resolver.nearest_python_with_wheels(
            pins, needed, files, interp, python_source
        )
    pins = resolver.drop_uninstallable(pins, python_version)
    exclude = ""
    if closed or not resolve:
        packages = [
            PlannedPackage(
                name=p.name,
                version=p.version or "",
                source=p.source,
                hashes=p.hashes,
                url=p.url,
                extras=p.extras,
            )
            for p in pins
        ]
    else:
        exclude = resolver.exclude_newer(
            [*pins, *(c for c in recorded.constraints if c.version)], files
        )
        packages, exclude = resolver.compile_for_model(
            pins, needed, python_version, exclude, interp.path if interp else None, files=files
        )
        seeded = next((p for p in packages if p.name == SEED), None)
        if seeded is not None and not any(p.name == SEED for p in pins):
            when = f"resolved as of {exclude}" if exclude else "the newest with pkg_resources"
            resolver.warnings.append(
                f"setuptools {seeded.version} seeded ({when}): libraries of that time import "
                "pkg_resources, which every conda env had and a bare venv lacks"
            )
        gone = {d.pin.name for d in resolver.dropped}
        unpinned = [p.name for p in pins if not p.specifier and not p.url and p.name not in gone]
        if unpinned and exclude:
            resolver.warnings.append(
                f"unpinned {', '.join(unpinned)} resolved as of {exclude} "
                "(the day after the newest recorded release)"
            )
        elif unpinned:
            resolver.warnings.append(
                f"unpinned {', '.join(unpinned)} resolved to today's newest versions"
            )
    return Plan(
        recorded=recorded,
        backend=backend,
        python_version=python_version,
        python_source=python_source,
        interpreter=interp,
        packages=tuple(packages),
        index=resolver.index,
        exclude_newer=exclude,
        warnings=tuple(resolver.warnings),
        dropped=tuple(resolver.dropped),
        conflicts=tuple(resolver.conflicts),
        dependency_metadata=tuple(resolver.metadata),
    )


def without_failed_install(
    plan: Plan,
    hints: Sequence[Pin],
    output: str,
    *,
    python: str | None = None,
    prefer_recorded: bool = False,
) -> Plan | None:
    """The plan again without the recorded pin an installer failure names (a wheel that
    did not build, a download that failed), when the model does not need it; else ``None``.

    The same pruning rule as at resolution time, for what only fails when installing.
    """
    needed = model_needs(hints, plan.recorded.model.loader)
    culprit = _failed_pin(output, plan.recorded.pins)
    if culprit is None or culprit.name in needed:
        return None
    cause = uv_output.install_cause(output) or uv_output.last_line(output)
    reason = f"it failed to install here ({cause})"
    recorded = replace(
        plan.recorded,
        pins=tuple(p for p in plan.recorded.pins if p.name != culprit.name),
        notes=(
            *plan.recorded.notes,
            f"dropped {culprit.requirement()} ({culprit.source}): {reason}; the model does "
            "not need it",
        ),
    )
    again = make_plan(
        recorded,
        backend=plan.backend,
        python=python,
        hints=hints,
        resolve=True,
        prefer_recorded=prefer_recorded,
    )
    return replace(again, dropped=(*again.dropped, Dropped(culprit, reason)))
