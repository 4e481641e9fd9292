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
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.markers import Marker, default_environment
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, platform_tags
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from . import _subprocess, interpreters, uv_output
from .errors import BuildError, ResolveError
from .locations import cache_dir
from .pins import Pin, RecordedEnv
from .plan import Dropped, Interpreter, Plan, PlannedPackage

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


def tags_for(python_version: str) -> frozenset[Tag]:
    v = Version(python_version)
    version = (v.major, v.minor)
    platforms = list(platform_tags())
    interpreter = f"cp{v.major}{v.minor}"
    return frozenset(
        [
            *cpython_tags(version, platforms=platforms),
            *compatible_tags(version, interpreter, platforms),
        ]
    )


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


class _Resolver:
    def __init__(self, recorded: RecordedEnv, backend: str, *, prefer_recorded: bool) -> None:
        self.recorded = recorded
        self.backend = backend
        self.prefer_recorded = prefer_recorded
        self.warnings: list[str] = list(recorded.notes)
        self.conflicts: list[str] = []
        self.dropped: list[Dropped] = []
        self.last_reason = ""

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
                self.conflicts.append(
                    f"{recorded.source} pins {recorded.name} {recorded.version}, but "
                    f"{hint.source} requires {hint.specifier}"
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
    ) -> list[PlannedPackage]:
        """Resolve ``pins``; a recorded pin the model does not need may not block it.

        When uv names a pin it cannot satisfy here (no such version, no wheel for this
        Python, fails to build) and that pin is not in what the model needs, it is dropped
        with a warning and the rest resolved again (at most ``MAX_DROPPED`` times).
        """
        pins = list(pins)
        # What the app pinned and the model does not need is never built from source here
        # (psycopg2's sdist wants pg_config): no wheel for this Python means it is dropped.
        app = [p.name for p in pins if canonicalize_name(p.name) not in needed and not p.url]
        wheels_only = sorted({*ONLY_BINARY, *app})
        for _ in range(MAX_DROPPED):
            try:
                return self.compile(pins, python_version, exclude_newer, interp_path, wheels_only)
            except ResolveError:
                culprit = _blocking_pin(self.last_reason, pins, needed)
                if culprit is None:
                    raise
            pins.remove(culprit)
            reason = f"it cannot be installed for Python {python_version} here ({self.last_reason})"
            self.dropped.append(Dropped(culprit, reason))
            self.warnings.append(
                f"dropped {culprit.requirement()} ({culprit.source}): {reason}; the model "
                "does not need it"
            )
        return self.compile(pins, python_version, exclude_newer, interp_path, wheels_only)

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
            lines = self.recorded.index.requirement_lines()
            lines += [p.requirement() for p in pins] + ["pip"]
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text(
                "\n".join(c.requirement() for c in self.recorded.constraints) + "\n"
            )
            infile.write_text("\n".join(lines) + "\n")
            args: list[str | Path] = [
                uv,
                "pip",
                "compile",
                infile,
                "--python-version",
                python_version,
                # Name an interpreter so uv does not go looking for one: probing pyenv
                # shims on PATH costs it ~10 s. Only its version is overridden here.
                "--python",
                interp_path or sys.executable,
                "--no-header",
                "--no-annotate",
                "--quiet",
                "-c",
                constraints,
                "--python-platform",
                "linux" if sys.platform.startswith("linux") else sys.platform,
            ]
            if exclude_newer:
                args += ["--exclude-newer", exclude_newer]
            for name in wheels_only:
                args += ["--only-binary", name]
            key = [str(a) for a in args if a not in (infile, constraints)]
            ok, output = cached_compile(
                args, [*key, infile.read_text(), constraints.read_text()], bool(exclude_newer)
            )
        if not ok:
            if unreachable := uv_output.unreachable(output):
                raise ResolveError(
                    f"resolving for Python {python_version} needs {unreachable}",
                    hint="check the network and the index URLs the record names (a "
                    "private index needs its credentials set in the environment)",
                )
            self.last_reason = uv_output.first_cause(output)
            raise ResolveError(
                "the recorded requirements cannot be resolved together for Python "
                f"{python_version}: {self.last_reason}",
                hint="see the requirements file; pass --python to try another version",
            )
        resolved = f"resolved by uv as of {exclude_newer}" if exclude_newer else "resolved by uv"
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
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
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
        files = index.release_files(
            [p.name for p in pins if p.specifier],
            url=recorded.index.index_url,
            only={p.name: p.version for p in pins if p.version},
        )
        if files is None and pins:
            resolver.warnings.append(
                "the package index could not be read; resolving without release dates"
            )
    interp, python_version, python_source = resolver.choose_python(pins, python, files)
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
        exclude = resolver.exclude_newer(pins, files)
        packages = resolver.compile_for_model(
            pins,
            model_needs(hints, recorded.model.loader),
            python_version,
            exclude,
            interp.path if interp else None,
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
        index=recorded.index,
        exclude_newer=exclude,
        warnings=tuple(resolver.warnings),
        dropped=tuple(resolver.dropped),
        conflicts=tuple(resolver.conflicts),
    )
