"""Reading bundles: detect the format, hand back a :class:`~rebuild_env.pins.RecordedEnv`."""

from __future__ import annotations

from .reader import FORMATS, read_bundle

__all__ = ["FORMATS", "read_bundle"]
