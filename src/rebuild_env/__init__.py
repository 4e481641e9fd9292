"""rebuild-env: rebuild the environment a saved model needs, and prove it works."""

from __future__ import annotations

__version__ = "0.1.0"
