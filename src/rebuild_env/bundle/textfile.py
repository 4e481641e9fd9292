"""Decoding the text files people actually hand over (UTF-16 from PowerShell, BOMs, CRLF)."""

from __future__ import annotations

import codecs
from pathlib import Path

from ..errors import BundleError

MAX_TEXT_BYTES = 16 * 1024 * 1024


def read_text(path: Path) -> str:
    """Read a small text file whatever its encoding; newlines normalised to ``\\n``."""
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise BundleError(
                f"file is {size} bytes, larger than any environment file should be",
                path=path,
                hint="point rebuild-env at the bundle's real requirements file",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read file: {exc.strerror}", path=path) from exc
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif raw.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif len(raw) >= 4 and raw[1] == 0 and raw[3] == 0 and raw[0] != 0:
        encoding = "utf-16-le"  # UTF-16 written without a BOM
    else:
        encoding = "utf-8"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        try:
            text = raw.decode("latin-1")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes any byte
            raise BundleError("file is not text", path=path) from exc
    if "\x00" in text:
        raise BundleError("file is binary, not text", path=path, hint="check the file name")
    return text.replace("\r\n", "\n").replace("\r", "\n")
