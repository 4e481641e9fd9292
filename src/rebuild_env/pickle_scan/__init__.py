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
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import UnsafeModelError
from ..pins import Pin
from .allowlist import verdict
from .machine import Machine, Result, ScanError
from .stream import ByteStream, Truncated, open_stream

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
    unknown: tuple[GlobalRef, ...] = ()
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
            "unknown": sorted({f"{g.module}.{g.name}" for g in self.unknown}),
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
    with zipfile.ZipFile(path) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            module, cls = node.get("__module__"), node.get("__class__")
            if isinstance(module, str) and isinstance(cls, str):
                found.add(f"{module}.{cls}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return tuple(sorted(found))


def scan_file(path: Path, *, allow_modules: Sequence[str] = (), trust: bool = False) -> ScanReport:
    """Scan a raw pickle or joblib file (any compression) without unpickling it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        handle, kind = open_stream(path)
    except OSError as exc:
        raise UnsafeModelError(f"cannot read model file: {exc.strerror}", path=path) from None
    report = partial(ScanReport, path=path, size=size, trusted=trust)
    if kind == "zip":
        handle.close()
        try:
            types = _skops_types(path)
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            return report(
                container="zip",
                compression="zip",
                protocol=0,
                error=f"not a skops file: {exc}",
            )
        return report(container="skops", compression="zip", protocol=0, types=types)
    result = Result()
    with handle:
        stream = ByteStream(handle, kind)
        if not stream.supported:
            error = f"{kind}-compressed, and the {kind} module is not installed"
            return report(container="unknown", compression=kind, protocol=0, error=error)
        error = ""
        try:
            if size == 0 or stream.at_end():
                raise ScanError("the file is empty")
            Machine(stream, result, "main pickle").run()
            if not stream.at_end():
                raise ScanError(f"{stream.position} bytes of pickle are followed by trailing bytes")
        except ScanError as exc:
            error = str(exc)
        except Truncated:
            error = "the file is truncated"
        except (
            OSError,
            EOFError,
            ValueError,
            MemoryError,
            RuntimeError,
            zlib.error,
            lzma.LZMAError,
        ) as exc:
            error = f"cannot decompress ({kind}): {exc}"
    refs = tuple(GlobalRef(g.module, g.name, g.offset, g.where) for g in result.globals)
    allow = tuple(allow_modules)
    refused = tuple(r for r in refs if verdict(r.module, r.name, allow_modules=allow) == "refused")
    unknown = tuple(r for r in refs if verdict(r.module, r.name, allow_modules=allow) == "unknown")
    joblib = any(r.module.startswith("joblib.") or ".externals.joblib" in r.module for r in refs)
    warnings = [
        f"not on the allow-list (allowed with a warning): {u.module}.{u.name}"
        for u in {(u.module, u.name): u for u in unknown}.values()
    ]
    return report(
        container="joblib" if joblib else "pickle",
        compression=kind,
        protocol=result.protocol,
        globals=refs,
        arrays=tuple(ArrayInfo(d, s) for d, s in result.arrays),
        refused=refused,
        unknown=unknown,
        warnings=tuple(warnings),
        hints=tuple(_hints(result)) if not error else (),
        min_python=PROTOCOL_MIN_PYTHON.get(result.protocol),
        error=error,
    )


def check_safe(report: ScanReport) -> None:
    """Raise :class:`UnsafeModelError` (one line) unless the scan passed or was trusted."""
    if report.trusted:
        return
    if report.error:
        raise UnsafeModelError(
            f"cannot be read as a pickle/joblib file ({report.error}); refused without running it",
            path=report.path,
            hint="check the file is complete and really a model file",
        )
    if report.refused:
        first = report.refused[0]
        more = f" and {len(report.refused) - 1} more" if len(report.refused) > 1 else ""
        raise UnsafeModelError(
            f"refers to {first.module}.{first.name} ({first.where}, offset {first.offset}){more}, "
            "which could run code when loaded; refused without running it",
            path=report.path,
            hint=f"if you trust this file: --allow-module {first.module} or --trust",
        )
