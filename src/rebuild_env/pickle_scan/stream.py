"""Byte sources for the scanner: container detection by magic bytes, streaming decompression.

Memory stays bounded: compressed files are decompressed chunk by chunk, and array
payloads are skipped without being kept.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1 << 20
RAW_CHUNK = 1 << 16
MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"PK\x03\x04", "zip"),
    (b"\x5d\x00\x00", "lzma"),
)
_ZLIB_SECOND = (0x01, 0x5E, 0x9C, 0xDA)


class Truncated(Exception):
    """The stream ended before what was declared."""


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def detect(head: bytes) -> str:
    """``none``, ``zlib``, ``gzip``, ``bz2``, ``xz``, ``lzma``, ``lz4`` or ``zip``."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    if len(head) >= 2 and head[0] == 0x78 and head[1] in _ZLIB_SECOND:
        return "zlib"
    return "none"


def _decompressor(kind: str) -> _Decompressor | None:
    if kind == "zlib":
        return zlib.decompressobj()
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    if kind in ("xz", "lzma"):
        return lzma.LZMADecompressor()
    if kind == "lz4":
        try:
            import lz4.frame  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return None
        return lz4.frame.LZ4FrameDecompressor()  # type: ignore[no-any-return,unused-ignore]
    return None


class ByteStream:
    """Exact reads over a raw or decompressed file, counting every byte."""

    def __init__(self, handle: BinaryIO, kind: str) -> None:
        self._handle = handle
        self._kind = kind
        self._dec = _decompressor(kind) if kind != "none" else None
        self._buffer = b""
        self._offset = 0  # how much of _buffer was consumed (sliced, never deleted)
        self._eof = False
        self._pending = b""
        self.position = 0

    @property
    def supported(self) -> bool:
        return self._kind == "none" or self._dec is not None

    def _fill(self, wanted: int) -> None:
        """Make ``wanted`` bytes available past the offset (or reach the end)."""
        parts = [self._buffer[self._offset :]]
        have = len(parts[0])
        # Small reads for a raw file: a skipped payload is seeked over, never read.
        while have < wanted and not self._eof:
            if self._dec is None:
                raw = self._handle.read(max(RAW_CHUNK, wanted - have))
                if not raw:
                    self._eof = True
            else:
                raw = self._inflate(self._dec)
            parts.append(raw)
            have += len(raw)
        self._buffer, self._offset = b"".join(parts), 0

    def _inflate(self, dec: _Decompressor) -> bytes:
        """At most CHUNK more decompressed bytes: a small file that inflates to gigabytes
        (a compression bomb) is walked a chunk at a time, never held whole."""
        if hasattr(dec, "unconsumed_tail"):  # zlib / gzip
            if not self._pending:
                self._pending = self._handle.read(CHUNK)
                if not self._pending:
                    self._eof = True
                    flush = getattr(dec, "flush", None)
                    return bytes(flush()) if flush is not None else b""
            out = dec.decompress(self._pending, CHUNK)
            self._pending = dec.unconsumed_tail
            return out
        # bz2, xz/lzma, lz4: they keep unconsumed input themselves
        if getattr(dec, "eof", False):
            self._eof = True
            return b""
        raw = b""
        if getattr(dec, "needs_input", True):
            raw = self._handle.read(CHUNK)
            if not raw:
                self._eof = True
                return b""
        return dec.decompress(raw, CHUNK)

    def read(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or :class:`Truncated`."""
        start = self._offset
        end = start + n
        if end > len(self._buffer):
            self._fill(n)
            start, end = 0, n
            if end > len(self._buffer):
                raise Truncated(f"needed {n} bytes at offset {self.position}")
        self._offset = end
        self.position += n
        return self._buffer[start:end]

    def skip(self, n: int) -> None:
        """Drop ``n`` bytes without keeping them (a seek, for an uncompressed file)."""
        available = len(self._buffer) - self._offset
        if n <= available:
            self._offset += n
            self.position += n
            return
        if self._dec is None:
            n -= available
            self.position += available
            self._buffer, self._offset = b"", 0
            here = self._handle.tell()
            end = self._handle.seek(0, 2)
            if here + n > end:
                raise Truncated(f"needed {n} bytes at offset {self.position}")
            self._handle.seek(here + n)
            self.position += n
            return
        while n > 0:
            step = min(n, CHUNK)
            self.read(step)
            n -= step

    def readline(self, limit: int = 1 << 16) -> bytes:
        """A ``\\n``-terminated line (protocol 0 arguments), bounded."""
        out = bytearray()
        while True:
            byte = self.read(1)
            out += byte
            if byte == b"\n":
                return bytes(out)
            if len(out) > limit:
                raise Truncated("line too long")

    def at_end(self) -> bool:
        """No byte left."""
        self._fill(1)
        return len(self._buffer) == self._offset


def open_stream(path: Path) -> tuple[BinaryIO, str]:
    """The open file and its container kind, from its first bytes."""
    handle = path.open("rb")
    head = handle.read(8)
    handle.seek(0)
    return handle, detect(head)
