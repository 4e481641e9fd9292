"""rebuild-env: rebuild the environment a saved model needs, and prove it works.

Public API (imported lazily so that ``rebuild-env`` starts fast)::

    read_bundle(path) -> RecordedEnv          # what the bundle records
    plan(path, Options(...)) -> (Plan, Scanned)  # what would be built, what the scan found
    rebuild(path, Options(...)) -> Report      # build + verify
    save_bundle(model, path, sample_input=X)   # the capture side
    inspect(path) -> InspectResult             # static scan of a model file or bundle
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Options", "inspect", "plan", "read_bundle", "rebuild", "save_bundle"]

if TYPE_CHECKING:
    from .bundle import read_bundle
    from .capture import save_bundle
    from .commands.inspect import inspect
    from .options import Options
    from .rebuild import plan_bundle as plan
    from .rebuild import rebuild

_LAZY = {
    "read_bundle": ("rebuild_env.bundle", "read_bundle"),
    "save_bundle": ("rebuild_env.capture", "save_bundle"),
    "inspect": ("rebuild_env.commands.inspect", "inspect"),
    "Options": ("rebuild_env.options", "Options"),
    "rebuild": ("rebuild_env.rebuild", "rebuild"),
    "plan": ("rebuild_env.rebuild", "plan_bundle"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'rebuild_env' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)
