"""Offline bundles: ``rebuild-env pack`` stores a plan's artifacts in the bundle
(:mod:`.packing`), ``--offline`` plans and installs from them alone (:mod:`.offline`).

The pack's layout and record are described in :mod:`.record`. This module dispatches to
the offline backends, so that neither of them imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from ..backends import Backend
    from ..options import Options
    from ..pins import Pin, RecordedEnv
    from ..plan import Plan

__all__ = ["offline_backend", "plan_offline"]


def plan_offline(recorded: RecordedEnv, hints: tuple[Pin, ...], options: Options) -> Plan:
    """The plan of a packed bundle, checked against its artifacts; no index is asked."""
    from .offline import checked_pack

    folder, pack = checked_pack(recorded, hints, options)
    if options.backend == "conda":
        from .offline_conda import plan_conda

        return plan_conda(recorded, folder, pack, options)
    from .offline import plan_venv

    return plan_venv(recorded, folder, pack, options)


def offline_backend(name: str) -> Backend:
    """The backend that builds ``name``'s environment from the bundle's artifacts only."""
    if name == "venv":
        from .offline import OfflineVenvBackend

        return OfflineVenvBackend()
    if name == "conda":
        from .offline_conda import OfflineCondaBackend

        return OfflineCondaBackend()
    raise UsageError(
        f"--offline: unknown backend {name!r}",
        hint="pack and rebuild with --backend venv or --backend conda",
    )
