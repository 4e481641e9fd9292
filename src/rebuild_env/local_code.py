"""Models that need their author's own code: which modules, where they are, and trust.

A model file names the module of every class it holds. A top-level module that neither
the standard library, nor a distribution the bundle pins, nor a library the scanner knows
provides is the author's *local code*: a ``.py`` file or package shipped with the model.
It is searched for, in order, in ``--code-path`` folders, the bundle's own list (the
manifest's ``code:``, MLflow's ``code/``) and the bundle folder itself.

The scanner cannot judge such code (it is code, not a pickle), and importing it runs it,
so a rebuild that needs it is refused until the user has reviewed it (``--trust-code``).
Trusting it allows exactly the globals the scan found in those modules; the probe puts
exactly the folders found on ``sys.path``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import BundleError, CodeNotFound, UntrustedCode
from .pickle_scan import DISTRIBUTIONS, GlobalRef, ScanReport, check_safe
from .pickle_scan.allowlist import DANGEROUS_MODULES, forbidden
from .pins import CodeLocation, RecordedEnv

CODE_PATH_SOURCE = "--code-path"
BUNDLE_FOLDER_SOURCE = "bundle folder"
MAIN_MODULE = "__main__"
# Names the unpickler maps (protocol <= 2) or that are never a file of the author's.
_NOT_LOCAL = frozenset(sys.stdlib_module_names) | {"__builtin__", "copy_reg", "exceptions"}
# Import names that differ from the name of the distribution that provides them, for
# pins a model may rely on (the scanner's own map covers the ML libraries it installs).
IMPORT_NAMES = {
    "PIL": "pillow",
    "cv2": "opencv-python",
    "yaml": "pyyaml",
    "skimage": "scikit-image",
    "dateutil": "python-dateutil",
    "bs4": "beautifulsoup4",
    "Bio": "biopython",
    "attr": "attrs",
    "google": "protobuf",
    "sentence_transformers": "sentence-transformers",
}


@dataclass(frozen=True)
class LocalModule:
    """A module of the author's that the model file references, and where it was found."""

    name: str
    """The top-level module, e.g. ``my_features``."""
    globals: tuple[GlobalRef, ...]
    """What the model file takes from it (``my_features.AddRatio``)."""
    path: Path | None = None
    """The ``.py`` file or package folder; ``None`` when it was not found."""
    sys_path: Path | None = None
    """The folder that goes on the probe's ``sys.path`` so that ``import name`` finds it."""
    found_by: str = ""
    """Where it was found: ``--code-path``, ``bundle.yaml code``, ``MLmodel code``, ..."""

    def to_json(self) -> dict[str, Any]:
        """The ``local_code`` entry of ``--json``."""
        return {
            "module": self.name,
            "file": str(self.path) if self.path else None,
            "found_by": self.found_by or None,
            "globals": sorted({f"{g.module}.{g.name}" for g in self.globals}),
        }


@dataclass(frozen=True)
class LocalCode:
    """The local modules a model needs, and whether the user trusted them."""

    modules: tuple[LocalModule, ...] = ()
    trusted: bool = False

    def allowed_globals(self) -> list[tuple[str, str]]:
        """The globals the probe may resolve from local code (only when trusted)."""
        if not self.trusted:
            return []
        return sorted({(g.module, g.name) for m in self.modules for g in m.globals})

    def code_paths(self) -> list[str]:
        """The folders the probe appends to ``sys.path``, each once, in search order."""
        found = [str(m.sys_path) for m in self.modules if m.sys_path is not None]
        return list(dict.fromkeys(found))

    def files(self) -> dict[str, str]:
        """module -> the file or package folder it must be imported from."""
        return {m.name: str(m.path) for m in self.modules if m.path is not None}


def _top(module: str) -> str:
    return module.split(".", maxsplit=1)[0]


def _provided(top: str, recorded: RecordedEnv, allow_modules: Sequence[str]) -> bool:
    """Some distribution the environment will have (or the user vouched for) provides it."""
    if top in _NOT_LOCAL or top in DISTRIBUTIONS or top in DANGEROUS_MODULES:
        return True
    if any(_top(m) == top for m in allow_modules):
        return True
    from packaging.utils import canonicalize_name  # here: it imports packaging.tags (~25 ms)

    pinned = {p.name for p in (*recorded.pins, *recorded.constraints)}
    return canonicalize_name(top) in pinned or IMPORT_NAMES.get(top) in pinned


def search_order(recorded: RecordedEnv, code_paths: Sequence[Path]) -> list[CodeLocation]:
    """Where local code is looked for, first match wins."""
    given = [CodeLocation(Path(p).absolute(), CODE_PATH_SOURCE) for p in code_paths]
    bundle = CodeLocation(recorded.bundle_dir.absolute(), BUNDLE_FOLDER_SOURCE)
    return [*given, *recorded.code, bundle]


def locate(module: str, location: Path) -> tuple[Path, Path] | None:
    """``(file or package folder, folder for sys.path)`` of ``module`` at ``location``.

    ``location`` is the module itself (``my_features.py``, a ``my_features/`` package) or
    a folder that holds it.
    """
    if location.is_file():
        return (location, location.parent) if location.name == f"{module}.py" else None
    if not location.is_dir():
        return None
    if location.name == module and (location / "__init__.py").is_file():
        return location, location.parent
    if (location / f"{module}.py").is_file():
        return location / f"{module}.py", location
    if (location / module / "__init__.py").is_file():
        return location / module, location
    return None


def find_local_code(
    report: ScanReport,
    recorded: RecordedEnv,
    *,
    code_paths: Sequence[Path] = (),
    allow_modules: Sequence[str] = (),
    trusted: bool = False,
) -> LocalCode:
    """The local modules the scanned model references, each searched for."""
    by_module: dict[str, list[GlobalRef]] = {}
    for ref in report.globals:
        top = _top(ref.module)
        if top != MAIN_MODULE and not _provided(top, recorded, allow_modules):
            by_module.setdefault(top, []).append(ref)
    order = search_order(recorded, code_paths)
    modules = []
    for name, refs in sorted(by_module.items()):
        found = next(
            ((hit, loc.source) for loc in order if (hit := locate(name, loc.path)) is not None),
            None,
        )
        if found is None:
            modules.append(LocalModule(name, tuple(refs)))
        else:
            (path, folder), source = found
            modules.append(LocalModule(name, tuple(refs), path.resolve(), folder.resolve(), source))
    return LocalCode(tuple(modules), trusted=trusted)


def not_local(report: ScanReport, local: LocalCode) -> tuple[GlobalRef, ...]:
    """The refused globals that trusting the local code does not make loadable.

    A local module's dotted or dangerous names (``my_features.os.system``, ``.eval``)
    stay refused: trusting a file is not trusting whatever it re-exports.
    """
    mine = {m.name for m in local.modules}
    return tuple(
        r for r in report.refused if _top(r.module) not in mine or forbidden(r.module, r.name)
    )


def check_main(report: ScanReport) -> None:
    """A class pickled from ``__main__`` (a notebook or script) can be supplied by no file."""
    main = next((g for g in report.globals if g.module == MAIN_MODULE), None)
    if main is not None:
        raise BundleError(
            f"refers to {main.module}.{main.name}, a class defined in the script or notebook "
            "that saved the model; no code path can supply it",
            path=report.path,
            hint=f"move {main.name} into a module (e.g. my_code.py), import it from there, "
            "fit or load the model again and re-save it",
        )


def check_local_code(local: LocalCode, model: Path) -> None:
    """Raise when local code is missing, or is needed and not trusted."""
    missing = next((m for m in local.modules if m.path is None), None)
    if missing is not None:
        first = missing.globals[0]
        raise CodeNotFound(
            f"class {first.module}.{first.name} needs module {missing.name!r}, which no pinned "
            "or known distribution provides and which is not in the bundle",
            path=model,
            hint=f"pass --code-path DIR, the folder holding {missing.name}.py (or the "
            f"{missing.name}/ package); if a distribution provides it, pin it and pass "
            f"--allow-module {missing.name}",
        )
    if local.modules and not local.trusted:
        needed = local.modules[0]
        names = ", ".join(sorted({f"{g.module}.{g.name}" for g in needed.globals}))
        more = f" (and {len(local.modules) - 1} more module(s))" if len(local.modules) > 1 else ""
        raise UntrustedCode(
            f"needs its author's code: module {needed.name} from {needed.path} "
            f"({needed.found_by}) for {names}{more}; importing it runs it, so it is refused",
            path=model,
            hint=f"review {needed.path}, then pass --trust-code",
        )


def vet(
    report: ScanReport,
    recorded: RecordedEnv,
    *,
    trust: bool,
    trust_code: bool = False,
    code_paths: Sequence[Path] = (),
    allow_modules: Sequence[str] = (),
) -> LocalCode:
    """Judge a scanned model file with its local code; raise unless it may be loaded.

    In order: an unreadable file, a class from ``__main__``, globals that trusting the
    local code would not allow (unless ``trust``), local code not found, local code not
    trusted (``trust`` or ``trust_code`` trust it).
    """
    if report.error and not trust:
        check_safe(report)
    local = find_local_code(
        report,
        recorded,
        code_paths=code_paths,
        allow_modules=allow_modules,
        trusted=trust or trust_code,
    )
    check_main(report)
    if not trust:
        check_safe(replace(report, refused=not_local(report, local)))
    check_local_code(local, recorded.model.path)
    return local
