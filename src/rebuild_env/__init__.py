"""rebuild-env: rebuild the environment a saved model needs, and prove it works.

Public API (imported lazily so that ``rebuild-env`` starts fast)::

    read_bundle(path) -> RecordedEnv          # what the bundle records
    plan(path, Options(...)) -> Plan           # what would be built
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
    from .inspect import inspect
    from .rebuild import Options, rebuild
    from .rebuild import plan_bundle as plan

_LAZY = {
    "read_bundle": ("rebuild_env.bundle", "read_bundle"),
    "save_bundle": ("rebuild_env.capture", "save_bundle"),
    "inspect": ("rebuild_env.inspect", "inspect"),
    "Options": ("rebuild_env.rebuild", "Options"),
    "rebuild": ("rebuild_env.rebuild", "rebuild"),
    "plan": ("rebuild_env.rebuild", "plan_bundle"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'rebuild_env' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)
