"""Read and write NumPy ``.npy`` files without NumPy (the host does not depend on it).

Only what ``compare`` needs: plain numeric, boolean and string arrays (no structured or
object dtypes, which the probe never writes: it saves with ``allow_pickle=False``).
"""

from __future__ import annotations

import ast
import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import RebuildEnvError

MAGIC = b"\x93NUMPY"
HEADER_ALIGNMENT = 64
# dtype code (kind + item size) -> struct format character
_STRUCT = {
    "b1": "?",
    "i1": "b",
    "i2": "h",
    "i4": "i",
    "i8": "q",
    "u1": "B",
    "u2": "H",
    "u4": "I",
    "u8": "Q",
    "f2": "e",
    "f4": "f",
    "f8": "d",
}
Value = bool | int | float | str | bytes


class NpyError(RebuildEnvError):
    """A ``.npy`` file this reader cannot use."""


@dataclass(frozen=True)
class NpyArray:
    """An array as stored: dtype descriptor (``<f8``), shape and the raw data in C order."""

    descr: str
    shape: tuple[int, ...]
    data: bytes

    @property
    def kind(self) -> str:
        """``b``, ``i``, ``u``, ``f``, ``U`` or ``S``."""
        return self.descr[1]

    @property
    def itemsize(self) -> int:
        """Bytes per element."""
        size = int(self.descr[2:])
        return size * 4 if self.kind == "U" else size

    @property
    def size(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)

    @property
    def numeric(self) -> bool:
        """Booleans, integers and floats (compared by value)."""
        return self.kind in "biuf"

    def values(self) -> list[Value]:
        """Every element, flat, in C order."""
        return list(_decode(self.descr, self.data, self.size))

    def rows(self) -> list[list[Value]]:
        """The elements grouped by the first axis (one row per sample)."""
        flat = self.values()
        if not self.shape:
            return [flat]
        width = self.size // self.shape[0] if self.shape[0] else 0
        return [flat[i * width : (i + 1) * width] for i in range(self.shape[0])]


def _decode(descr: str, data: bytes, count: int) -> Iterator[Value]:
    order, code = ("<" if descr[0] in "<|=" else ">"), descr[1:]
    if code[0] == "U":
        width = int(code[1:]) * 4
        encoding = "utf-32-le" if order == "<" else "utf-32-be"
        for i in range(count):
            yield data[i * width : (i + 1) * width].decode(encoding).rstrip("\x00")
        return
    if code[0] == "S":
        width = int(code[1:])
        for i in range(count):
            yield data[i * width : (i + 1) * width].rstrip(b"\x00")
        return
    yield from struct.unpack(f"{order}{count}{_STRUCT[code]}", data[: count * _itemsize(code)])


def _itemsize(code: str) -> int:
    return int(code[1:]) * (4 if code[0] == "U" else 1)


def _supported(descr: object) -> bool:
    if not isinstance(descr, str) or len(descr) < 3 or descr[0] not in "<>|=":
        return False
    code = descr[1:]
    return code in _STRUCT or (code[0] in "US" and code[1:].isdigit())


def read(path: Path) -> NpyArray:
    """Read a ``.npy`` file (any format version) into C order."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NpyError(f"cannot read it: {exc.strerror or exc}", path=path) from exc
    if not raw.startswith(MAGIC) or len(raw) < 10:
        raise NpyError("not a .npy file", path=path)
    major = raw[6]
    if major == 1:
        (length,), start = struct.unpack("<H", raw[8:10]), 10
    else:
        (length,), start = struct.unpack("<I", raw[8:12]), 12
    try:
        header = ast.literal_eval(raw[start : start + length].decode("latin-1"))
        descr, fortran, shape = header["descr"], header["fortran_order"], tuple(header["shape"])
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        raise NpyError("malformed .npy header", path=path) from exc
    if not _supported(descr):
        raise NpyError(f"unsupported dtype {descr!r}", path=path)
    data = raw[start + length :]
    count = math.prod(shape)
    if len(data) < count * _itemsize(descr[1:]):
        raise NpyError("truncated .npy data", path=path)
    data = data[: count * _itemsize(descr[1:])]
    if fortran and len(shape) > 1:
        data = _to_c_order(data, shape, _itemsize(descr[1:]))
    return NpyArray(descr=descr, shape=shape, data=data)


def _to_c_order(data: bytes, shape: tuple[int, ...], itemsize: int) -> bytes:
    """Column-major element bytes reordered row-major."""
    reversed_shape = shape[::-1]
    out = bytearray(len(data))
    count = math.prod(shape)
    for c_index in range(count):
        # the C-order multi-index, then its position in Fortran order
        rest, index = c_index, []
        for dim in reversed_shape:
            index.append(rest % dim)
            rest //= dim
        f_index, stride = 0, 1
        for i, dim in zip(reversed(index), shape, strict=True):
            f_index += i * stride
            stride *= dim
        out[c_index * itemsize : (c_index + 1) * itemsize] = data[
            f_index * itemsize : (f_index + 1) * itemsize
        ]
    return bytes(out)


def encode(descr: str, values: Sequence[Value]) -> bytes:
    """Element bytes of ``values`` for ``descr``."""
    order, code = ("<" if descr[0] in "<|=" else ">"), descr[1:]
    if code[0] == "U":
        width = int(code[1:])
        encoding = "utf-32-le" if order == "<" else "utf-32-be"
        return b"".join(str(v)[:width].ljust(width, "\x00").encode(encoding) for v in values)
    if code[0] == "S":
        width = int(code[1:])
        return b"".join(bytes(v)[:width].ljust(width, b"\x00") for v in values)  # type: ignore[arg-type]
    return struct.pack(f"{order}{len(values)}{_STRUCT[code]}", *values)


def write(path: Path, descr: str, shape: Sequence[int], values: Sequence[Value]) -> None:
    """Write a C-order ``.npy`` file (format 1.0, readable by every NumPy)."""
    header = repr({"descr": descr, "fortran_order": False, "shape": tuple(shape)})
    unpadded = len(MAGIC) + 4 + len(header) + 1
    header += " " * (-unpadded % HEADER_ALIGNMENT) + "\n"
    path.write_bytes(
        MAGIC + bytes([1, 0]) + struct.pack("<H", len(header)) + header.encode("latin-1")
        + encode(descr, values)
    )  # fmt: skip
