"""The safety policy: exact ``(module, qualname)`` allow-lists, generated from real model files.

``allowlists/<profile>.json`` are written by ``scripts/make_allowlist.py``, which fits every
estimator of each library release in a real environment, saves it every way users do, and
records what a real unpickler asks for while loading it. There is no heuristic tier: a
global on no active list is refused, whatever its name looks like.

- The ``scikit-learn`` profile (with the numpy/scipy/pandas/joblib globals its models need)
  is always active, and so is ``python``: the standard library's plain data constructors,
  the one list reviewed by hand (``allowlists/README.md``).
- A third-party profile (``xgboost``, ``lightgbm``...) is active when the bundle's own record
  pins one of its distributions: the author declared the library, and it is installed anyway.
- ``--allow-module M`` allows every global of module ``M`` (and its submodules).
- Whatever a list says, :func:`forbidden` refuses dotted qualnames, dangerous modules and
  names, and testing code: the generator keeps such pairs out of the lists too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ALLOWLISTS = Path(__file__).with_name("allowlists")
CORE_PROFILE = "scikit-learn"
DANGEROUS_MODULES = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "sys",
        "shutil",
        "importlib",
        "runpy",
        "code",
        "pickle",
        "_pickle",
        "marshal",
        "ctypes",
        "socket",
        "pty",
        "commands",
        "webbrowser",
        "__builtin__",
        "types",
        "cloudpickle",
        "dill",
        "io",
        "pathlib",
        "tempfile",
    }
)
# builtins that only rebuild plain data (the rest of builtins is refused)
SAFE_BUILTINS = frozenset(
    {
        "set",
        "frozenset",
        "slice",
        "complex",
        "bytearray",
        "range",
        "object",
        "dict",
        "list",
        "tuple",
        "int",
        "float",
        "str",
        "bytes",
        "bool",
        # warning categories (0.20's search estimators keep FutureWarning): plain classes
        "Warning",
        "UserWarning",
        "FutureWarning",
        "DeprecationWarning",
        "PendingDeprecationWarning",
        "RuntimeWarning",
    }
)
DANGEROUS_NAMES = frozenset(
    {
        "eval",
        "exec",
        "compile",
        "open",
        "getattr",
        "setattr",
        "delattr",
        "__import__",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "load",
        "loads",
        "system",
        "popen",
        "call",
        "run",
        "apply",
        "execfile",
        "memmap",
        "fromfile",
        "loadtxt",
        "genfromtxt",
        "read_pickle",
        "load_library",
    }
)


@dataclass(frozen=True)
class Profile:
    """One generated allow-list: the globals real files of a library ask for."""

    name: str
    distributions: frozenset[str]
    pairs: frozenset[tuple[str, str]]
    sources: int
    """How many matrix cells (library version x Python) the list was generated from."""


def _testing(module: str) -> bool:
    parts = module.split(".")
    return any(
        p in ("tests", "testing", "_testing", "conftest") or p.startswith("test_") for p in parts
    )


def forbidden(module: str, name: str) -> bool:
    """Refused whatever any list says: dangerous modules and names, testing code, dotted names."""
    top = module.split(".", maxsplit=1)[0]
    if module == "builtins":
        return name not in SAFE_BUILTINS
    return "." in name or name in DANGEROUS_NAMES or top in DANGEROUS_MODULES or _testing(module)


def _read(path: Path) -> Profile:
    data = json.loads(path.read_text(encoding="utf-8"))
    pairs = set()
    for key in data.get("globals", {}):
        module, _, name = key.partition(" ")
        if module and name and not forbidden(module, name):
            pairs.add((module, name))
    return Profile(
        name=str(data["profile"]),
        distributions=frozenset(str(d).lower() for d in data.get("distributions", [])),
        pairs=frozenset(pairs),
        sources=len(data.get("sources", [])),
    )


@cache
def profiles() -> tuple[Profile, ...]:
    """Every generated profile, the core one first."""
    found = sorted((_read(p) for p in ALLOWLISTS.glob("*.json")), key=lambda p: p.name)
    return tuple(sorted(found, key=lambda p: p.name != CORE_PROFILE))


def active_profiles(pinned: Iterable[str]) -> tuple[Profile, ...]:
    """The always-on profiles (no distribution: scikit-learn, python) plus those whose
    library the record pins (names normalized)."""
    names = {n.lower().replace("_", "-").replace(".", "-") for n in pinned}
    return tuple(p for p in profiles() if not p.distributions or p.distributions & names)


def profile_of(module: str, name: str, active: Iterable[Profile]) -> Profile | None:
    """The first active profile that lists the pair."""
    return next((p for p in active if (module, name) in p.pairs), None)


def verdict(
    module: str,
    name: str,
    *,
    active: Iterable[Profile] | None = None,
    allow_modules: Iterable[str] = (),
) -> str:
    """``allowed:<profile>``, ``allowed:--allow-module`` or ``refused``."""
    if forbidden(module, name):
        return "refused"
    found = profile_of(module, name, active if active is not None else active_profiles(()))
    if found is not None:
        return f"allowed:{found.name}"
    if any(module == m or module.startswith(m + ".") for m in allow_modules):
        return "allowed:--allow-module"
    return "refused"
