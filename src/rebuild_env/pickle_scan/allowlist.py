"""The safety policy: an exact ``(module, name)`` allow-list, built from real model files.

``allowlist.txt`` (one ``module name`` pair a line) was produced by
``scripts/make_allowlist.py``, which saves real estimators with several scikit-learn
versions and records every global the files reference. Beyond it:

- a class-shaped name (CapWords) from a known ML library, outside any testing module, is
  *unknown*: allowed with a warning (new releases add estimators);
- everything else is refused: other modules, functions not on the list, dotted
  qualnames, testing modules, and the known-dangerous names below, whatever the list says.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

KNOWN_LIBRARIES = ("sklearn", "numpy", "scipy", "pandas", "joblib")
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
        "builtins",
        "__builtin__",
        "types",
        "cloudpickle",
        "dill",
        "io",
        "pathlib",
        "tempfile",
    }
)
# builtins that are safe reconstructors (the rest of builtins is refused)
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


@cache
def allowed_pairs() -> frozenset[tuple[str, str]]:
    """The exact allow-list."""
    text = Path(__file__).with_name("allowlist.txt").read_text(encoding="utf-8")
    pairs = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#"):
            pairs.add((parts[0], parts[1]))
    return frozenset(pairs)


def _testing(module: str) -> bool:
    parts = module.split(".")
    return any(
        p in ("tests", "testing", "_testing", "conftest") or p.startswith("test_") for p in parts
    )


def forbidden(module: str, name: str) -> bool:
    """Refused whatever any list says: dangerous modules and names, testing code, dotted names."""
    top = module.split(".", maxsplit=1)[0]
    if module == "builtins" and name in SAFE_BUILTINS:
        return False
    return "." in name or name in DANGEROUS_NAMES or top in DANGEROUS_MODULES or _testing(module)


def verdict(module: str, name: str, *, allow_modules: tuple[str, ...] = ()) -> str:
    """``allowed``, ``unknown`` (allowed with a warning) or ``refused``."""
    if forbidden(module, name):
        return "refused"
    if (module == "builtins" and name in SAFE_BUILTINS) or (module, name) in allowed_pairs():
        return "allowed"
    if any(module == m or module.startswith(m + ".") for m in allow_modules):
        return "allowed"
    top = module.split(".", maxsplit=1)[0]
    if top in KNOWN_LIBRARIES and name[:1].isupper() and not name.isupper():
        return "unknown"
    return "refused"
