"""``rebuild-env pack``: store every artifact the plan installs in the bundle (for
``--offline``); the work is :func:`..pack.packing.pack_bundle`."""

from __future__ import annotations

import argparse

from ..errors import ExitCode, UsageError
from . import Display, Outcome
from .rebuild import bundle_options


def run(args: argparse.Namespace, progress: Display) -> Outcome:
    """Pack the bundle for its backend; what was stored, as text and JSON."""
    from ..pack.packing import pack_bundle

    if getattr(args, "emit", None):
        raise UsageError("pack writes no Dockerfile", hint="use --emit with rebuild or plan")
    result = pack_bundle(args.bundle, bundle_options(args), progress)
    return Outcome(ExitCode.OK, result.render_text(), result.to_json())
