"""Opcode arguments, read and decoded exactly as CPython's unpickler decodes them.

Protocol-0 ``STRING`` arguments are quoted and escape-decoded (``\\x2e`` is a dot), then
decoded as the unpickler decodes py2 strings (ASCII); ``UNICODE`` is raw-unicode-escape;
binary unicode is UTF-8 with surrogates; ``GLOBAL``/``INST`` names are one UTF-8 line each;
``INT``/``LONG`` lines must be plain decimals (CPython's C and Python unpicklers disagree on
``010``). Bytes stay bytes: a ``bytes`` key is not the attribute a ``str`` key would be.
Values the scanner does not model are :data:`UNKNOWN`, never ``None``.
"""

from __future__ import annotations

import codecs
import pickletools
import re
import struct

from .stream import ByteStream
from .values import UNKNOWN, ScanError

MAX_DECLARED = 1 << 34  # 16 GiB: larger declared lengths are lies
MAX_KEPT = 4096  # strings longer than this are skipped, not kept
MAX_LINE = 1 << 16
# Plain decimals only: CPython's C unpickler reads INT with strtol(base 0) ("010" is 8),
# the pure-Python one with int(x, 0) ("010" is an error); the two agree on these.
_DECIMAL = re.compile(rb"^(?:[+-]?[1-9][0-9]*|[+-]?0)$")
_STRING_ENCODING = "ascii"  # what joblib's and pickle's unpicklers decode py2 str with


def _int(stream: ByteStream, size: int, fmt: str) -> int:
    value: int = struct.unpack(fmt, stream.read(size))[0]
    return value


def length(value: int) -> int:
    if value < 0 or value > MAX_DECLARED:
        raise ScanError(f"declared length {value} is out of bounds")
    return value


def _blob(stream: ByteStream, n: int) -> bytes | None:
    n = length(n)
    if n > MAX_KEPT:
        stream.skip(n)
        return None
    return stream.read(n)


def _utf8(data: bytes | None) -> object:
    if data is None:
        return UNKNOWN
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise ScanError(f"a unicode argument is not UTF-8: {exc}") from None


def _py2str(data: bytes | None) -> object:
    """A protocol 0-2 ``str``: decoded as the unpickler does (ASCII), else it fails there."""
    if data is None:
        return UNKNOWN
    try:
        return data.decode(_STRING_ENCODING)
    except UnicodeDecodeError:
        raise ScanError("a py2 string argument is not ASCII; the unpickler fails on it") from None


def _bytes(data: bytes | None) -> object:
    return UNKNOWN if data is None else data


def _line(stream: ByteStream) -> bytes:
    """A line without its final newline, as the unpickler strips it (one byte)."""
    line = stream.readline(MAX_LINE)
    return line[:-1]


def _quoted(line: bytes) -> object:
    """STRING: quoted, escape-decoded (``\\x2e`` is a dot), then decoded like a py2 str."""
    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
        raise ScanError("a STRING argument is not quoted; the unpickler refuses it")
    try:
        raw = codecs.escape_decode(line[1:-1])[0]
    except ValueError as exc:
        raise ScanError(f"a STRING argument has a bad escape: {exc}") from None
    return _py2str(raw)


def _decimal(line: bytes, opcode: str) -> object:
    if opcode == "INT" and line in (b"00", b"01"):
        return line == b"01"
    if opcode == "LONG" and line.endswith(b"L"):
        line = line[:-1]
    if not _DECIMAL.match(line):
        raise ScanError(f"an {opcode} argument {line[:20]!r} is not a plain decimal")
    return int(line)


def read_arg(stream: ByteStream, op: pickletools.OpcodeInfo) -> object:
    kind = op.arg.name if op.arg is not None else ""
    # the most frequent first: BININT1/BINPUT/BINGET, then SHORT_BINUNICODE
    if kind == "uint1":
        return stream.read(1)[0]
    if kind == "unicodestring1":
        return _utf8(_blob(stream, stream.read(1)[0]))
    if kind == "uint2":
        return _int(stream, 2, "<H")
    if kind == "int4":
        return _int(stream, 4, "<i")
    if kind == "uint4":
        return _int(stream, 4, "<I")
    if kind == "uint8":
        return _int(stream, 8, "<Q")
    if kind == "float8":
        stream.read(8)
        return UNKNOWN
    if kind == "long1":
        return int.from_bytes(stream.read(stream.read(1)[0]), "little", signed=True)
    if kind == "long4":
        data = _blob(stream, length(_int(stream, 4, "<i")))
        return int.from_bytes(data, "little", signed=True) if data is not None else UNKNOWN
    if kind == "string1":
        return _py2str(_blob(stream, stream.read(1)[0]))
    if kind == "string4":
        return _py2str(_blob(stream, _int(stream, 4, "<i")))
    if kind == "bytes1":
        return _bytes(_blob(stream, stream.read(1)[0]))
    if kind == "bytes4":
        return _bytes(_blob(stream, _int(stream, 4, "<I")))
    if kind in ("bytes8", "bytearray8"):
        data = _blob(stream, _int(stream, 8, "<Q"))
        return UNKNOWN if kind == "bytearray8" else _bytes(data)
    if kind == "unicodestring4":
        return _utf8(_blob(stream, _int(stream, 4, "<I")))
    if kind == "unicodestring8":
        return _utf8(_blob(stream, _int(stream, 8, "<Q")))
    if kind == "stringnl":
        return _quoted(_line(stream))
    if kind == "unicodestringnl":
        try:
            return _line(stream).decode("raw-unicode-escape")
        except UnicodeDecodeError as exc:
            raise ScanError(f"a UNICODE argument has a bad escape: {exc}") from None
    if kind == "stringnl_noescape_pair":
        return (_utf8(_line(stream)), _utf8(_line(stream)))
    if kind in ("decimalnl_short", "decimalnl_long"):
        return _decimal(_line(stream), op.name)
    if kind == "floatnl":
        _line(stream)
        return UNKNOWN
    raise ScanError(f"unknown argument kind {kind}")
