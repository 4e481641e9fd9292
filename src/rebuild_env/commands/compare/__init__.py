"""``rebuild-env compare``: does the model predict the same after an upgrade?

- :mod:`.session`: the reference built and probed once, then any number of candidates;
- :mod:`.candidate`: the upgraded plan (the recorded pins with the named upgrades);
- :mod:`.verdict`: the two sides' outputs judged;
- :mod:`.search`: ``--newest-identical``, over the releases;
- :mod:`.report`: the call, and its outcome as text and JSON.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

from ...errors import UsageError
from .. import Display
from ..rebuild import bundle_options

if TYPE_CHECKING:
    from .report import CompareReport


def run(args: argparse.Namespace, progress: Display) -> CompareReport:
    """Build the recorded env and the candidate, probe both, judge (or search)."""
    from .candidate import Upgrade
    from .report import compare
    from .session import CompareOptions

    if args.emit:
        raise UsageError(
            "compare does not emit a Dockerfile",
            hint="run rebuild-env BUNDLE --emit dockerfile DIR for the recorded environment",
        )
    options = CompareOptions(
        upgrades=tuple(Upgrade.parse(u) for u in args.upgrade),
        python=args.python,
        newest_identical=args.newest_identical,
        # --python moves only the candidate: the reference is the recorded environment
        rebuild=replace(
            bundle_options(
                args,
                timeout=args.timeout,
                out=args.out,
                reverify=args.reverify,
                sandbox=not args.no_sandbox,
                exact=args.exact,
            ),
            python=None,
        ),
    )
    return compare(args.bundle, options, progress)
