"""Read a model file without running it: globals, arrays, safety verdict, version hints.

Never unpickles anything. See ``machine.py`` for how the opcodes are walked and
``allowlist.py`` for the policy.
"""

from __future__ import annotations

import json
import lzma
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import UnsafeModelError
from ..pins import Pin
from . import allowlist
from .companions import scan_companions
from .machine import Budget, Machine, Result, ScanError
from .stream import ByteStream, TooLarge, Truncated, open_stream

__all__ = ["ArrayInfo", "GlobalRef", "ScanReport", "check_safe", "scan_file"]

# import name -> distribution, for what model files reference
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "_loss": "scikit-learn",  # a Cython class pickled under a top-level name (sklearn 1.x)
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "joblib": "joblib",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "catboost": "catboost",
    "feature_engine": "feature-engine",
    "imblearn": "imbalanced-learn",
    "category_encoders": "category-encoders",
    "statsmodels": "statsmodels",
    "cloudpickle": "cloudpickle",
    "skops": "skops",
}
PROTOCOL_MIN_PYTHON = {5: "3.8", 4: "3.4", 3: "3.0"}
SOURCE = "model file"
# The walk's budget: opcode bytes plus nodes visited by checks. A raw file's opcodes never
# reach it (STEPS_PER_BYTE x its size); what it bounds is work a few bytes can cause
# (memo sharing, re-built states, a bomb's inflated opcodes): a hostile file is refused
# after well under a second.
STEP_FLOOR = 1 << 19
STEPS_PER_BYTE = 64
SKOPS_MAX_DEPTH = 200
SKOPS_FUNCTION_NODES = ("function", "partial")
MAX_NAMED = 8


@dataclass(frozen=True)
class GlobalRef:
    """A global the file references, and where it sits."""

    module: str
    name: str
    offset: int
    where: str

    def __str__(self) -> str:
        return f"{self.module}.{self.name} ({self.where}, offset {self.offset})"


@dataclass(frozen=True)
class ArrayInfo:
    """A numpy array payload found in a joblib file."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ScanReport:
    """What the static scan found."""

    path: Path
    container: str
    compression: str
    protocol: int
    size: int
    globals: tuple[GlobalRef, ...] = ()
    arrays: tuple[ArrayInfo, ...] = ()
    refused: tuple[GlobalRef, ...] = ()
    allowed_by: tuple[tuple[str, str], ...] = ()
    """``module.name`` -> the allow-list profile (or ``--allow-module``) that admitted it."""
    profiles: tuple[str, ...] = ()
    """The allow-list profiles that were active (the core one and those the record pins)."""
    companions: tuple[str, ...] = ()
    """Files beside the model that joblib < 0.10's wrappers read (scanned too)."""
    warnings: tuple[str, ...] = ()
    hints: tuple[Pin, ...] = ()
    min_python: str | None = None
    trusted: bool = False
    error: str = ""
    """Why the file could not be read (then it is refused)."""
    types: tuple[str, ...] = field(default=())

    @property
    def safe(self) -> bool:
        """No refused global and no parse error (or the user trusted the file)."""
        return self.trusted or (not self.refused and not self.error)

    def allowed_globals(self) -> list[tuple[str, str]]:
        """The exact globals the restricted unpickler in the probe may resolve."""
        return sorted({(g.module, g.name) for g in self.globals if g not in self.refused})

    def to_json(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "path": str(self.path),
            "container": self.container,
            "compression": self.compression,
            "protocol": self.protocol,
            "size": self.size,
            "safe": self.safe,
            "error": self.error or None,
            "globals": sorted({f"{g.module}.{g.name}" for g in self.globals}),
            "refused": [str(g) for g in self.refused],
            "allowed_by": dict(self.allowed_by),
            "profiles": list(self.profiles),
            "companions": list(self.companions),
            "arrays": [{"dtype": a.dtype, "shape": list(a.shape)} for a in self.arrays],
            "warnings": list(self.warnings),
            "hints": [
                {"name": p.name, "specifier": p.specifier, "source": p.source} for p in self.hints
            ],
            "min_python": self.min_python,
        }


def _hints(result: Result) -> list[Pin]:
    modules = {g.module for g in result.globals}
    tops = {m.split(".")[0] for m in modules}
    pins: dict[str, Pin] = {}
    for top in sorted(tops):
        dist = DISTRIBUTIONS.get(top)
        if dist and dist not in pins:
            pins[dist] = Pin(name=dist, source=f"{SOURCE}: references {top}")
    versions = Counter(result.strings.values())
    if versions:
        version = versions.most_common(1)[0][0]
        pins["scikit-learn"] = Pin(
            name="scikit-learn", specifier=f"=={version}", source=f"{SOURCE}: _sklearn_version"
        )
    if any(m.startswith("numpy._core") for m in modules):
        pins["numpy"] = Pin("numpy", ">=2", source=f"{SOURCE}: numpy._core (numpy 2)")
    elif any(m.startswith("numpy.core") for m in modules):
        pins["numpy"] = Pin("numpy", "<2", source=f"{SOURCE}: numpy.core (numpy 1)")
    if any(g.name in ("Int64Index", "Float64Index", "UInt64Index") for g in result.globals):
        pins["pandas"] = Pin("pandas", "<2", source=f"{SOURCE}: pandas Int64Index (pandas 1)")
    return list(pins.values())


def _skops_types(path: Path) -> tuple[str, ...]:
    """Every type and function a skops file's schema names (``module.name``)."""
    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()

    def walk(node: object, depth: int) -> None:
        if depth > SKOPS_MAX_DEPTH:
            raise ValueError("the schema nests too deep")
        if isinstance(node, dict):
            module, cls = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(cls, str):
                found.add(f"{module}.{cls}")
            content = node.get("content")
            if isinstance(content, dict) and cls in SKOPS_FUNCTION_NODES:
                fmodule, fname = content.get("module_path"), content.get("function")
                if isinstance(fmodule, str) and isinstance(fname, str):
                    found.add(f"{fmodule}.{fname}")
            for value in node.values():
                walk(value, depth + 1)
        elif isinstance(node, list):
            for value in node:
                walk(value, depth + 1)

    walk(schema, 0)
    return tuple(sorted(found))


def _split(dotted: str) -> tuple[str, str]:
    module, _, name = dotted.rpartition(".")
    return module, name


def _scan_skops(path: Path, report: partial[ScanReport], judge: _Judge) -> ScanReport:
    try:
        types = _skops_types(path)
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError) as exc:
        error = f"not a skops file: {exc}"
        return report(container="zip", compression="zip", protocol=0, error=error)
    refs = tuple(GlobalRef(*_split(t), offset=0, where="skops schema") for t in types)
    refused, allowed_by = judge(refs)
    return report(
        container="skops",
        compression="zip",
        protocol=0,
        types=types,
        globals=refs,
        refused=refused,
        allowed_by=allowed_by,
    )


_Judge = Callable[[Sequence[GlobalRef]], tuple[tuple[GlobalRef, ...], tuple[tuple[str, str], ...]]]


def _judge(active: Sequence[allowlist.Profile], allow_modules: Sequence[str]) -> _Judge:
    def judge(
        refs: Sequence[GlobalRef],
    ) -> tuple[tuple[GlobalRef, ...], tuple[tuple[str, str], ...]]:
        refused: list[GlobalRef] = []
        allowed_by: dict[str, str] = {}
        seen: dict[tuple[str, str], str] = {}
        for ref in refs:
            key = (ref.module, ref.name)
            if key not in seen:
                seen[key] = allowlist.verdict(
                    ref.module, ref.name, active=active, allow_modules=allow_modules
                )
            if seen[key] == "refused":
                refused.append(ref)
            else:
                allowed_by[f"{ref.module}.{ref.name}"] = seen[key].partition(":")[2]
        return tuple(refused), tuple(sorted(allowed_by.items()))

    return judge


def _walk(path: Path, handle: BinaryIO, kind: str, size: int, result: Result) -> str:
    """Walk the main pickle and every companion file; the reason it is refused, or ``""``."""
    budget = Budget(limit=max(STEP_FLOOR, STEPS_PER_BYTE * size))
    stream = ByteStream(handle, kind, size=size)
    if not stream.supported:
        return f"{kind}-compressed, and the {kind} module is not installed"
    try:
        if size == 0 or stream.at_end():
            raise ScanError("the file is empty")
        Machine(stream, result, "main pickle", budget, joblib=True).run()
        if not stream.at_end():
            raise ScanError(f"{stream.position} bytes of pickle are followed by trailing bytes")
        budget.charge(stream.walked)
        scan_companions(path.parent, result, budget)
    except ScanError as exc:
        return str(exc)
    except TooLarge as exc:
        return str(exc)
    except Truncated as exc:
        return f"the file is truncated ({exc})"
    except (OSError, EOFError, ValueError, MemoryError, zlib.error, lzma.LZMAError) as exc:
        return f"cannot decompress ({kind}): {exc}"
    return ""


def scan_file(
    path: Path,
    *,
    allow_modules: Sequence[str] = (),
    trust: bool = False,
    pinned: Iterable[str] = (),
) -> ScanReport:
    """Scan a raw pickle, joblib (any compression, old format included) or skops file
    without unpickling it. ``pinned``: the distributions the bundle's record pins, which
    turn on their libraries' generated allow-lists."""
    path = Path(path)
    try:
        size = path.stat().st_size
        handle, kind = open_stream(path)
    except Truncated as exc:
        error = f"the file is truncated ({exc})"
        return ScanReport(path, "joblib", "zfile", protocol=0, size=0, error=error)
    except OSError as exc:
        raise UnsafeModelError(f"cannot read model file: {exc.strerror}", path=path) from None
    active = allowlist.active_profiles(pinned)
    judge = _judge(active, tuple(allow_modules))
    report = partial(
        ScanReport,
        path=path,
        size=size,
        trusted=trust,
        profiles=tuple(p.name for p in active),
    )
    if kind == "zip":
        handle.close()
        return _scan_skops(path, report, judge)
    result = Result()
    with handle:
        error = _walk(path, handle, kind, size, result)
    refs = tuple(GlobalRef(g.module, g.name, g.offset, g.where) for g in result.globals)
    refused, allowed_by = judge(refs)
    joblib = (
        result.wrappers > 0
        or kind == "zfile"
        or any(r.module.startswith("joblib.") or ".externals.joblib" in r.module for r in refs)
    )
    return report(
        container="joblib" if joblib else "pickle",
        compression=kind,
        protocol=result.protocol,
        globals=refs,
        arrays=tuple(ArrayInfo(d, s) for d, s in result.arrays),
        refused=refused,
        allowed_by=allowed_by,
        hints=tuple(_hints(result)) if not error else (),
        min_python=PROTOCOL_MIN_PYTHON.get(result.protocol),
        error=error,
        companions=tuple(c.filename for c in result.companions),
    )


def check_safe(report: ScanReport) -> None:
    """Raise :class:`UnsafeModelError` (one line) unless the scan passed or was trusted.

    A refusal names every refused global at once, and every ``--allow-module`` that would
    admit them, so that one retry is enough.
    """
    if report.trusted:
        return
    if report.error:
        raise UnsafeModelError(
            f"cannot be proven safe ({report.error}); refused without running it",
            path=report.path,
            hint="check the file is complete and really a model file; "
            "if you trust it anyway: --trust",
        )
    if report.refused:
        names = sorted({f"{g.module}.{g.name}" for g in report.refused})
        first = report.refused[0]
        shown = ", ".join(names[:MAX_NAMED])
        more = f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else ""
        raise UnsafeModelError(
            f"refers to {shown}{more} (first at offset {first.offset}, {first.where}), "
            "on no allow-list of the libraries this bundle records; loading could run code, "
            "so it is refused without running it",
            path=report.path,
            hint=_allow_hint(report.refused),
        )


def _allow_hint(refused: Sequence[GlobalRef]) -> str:
    modules = sorted({g.module for g in refused if not allowlist.forbidden(g.module, g.name)})
    dangerous = sorted(
        {f"{g.module}.{g.name}" for g in refused if allowlist.forbidden(g.module, g.name)}
    )
    if dangerous:
        return (
            f"{', '.join(dangerous[:MAX_NAMED])} can run arbitrary code; only --trust loads "
            "this file, and only if you trust its author"
        )
    flags = " ".join(f"--allow-module {m}" for m in modules)
    return f"if you trust this file's author: {flags} (or --trust)"
