"""Byte sources for the scanner: container detection by magic bytes, streaming decompression.

Detection follows joblib's own order and prefixes (``numpy_pickle_utils._detect_compressor``),
so the scanner reads a file as the container joblib will read it as: the old ``ZF`` z-file
first, then zlib (any ``x`` byte), gzip, bz2 (``BZ``), xz, lzma, lz4. Compressed data must
run to the end of the file: bytes after the compressed stream are refused, never ignored.

Memory stays bounded: compressed files are decompressed chunk by chunk, and array payloads
are skipped without being kept. Work stays bounded too: a file may not inflate past
:data:`INFLATE_RATIO` times its size (with a floor, and a cap in total). Real model files
compress a few times to a few tens of times (float arrays, trees); a file that inflates
hundreds of times is mostly zeros or a bomb, and both are refused in well under a second.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from pathlib import Path
from typing import BinaryIO, Protocol

CHUNK = 1 << 20
RAW_CHUNK = 1 << 16
INFLATE_RATIO = 256
INFLATE_FLOOR = 64 << 20
INFLATE_CAP = 64 << 30
ZFILE_PREFIX = b"ZF"
# joblib writes the z-file's length as "%#x" padded to len(hex(2**64)), then zlib data
ZFILE_HEADER = len(ZFILE_PREFIX) + len(f"{2**64:#x}")
MAGIC = (
    (b"PK\x03\x04", "zip"),  # skops (joblib has no zip container)
    (ZFILE_PREFIX, "zfile"),
    (b"\x78", "zlib"),
    (b"\x1f\x8b", "gzip"),
    (b"BZ", "bz2"),
    (b"\xfd\x37\x7a\x58\x5a", "xz"),
    (b"\x5d\x00", "lzma"),
    (b"\x04\x22\x4d\x18", "lz4"),
)


class Truncated(Exception):
    """The stream ended before what was declared."""


class TooLarge(Exception):
    """The file inflates past its decompression budget."""


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def detect(head: bytes) -> str:
    """``none``, ``zfile``, ``zlib``, ``gzip``, ``bz2``, ``xz``, ``lzma``, ``lz4`` or ``zip``."""
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    return "none"


def _decompressor(kind: str) -> _Decompressor | None:
    if kind in ("zlib", "zfile"):
        return zlib.decompressobj()
    if kind == "gzip":
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    if kind == "lzma":
        return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE)
    if kind == "lz4":
        try:
            import lz4.frame  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            return None
        return lz4.frame.LZ4FrameDecompressor()  # type: ignore[no-any-return,unused-ignore]
    return None


def inflate_budget(size: int) -> int:
    """How many decompressed bytes a compressed file of ``size`` bytes may yield."""
    return min(INFLATE_CAP, max(INFLATE_FLOOR, INFLATE_RATIO * size))


class ByteStream:
    """Exact reads over a raw or decompressed file, counting every byte."""

    def __init__(self, handle: BinaryIO, kind: str, *, size: int = 0) -> None:
        self._handle = handle
        self._kind = kind
        self._dec = _decompressor(kind) if kind != "none" else None
        self._buffer = b""
        self._offset = 0  # how much of _buffer was consumed (sliced, never deleted)
        self._eof = False
        self._pending = b""
        self._budget = inflate_budget(size)
        self.position = 0
        self.skipped = 0
        self.inflated = 0

    @property
    def supported(self) -> bool:
        return self._kind == "none" or self._dec is not None

    @property
    def walked(self) -> int:
        """Bytes read as opcodes and their arguments (not skipped as payload)."""
        return self.position - self.skipped

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
                self.inflated += len(raw)
                if self.inflated > self._budget:
                    raise TooLarge(
                        f"it decompresses to more than {self._budget:,} bytes "
                        f"({INFLATE_RATIO}x its size at most); too large to prove safe"
                    )
            parts.append(raw)
            have += len(raw)
        self._buffer, self._offset = b"".join(parts), 0

    def _inflate(self, dec: _Decompressor) -> bytes:
        """At most CHUNK more decompressed bytes: a small file that inflates to gigabytes
        (a compression bomb) is walked a chunk at a time, never held whole."""
        if hasattr(dec, "unconsumed_tail"):  # zlib / gzip
            if getattr(dec, "eof", False):
                return self._end(dec)
            if not self._pending:
                self._pending = self._handle.read(CHUNK)
                if not self._pending:
                    self._eof = True
                    return b""
            out = dec.decompress(self._pending, CHUNK)
            self._pending = dec.unconsumed_tail
            return out
        # bz2, xz/lzma, lz4: they keep unconsumed input themselves
        if getattr(dec, "eof", False):
            return self._end(dec)
        raw = b""
        if getattr(dec, "needs_input", True):
            raw = self._handle.read(CHUNK)
            if not raw:
                self._eof = True
                return b""
        return dec.decompress(raw, CHUNK)

    def _end(self, dec: _Decompressor) -> bytes:
        """The compressed stream ended: nothing may follow it in the file."""
        self._eof = True
        if getattr(dec, "unused_data", b"") or self._pending or self._handle.read(1):
            raise Truncated("bytes follow the compressed stream")
        return b""

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
        self.skipped += n
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

    def drain(self) -> int:
        """Read to the end (within the decompression budget); how many bytes there were."""
        total = 0
        while not self.at_end():
            available = len(self._buffer) - self._offset
            self._offset += available
            self.position += available
            total += available
        return total

    def at_end(self) -> bool:
        """No byte left (and, for a compressed file, nothing after its stream)."""
        self._fill(1)
        if len(self._buffer) != self._offset:
            return False
        if self._dec is not None and not getattr(self._dec, "eof", True):
            raise Truncated("the compressed stream ends early")
        return True


def open_stream(path: Path) -> tuple[BinaryIO, str]:
    """The open file and its container kind, from its first bytes.

    A ``ZF`` z-file (joblib < 0.10 with compression) is positioned at its zlib data.
    """
    handle = path.open("rb")
    head = handle.read(8)
    kind = detect(head)
    handle.seek(0)
    if kind == "zfile":
        header = handle.read(ZFILE_HEADER)
        try:
            int(header[len(ZFILE_PREFIX) :], 16)
        except ValueError:
            handle.close()
            raise Truncated("a ZF file without its length header") from None
        # joblib <= 0.8.4 on Python 2 wrote one more space; zlib data never starts with one
        if handle.read(1) != b" ":
            handle.seek(ZFILE_HEADER)
    return handle, kind
