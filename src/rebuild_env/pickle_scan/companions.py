"""The files beside a model that joblib < 0.10's array wrappers make ``joblib.load`` read.

``NDArrayWrapper`` hands ``filename`` to ``numpy.load(..., allow_pickle=True)``: a ``.npy``
file whose object-dtype payload, or a file that is no ``.npy`` at all, is unpickled.
``ZNDArrayWrapper`` inflates a z-file into an array's raw bytes. Each is scanned here the
way that loader reads it, within the same budgets as the model file, and must sit inside
the model's folder (joblib joins the name to it; ``../`` or an absolute path would reach
anywhere).
"""

from __future__ import annotations

import ast
import struct
from pathlib import Path

from . import dtypes
from .machine import Budget, Machine, Result, ScanError
from .stream import ZFILE_PREFIX, ByteStream, Truncated, open_stream

NPY_MAGIC = b"\x93NUMPY"
NPY_HEADER_MAX = 10000  # numpy's own max_header_size default
NPY_KEYS = frozenset({"descr", "fortran_order", "shape"})
ZIP_MAGIC = b"PK"


def _inside(folder: Path, filename: str) -> Path:
    if not filename or Path(filename).is_absolute():
        raise ScanError(f"a joblib companion file {filename!r} is not a relative name")
    base = folder.resolve()
    path = (base / filename).resolve()
    if not path.is_relative_to(base):
        raise ScanError(f"a joblib companion file {filename!r} lies outside the model's folder")
    if not path.is_file():
        raise ScanError(f"the joblib companion file {filename!r} is missing")
    return path


def scan_companions(folder: Path, result: Result, budget: Budget) -> None:
    """Scan every companion file the walk of the model file found."""
    seen: set[str] = set()
    for companion in result.companions:
        if companion.filename in seen:
            continue
        seen.add(companion.filename)
        path = _inside(folder, companion.filename)
        if companion.compressed:
            _zfile(path)
        else:
            _npy(path, result, budget)


def _pickle(path: Path, stream: ByteStream, result: Result, budget: Budget) -> None:
    where = f"pickle in companion file {path.name}"
    Machine(stream, result, where, budget, joblib=False).run()
    if not stream.at_end():
        raise ScanError(f"companion file {path.name}: bytes follow its pickle")
    budget.charge(stream.walked)


def _npy(path: Path, result: Result, budget: Budget) -> None:
    size = path.stat().st_size
    with path.open("rb") as handle:
        stream = ByteStream(handle, "none", size=size)
        try:
            magic = stream.read(len(NPY_MAGIC))
        except Truncated:
            magic = b""
        if magic.startswith(ZIP_MAGIC):
            raise ScanError(f"companion file {path.name} is an .npz archive, not an array")
        if magic != NPY_MAGIC:
            handle.seek(0)  # numpy.load unpickles anything that is not .npy or .npz
            _pickle(path, ByteStream(handle, "none", size=size), result, budget)
            return
        major = stream.read(2)[0]
        if major == 1:
            length, encoding = struct.unpack("<H", stream.read(2))[0], "latin-1"
        elif major in (2, 3):
            length = struct.unpack("<I", stream.read(4))[0]
            encoding = "latin-1" if major == 2 else "utf-8"
        else:
            raise ScanError(f"companion file {path.name}: .npy format version {major}")
        if length > NPY_HEADER_MAX:
            raise ScanError(f"companion file {path.name}: .npy header of {length} bytes")
        try:
            header = ast.literal_eval(stream.read(length).decode(encoding))
        except (ValueError, SyntaxError, RecursionError, MemoryError, UnicodeDecodeError):
            raise ScanError(f"companion file {path.name}: unreadable .npy header") from None
        if not isinstance(header, dict) or set(header) != NPY_KEYS:
            raise ScanError(f"companion file {path.name}: unreadable .npy header")
        layout = dtypes.from_descr(header["descr"], budget.charge)
        shape = header["shape"]
        if not isinstance(shape, tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise ScanError(f"companion file {path.name}: unreadable .npy shape")
        result.arrays.append((layout.code, shape))
        if layout.has_object:
            _pickle(path, stream, result, budget)
            return
        count = 1
        for d in shape:
            count *= d
        if size - stream.position != count * layout.itemsize:
            raise ScanError(f"companion file {path.name}: its data is not its header's size")


def _zfile(path: Path) -> None:
    """A z-file holds raw array bytes: only its size and compression are checked."""
    handle, kind = open_stream(path)
    with handle:
        if kind != "zfile":
            raise ScanError(f"companion file {path.name} does not start with {ZFILE_PREFIX!r}")
        ByteStream(handle, "zlib", size=path.stat().st_size).drain()
